/**
 * Turns raw RFC 5322 bytes into the fields the pipeline works with. Built on mailparser's
 * streaming parser rather than `simpleParser` so attachment bytes are counted and dropped as
 * they stream past instead of being buffered; only attached `message/rfc822` parts are kept,
 * because forward extraction needs them.
 *
 * Everything here is best effort: broken MIME, unknown charsets and bad base64 still produce
 * a result. Only input that is not mail at all (empty, or over the size limit) is refused.
 *
 * Every string this returns can be stored as it is (safe-text.ts): no NUL characters, and
 * Message-IDs bounded in length, because one unstorable message would otherwise be fetched
 * and refused again and again.
 *
 * mailparser (with iconv-lite's charset tables) is loaded on the first parse, not at start-up:
 * a service without a mailbox never parses mail and need not hold it in memory.
 */
import type * as Mailparser from 'mailparser';
import type { AddressObject, AttachmentStream, HeaderLines, MailParser, MessageText } from 'mailparser';
import { AdjutantError } from '../../errors.ts';
import { htmlToText } from './html-to-text.ts';
import { parseLooseDate } from './loose-date.ts';
import { boundedReferences, derivedMessageId, MAX_ADDRESSES, usableMessageId, withoutNul } from './safe-text.ts';

export interface EmailAddress {
  /** Lower-cased. */
  address: string;
  /** '' when the header gave none. */
  name: string;
}

export interface ParsedEmail {
  /**
   * With angle brackets. Synthetic (`<sha256@adjutant.invalid>`) when the header is missing
   * (derived from the raw bytes) or unusable: over 900 bytes or with control characters
   * (derived from the header's value, so the same message still gets the same id).
   */
  messageId: string;
  /** True when messageId is not the header's own value: it threads with nothing. */
  messageIdSynthetic: boolean;
  from: EmailAddress | null;
  /**
   * Several From headers, or several addresses in From. Which of them the receiving server
   * authenticated is unknown, so such a sender is never verified.
   */
  fromAmbiguous: boolean;
  replyTo: EmailAddress[];
  to: EmailAddress[];
  cc: EmailAddress[];
  /** '' when absent. */
  subject: string;
  date: Date | null;
  /** Plain text body; derived from the HTML when there is no text part. */
  text: string;
  /** Usable ids only (see messageId). */
  inReplyTo: string | null;
  /** Usable ids only, the newest 100. */
  references: string[];
  /**
   * The values of the Authentication-Results headers (RFC 8601), unfolded, in header order:
   * the first is the topmost, added by the last server the message passed through.
   */
  authenticationResults: string[];
  /** X-Forwarded-Message-Id (Thunderbird): the Message-ID of a message forwarded inline. */
  forwardedMessageId: string | null;
  attachments: { filename: string | null; contentType: string; size: number }[];
  /** Raw bytes of message/rfc822 parts (forwards sent as attachments). */
  attachedMessages: Buffer[];
}

export const DEFAULT_MAX_EMAIL_BYTES = 25 * 1024 * 1024;

export async function parseEmail(raw: Buffer, options: { maxBytes?: number } = {}): Promise<ParsedEmail> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_EMAIL_BYTES;
  const early = startedEarly.get(raw);
  if (early) {
    // Taken once: a later parse of the same buffer (there is none on the ingest path) starts afresh.
    startedEarly.delete(raw);
    if (early.maxBytes === maxBytes) return early.parsed;
  }
  return parse(raw, maxBytes);
}

/**
 * Parses started by `parseAhead`, keyed by the very buffer they were started for. A WeakMap:
 * a read-ahead that nobody takes (the hand-over before it failed, the watcher stopped) is
 * dropped together with its source instead of piling up.
 */
const startedEarly = new WeakMap<Buffer, { maxBytes: number; parsed: Promise<ParsedEmail> }>();

