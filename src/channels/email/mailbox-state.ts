import type { PrismaClient } from '../../db/database.ts';

export interface MailboxPosition {
  uidValidity: bigint;
  /** Every UID up to this one has been handed over (or given up), except those in `rescanUids`. */
  lastUid: number;
  /** When the watcher last saw the whole mailbox; null when unknown (rows from before it was kept). */
  checkedAt: Date | null;
  /** The message whose hand-over was last started, and how many times it was started. */
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
  set(mailbox: string, position: MailboxPosition): Promise<void>;
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
    async set(mailbox, position) {
      const data = {
        uidValidity: position.uidValidity,
        lastUid: position.lastUid,
        checkedAt: position.checkedAt,
        attemptUid: position.attempt?.uid ?? null,
        attempts: position.attempt?.count ?? 0,
        rescanUids: position.rescanUids,
      };
      await prisma.mailboxState.upsert({ where: { mailbox }, create: { mailbox, ...data }, update: data });
    },
  };
}
