/**
 * Mail is hostile input and PostgreSQL is strict about what it stores: a `text` value cannot
 * hold U+0000, and a btree index entry (the unique Message-ID) must fit in a third of a page.
 * One message that breaks either rule would fail its insert on every retry and hold up the
 * mailbox behind it, so everything headed for the database passes through here first.
 */
import { createHash } from 'node:crypto';

/** Message-IDs longer than this (UTF-8 bytes) are not stored as they are: far under PostgreSQL's ~2700-byte index-entry limit, far over any real one. */
export const MAX_MESSAGE_ID_BYTES = 900;
/** A References header keeps its newest entries; threading needs the last ones, not a thousand. */
export const MAX_REFERENCES = 100;
/** Recipient lists are kept to their first entries: enough to show, bounded for storage. */
export const MAX_ADDRESSES = 100;

const SYNTHETIC_DOMAIN = 'adjutant.invalid';

/** U+0000 removed: PostgreSQL text rejects it, and it carries no meaning in mail. */
export function withoutNul(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '') : text;
}

export function withoutNulOrNull(text: string | null | undefined): string | null {
  return text === null || text === undefined ? null : withoutNul(text);
}

/**
 * The id as it can be stored and sent in In-Reply-To/References, or null when it cannot:
 * over MAX_MESSAGE_ID_BYTES, or containing control characters (NUL, CR, LF…), which no real
 * Message-ID has and which would corrupt a header we write.
 */
export function usableMessageId(id: string): string | null {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(id)) return null;
  if (Buffer.byteLength(id, 'utf8') > MAX_MESSAGE_ID_BYTES) return null;
  return id;
}

/**
 * A stable id standing in for a missing or unusable Message-ID: the same input always gives the
 * same id, so a message fetched twice is still stored once. The `adjutant.invalid` domain marks
 * it as ours: it is never sent as In-Reply-To.
 */
export function derivedMessageId(seed: string | Buffer): string {
  return `<${createHash('sha256').update(seed).digest('hex')}@${SYNTHETIC_DOMAIN}>`;
}

export function isDerivedMessageId(id: string): boolean {
  return id.endsWith(`@${SYNTHETIC_DOMAIN}>`);
}

/** Usable ids only, newest MAX_REFERENCES kept (References lists oldest first). */
export function boundedReferences(ids: readonly string[]): string[] {
  const usable = ids.map((id) => usableMessageId(id)).filter((id): id is string => id !== null);
  return usable.slice(-MAX_REFERENCES);
}