/**
 * Start parsing `raw` now, for a `parseEmail(raw)` that is coming: the mailbox watcher calls
 * this for the next message while the current one is being stored, so that parsing (CPU here)
 * overlaps storing (mostly waiting on PostgreSQL). The later `parseEmail` with the same buffer
 * and options returns this parse's result, or its error, instead of parsing again. The buffer
 * must not change in between (the watcher hands over the bytes it fetched, untouched).
 *
 * The work starts on the next turn of the event loop, so whatever the caller set going just
 * before (the current message's database write) gets on the wire first.
 */
export function parseAhead(raw: Buffer, options: { maxBytes?: number } = {}): void {
  if (startedEarly.has(raw)) return;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_EMAIL_BYTES;
  const parsed = new Promise<void>((resolve) => setImmediate(resolve)).then(() => parse(raw, maxBytes));
  // A failure belongs to whoever takes the result; unclaimed it must not end the process.
  parsed.catch(() => undefined);
  startedEarly.set(raw, { maxBytes, parsed });
}

async function parse(raw: Buffer, maxBytes: number): Promise<ParsedEmail> {
  if (raw.length === 0 || isBlank(raw)) {
    throw new AdjutantError('MAIL_PARSE_FAILED', 'The email is empty: there is nothing to parse.');
  }
  if (raw.length > maxBytes) {
    throw new AdjutantError(
      'MAIL_PARSE_FAILED',
      `The email is ${formatBytes(raw.length)} (${raw.length} bytes), over the ${formatBytes(maxBytes)} (${maxBytes} bytes) limit; it was not parsed.`,
    );
  }

  // Outside the try below: a module that cannot be loaded is this installation's fault, not the
  // message's, and must not get the message recorded as unusable and skipped.
  const { MailParser } = await loadMailparser();
  let parsed: StreamedMail;
  try {
    parsed = await streamParse(raw, MailParser);
  } catch (error) {
    throw new AdjutantError('MAIL_PARSE_FAILED', `The email could not be parsed: ${describe(error)}`, { cause: error });
  }

  const headerLines = parsed.parser.headerLines || [];
  const headerMessageId = messageIds(parsed.parser.messageId)[0] ?? null;
  const usableHeaderId = headerMessageId === null ? null : usableMessageId(headerMessageId);
  const messageId = usableHeaderId ?? (headerMessageId === null ? derivedMessageId(raw) : derivedMessageId(`message-id:${headerMessageId}`));
  const from = toAddresses(parsed.parser.from);

  return {
    messageId,
    messageIdSynthetic: usableHeaderId === null,
    from: from[0] ?? null,
    fromAmbiguous: from.length > 1 || headerLines.filter((line) => line.key === 'from').length > 1,
    replyTo: toAddresses(parsed.parser.replyTo).slice(0, MAX_ADDRESSES),
    to: toAddresses(parsed.parser.to).slice(0, MAX_ADDRESSES),
    cc: toAddresses(parsed.parser.cc).slice(0, MAX_ADDRESSES),
    subject: withoutNul(parsed.parser.subject ?? '').trim(),
    date: headerDate(headerLines),
    text: withoutNul(bodyText(parsed.message)),
    inReplyTo: firstUsableMessageId(parsed.parser.inReplyTo),
    references: boundedReferences(messageIds(parsed.parser.references)),
    authenticationResults: headerValues(headerLines, 'authentication-results'),
    forwardedMessageId: firstUsableMessageId(headerValues(headerLines, 'x-forwarded-message-id')[0]),
    attachments: parsed.attachments,
    attachedMessages: parsed.attachedMessages,
  };
}

interface StreamedMail {
  parser: MailParser;
  message: MessageText | null;
  attachments: ParsedEmail['attachments'];
  attachedMessages: Buffer[];
}

let mailparser: Promise<typeof Mailparser> | null = null;

function loadMailparser(): Promise<typeof Mailparser> {
  // A failed load is not kept: the next parse tries again rather than failing for good.
  mailparser ??= import('mailparser').catch((error: unknown) => {
    mailparser = null;
    throw error;
  });
  return mailparser;
}

