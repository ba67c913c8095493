import type { PrismaClient } from '../../db/database.ts';
import { relaxedCommit } from '../../db/relaxed-commit.ts';

export interface MailboxPosition {
  uidValidity: bigint;
  /**
   * Every UID up to this one has been handed over (or given up), except those in `rescanUids`.
   * Saved together with the next message's attempt, so the saved value may be one message
   * behind: after a crash that message is handed over again, and stored once by Message-ID.
   * It is never ahead of a message whose hand-over has not finished.
   */
  lastUid: number;
  /** When the watcher last saw the whole mailbox; null when unknown (rows from before it was kept). */
  checkedAt: Date | null;
  /**
   * The message whose hand-over was last started, and how many times it was started. Reading
   * the next message ahead (fetch and parse, during a first attempt) happens under this record:
   * a crash there counts against this message once, and it is then handed over on its own.
   */
  attempt: { uid: number; count: number } | null;
  /** UIDs at or below lastUid still to hand over (recent mail found again after a UID reset). */
  rescanUids: number[];
}

export interface SavedMailboxPosition extends MailboxPosition {
  /** When the row last changed. */
  updatedAt: Date;
}

/** Where the watcher left off, per mailbox, so a restart neither skips nor repeats mail. */
export interface MailboxStateStore {
  get(mailbox: string): Promise<SavedMailboxPosition | null>;
  /**
   * `relaxed`: the commit need not wait for the disk (relaxed-commit.ts); for the writes as mail
   * is handed over, each of which only moves on from a state saved before it.
   */
  set(mailbox: string, position: MailboxPosition, options?: { relaxed?: boolean }): Promise<void>;
}

export function createMailboxStateStore(prisma: PrismaClient): MailboxStateStore {
  return {
    async get(mailbox) {
      const row = await prisma.mailboxState.findUnique({ where: { mailbox } });
      if (!row) return null;
      return {
        uidValidity: row.uidValidity,
        lastUid: row.lastUid,
        checkedAt: row.checkedAt,
        attempt: row.attemptUid === null ? null : { uid: row.attemptUid, count: row.attempts },
        rescanUids: row.rescanUids,
        updatedAt: row.updatedAt,
      };
    },
    // Written before every message the watcher hands over: one statement, one round trip. The
    // model's upsert costs about 1 ms of this process's CPU per call (measured), and more waiting.
    async set(mailbox, position, options = {}) {
      const attemptUid = position.attempt?.uid ?? null;
      const attempts = position.attempt?.count ?? 0;
      await prisma.$executeRawUnsafe(
        `INSERT INTO mailbox_states (mailbox, uid_validity, last_uid, checked_at, attempt_uid, attempts, rescan_uids, updated_at)
         SELECT $1, $2, $3, $4, $5, $6, $7::int[], now() FROM (SELECT ${relaxedCommit('$8::boolean')}) AS commit_mode
         ON CONFLICT (mailbox) DO UPDATE SET
           uid_validity = EXCLUDED.uid_validity, last_uid = EXCLUDED.last_uid, checked_at = EXCLUDED.checked_at,
           attempt_uid = EXCLUDED.attempt_uid, attempts = EXCLUDED.attempts, rescan_uids = EXCLUDED.rescan_uids, updated_at = EXCLUDED.updated_at`,
        mailbox,
        position.uidValidity,
        position.lastUid,
        position.checkedAt,
        attemptUid,
        attempts,
        position.rescanUids,
        options.relaxed === true,
      );
    },
  };
}
