import type { PrismaClient } from '../db/database.ts';

export interface MailboxPosition {
  uidValidity: bigint;
  lastUid: number;
}

export interface SavedMailboxPosition extends MailboxPosition {
  /** When the watcher last advanced: after a UID reset, mail older than this was already seen or skipped. */
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
      return row ? { uidValidity: row.uidValidity, lastUid: row.lastUid, updatedAt: row.updatedAt } : null;
    },
    async set(mailbox, position) {
      await prisma.mailboxState.upsert({
        where: { mailbox },
        create: { mailbox, uidValidity: position.uidValidity, lastUid: position.lastUid },
        update: { uidValidity: position.uidValidity, lastUid: position.lastUid },
      });
    },
  };
}