function streamParse(raw: Buffer, Parser: typeof MailParser): Promise<StreamedMail> {
  return new Promise((resolve, reject) => {
    const parser = new Parser({
      // Keep every message/rfc822 part as an attachment so its raw bytes survive; by default
      // an inline one would be flattened into the outer text and its headers lost.
      ignoreEmbedded: true,
      // mailparser's converter wraps at 80 columns and appends link targets, which mangles
      // forwarded header lines; htmlToText below keeps lines intact.
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipTextLinks: true,
      checksumAlgo: false,
    });
    const result: StreamedMail = { parser, message: null, attachments: [], attachedMessages: [] };
    let settled = false;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      parser.destroy();
      reject(error instanceof Error ? error : new Error(String(error)));
    };

    const onAttachment = (attachment: AttachmentStream): void => {
      const keep = attachment.contentType.toLowerCase() === 'message/rfc822';
      const chunks: Buffer[] = [];
      let size = 0;
      attachment.content.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (keep) chunks.push(chunk);
      });
      attachment.content.once('error', fail);
      attachment.content.once('end', () => {
        result.attachments.push({ filename: attachment.filename ?? null, contentType: attachment.contentType, size });
        if (keep) result.attachedMessages.push(Buffer.concat(chunks, size));
        attachment.release?.();
      });
    };

    parser.on('data', (data: AttachmentStream | MessageText) => {
      if (data.type === 'attachment') onAttachment(data);
      else result.message = data;
    });
    parser.once('error', fail);
    parser.once('end', () => {
      if (settled) return;
      settled = true;
      resolve(result);
    });
    parser.end(raw);
  });
}

function bodyText(message: MessageText | null): string {
  const text = normalizeNewlines(message?.text ?? '');
  if (text.trim() !== '') return text.trim();
  if (message?.html) return htmlToText(message.html);
  return '';
}

/**
 * mailparser turns an unparseable Date header into "now", which would make a junk date look
 * real; read the raw header line instead and return null when it cannot be understood.
 */
function headerDate(lines: HeaderLines): Date | null {
  const value = headerValues(lines, 'date')[0];
  return value === undefined ? null : parseLooseDate(value);
}

/**
 * Raw values of every header named `key`, unfolded, in the order they appear. mailparser's
 * headerLines keep order and duplicates, which its parsed `headers` map does not.
 */
function headerValues(lines: HeaderLines, key: string): string[] {
  return lines
    .filter((entry) => entry.key === key)
    .map((entry) => withoutNul(entry.line.slice(entry.line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ')).trim());
}

function toAddresses(header: AddressObject | AddressObject[] | undefined): EmailAddress[] {
  if (!header) return [];
  const result: EmailAddress[] = [];
  const visit = (entry: { name: string; address?: string; group?: typeof entry[] }): void => {
    if (entry.group) {
      entry.group.forEach(visit);
      return;
    }
    const address = withoutNul(entry.address ?? '').trim().toLowerCase();
    if (!address.includes('@')) return;
    result.push({ address, name: withoutNul(entry.name ?? '').trim() });
  };
  for (const object of Array.isArray(header) ? header : [header]) object.value.forEach(visit);
  return result;
}

const MESSAGE_ID = /<[^<>\s]+>/g;

function messageIds(value: string | string[] | undefined): string[] {
  if (!value) return [];
  const joined = Array.isArray(value) ? value.join(' ') : value;
  // mailparser splits on whitespace only, so "<a@x><b@x>" arrives as one entry.
  return [...new Set(joined.match(MESSAGE_ID) ?? [])].filter((id) => id !== '<>');
}

/** The first id when it is usable; an unusable one is dropped rather than replaced: it threads with nothing. */
function firstUsableMessageId(value: string | undefined): string | null {
  const id = messageIds(value)[0];
  return id === undefined ? null : usableMessageId(id);
}

function normalizeNewlines(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

function isBlank(raw: Buffer): boolean {
  for (const byte of raw) {
    if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return false;
  }
  return true;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1).replace(/\.0$/, '')} KiB`;
  return `${bytes} bytes`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
