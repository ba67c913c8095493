import type { PrismaClient } from '../../db/database.ts';

/** What the watcher knows about a message it could not hand over. */
export interface UnhandledMessage {
  mailbox: string;
  uidValidity: bigint;
  uid: number;
  subject: string | null;
  from: string | null;
  messageId: string | null;
  /** Size in bytes as the server reports it. */
  size: number | null;
}

export type KeptStatus = 'given_up' | 'oversized';

export interface KeptMessage extends UnhandledMessage {
  status: KeptStatus;
  attempts: number;
  error: string;
  /** The raw source, or its first bytes when `rawTruncated`; null when it could not be read. */
  raw: Buffer | null;
  rawTruncated: boolean;
}

/**
 * Messages the watcher gave up on or never fetched, kept so nobody has to dig them out of the
 * mailbox to see what went wrong, and so each is announced once even across restarts.
 */
export interface MailboxFailureStore {
  /** A failed attempt that will be retried. */
  recordAttempt(message: UnhandledMessage, attempts: number, error: string): Promise<void>;
  /** The watcher moves on without this message: keep it with the reason. */
  keep(message: KeptMessage): Promise<{ id: string; announced: boolean }>;
  markAnnounced(id: string): Promise<void>;
  /** The error of the last recorded attempt, if any. */
  lastError(mailbox: string, uidValidity: bigint, uid: number): Promise<string | null>;
  /** A later attempt succeeded. */
  resolve(mailbox: string, uidValidity: bigint, uid: number): Promise<void>;
}

/** Longest stored error, subject, sender or Message-ID: these come from strangers' mail. */
const MAX_TEXT = 2000;

/** PostgreSQL text rejects NUL, and unbounded header values are someone else's denial of service. */
export function storableText(value: string | null | undefined, max = MAX_TEXT): string | null {
  if (value === null || value === undefined) return null;
  const clean = value.replaceAll('\u0000', '');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

export function createMailboxFailureStore(prisma: PrismaClient): MailboxFailureStore {
  const key = (mailbox: string, uidValidity: bigint, uid: number) => ({ mailbox_uidValidity_uid: { mailbox, uidValidity, uid } });
  const details = (message: UnhandledMessage) => ({
    subject: storableText(message.subject),
    fromAddress: storableText(message.from),
    messageId: storableText(message.messageId),
    size: message.size === null ? null : Math.min(message.size, 2 ** 31 - 1),
  });
  return {
    async recordAttempt(message, attempts, error) {
      const data = { ...details(message), status: 'retrying', attempts, lastError: storableText(error), lastSeenAt: new Date() };
      await prisma.mailboxFailure.upsert({
        where: key(message.mailbox, message.uidValidity, message.uid),
        create: { mailbox: message.mailbox, uidValidity: message.uidValidity, uid: message.uid, ...data },
        update: data,
      });
    },
    async keep(message) {
      const data = {
        ...details(message),
        status: message.status,
        attempts: message.attempts,
        lastError: storableText(message.error),
        raw: message.raw ? new Uint8Array(message.raw) : null,
        rawTruncated: message.rawTruncated,
        lastSeenAt: new Date(),
      };
      const row = await prisma.mailboxFailure.upsert({
        where: key(message.mailbox, message.uidValidity, message.uid),
        create: { mailbox: message.mailbox, uidValidity: message.uidValidity, uid: message.uid, ...data },
        update: data,
        select: { id: true, announcedAt: true },
      });
      return { id: row.id, announced: row.announcedAt !== null };
    },
    async markAnnounced(id) {
      await prisma.mailboxFailure.update({ where: { id }, data: { announcedAt: new Date() } });
    },
    async lastError(mailbox, uidValidity, uid) {
      const row = await prisma.mailboxFailure.findUnique({ where: key(mailbox, uidValidity, uid), select: { lastError: true } });
      return row?.lastError ?? null;
    },
    async resolve(mailbox, uidValidity, uid) {
      await prisma.mailboxFailure.updateMany({ where: { mailbox, uidValidity, uid, status: 'retrying' }, data: { status: 'resolved', lastSeenAt: new Date() } });
    },
  };
}

/**
 * Without a database table (a caller that did not pass one): attempts are still capped, since
 * they are counted in the mailbox state, but nothing is kept after the process ends.
 */
export function createInMemoryFailureStore(): MailboxFailureStore {
  const rows = new Map<string, { id: string; status: string; error: string | null; announced: boolean }>();
  const keyOf = (mailbox: string, uidValidity: bigint, uid: number) => `${mailbox}\u0001${uidValidity}\u0001${uid}`;
  return {
    async recordAttempt(message, _attempts, error) {
      const key = keyOf(message.mailbox, message.uidValidity, message.uid);
      rows.set(key, { id: key, status: 'retrying', error, announced: rows.get(key)?.announced ?? false });
    },
    async keep(message) {
      const key = keyOf(message.mailbox, message.uidValidity, message.uid);
      const announced = rows.get(key)?.announced ?? false;
      rows.set(key, { id: key, status: message.status, error: message.error, announced });
      return { id: key, announced };
    },
    async markAnnounced(id) {
      const row = rows.get(id);
      if (row) row.announced = true;
    },
    async lastError(mailbox, uidValidity, uid) {
      return rows.get(keyOf(mailbox, uidValidity, uid))?.error ?? null;
    },
    async resolve(mailbox, uidValidity, uid) {
      const row = rows.get(keyOf(mailbox, uidValidity, uid));
      if (row?.status === 'retrying') row.status = 'resolved';
    },
  };
}
