/**
 * Turns raw RFC 5322 bytes into the fields the pipeline works with. Built on mailparser's
 * streaming parser rather than `simpleParser` so attachment bytes are counted and dropped as
 * they stream past instead of being buffered; only attached `message/rfc822` parts are kept,
 * because forward extraction needs them.
 *
 * Everything here is best effort: broken MIME, unknown charsets and bad base64 still produce
 * a result. Only input that is not mail at all (empty, or over the size limit) is refused.
 */
import { createHash } from 'node:crypto';
import { MailParser } from 'mailparser';
import type { AddressObject, AttachmentStream, HeaderLines, MessageText } from 'mailparser';
import { htmlToText } from './html-to-text.ts';
import { parseLooseDate } from './loose-date.ts';


import { AdjutantError } from '../../errors.ts';

export interface EmailAddress {
  /** Lower-cased. */
  address: string;
  /** '' when the header gave none. */
  name: string;
}

export interface ParsedEmail {
  /** With angle brackets; synthetic (derived from the raw bytes) when the header is missing. */
  messageId: string;
  messageIdSynthetic: boolean;
  from: EmailAddress | null;
  replyTo: EmailAddress[];
  to: EmailAddress[];
  cc: EmailAddress[];
  /** '' when absent. */
  subject: string;
  date: Date | null;
  /** Plain text body; derived from the HTML when there is no text part. */
  text: string;
  inReplyTo: string | null;
  references: string[];
  attachments: { filename: string | null; contentType: string; size: number }[];
  /** Raw bytes of message/rfc822 parts (forwards sent as attachments). */
  attachedMessages: Buffer[];
}

export const DEFAULT_MAX_EMAIL_BYTES = 25 * 1024 * 1024;

export async function parseEmail(raw: Buffer, options: { maxBytes?: number } = {}): Promise<ParsedEmail> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_EMAIL_BYTES;
  if (raw.length === 0 || isBlank(raw)) {
    throw new AdjutantError('MAIL_PARSE_FAILED', 'The email is empty: there is nothing to parse.');
  }
  if (raw.length > maxBytes) {
    throw new AdjutantError(
      'MAIL_PARSE_FAILED',
      `The email is ${formatBytes(raw.length)} (${raw.length} bytes), over the ${formatBytes(maxBytes)} (${maxBytes} bytes) limit; it was not parsed.`,
    );
  }

  let parsed: StreamedMail;
  try {
    parsed = await streamParse(raw);
  } catch (error) {
    throw new AdjutantError('MAIL_PARSE_FAILED', `The email could not be parsed: ${describe(error)}`, { cause: error });
  }

  const headerMessageId = firstMessageId(parsed.parser.messageId);
  const messageId = headerMessageId ?? `<${createHash('sha256').update(raw).digest('hex')}@adjutant.invalid>`;

  return {
    messageId,
    messageIdSynthetic: headerMessageId === null,
    from: toAddresses(parsed.parser.from)[0] ?? null,
    replyTo: toAddresses(parsed.parser.replyTo),
    to: toAddresses(parsed.parser.to),
    cc: toAddresses(parsed.parser.cc),
    subject: (parsed.parser.subject ?? '').trim(),
    date: headerDate(parsed.parser.headerLines),
    text: bodyText(parsed.message),
    inReplyTo: firstMessageId(parsed.parser.inReplyTo),
    references: messageIds(parsed.parser.references),
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

function streamParse(raw: Buffer): Promise<StreamedMail> {
  return new Promise((resolve, reject) => {
    const parser = new MailParser({
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
function headerDate(lines: HeaderLines | false): Date | null {
  if (!lines) return null;
  const line = lines.find((entry) => entry.key === 'date');
  if (!line) return null;
  const value = line.line.slice(line.line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ');
  return parseLooseDate(value);
}

function toAddresses(header: AddressObject | AddressObject[] | undefined): EmailAddress[] {
  if (!header) return [];
  const result: EmailAddress[] = [];
  const visit = (entry: { name: string; address?: string; group?: typeof entry[] }): void => {
    if (entry.group) {
      entry.group.forEach(visit);
      return;
    }
    const address = (entry.address ?? '').trim().toLowerCase();
    if (!address.includes('@')) return;
    result.push({ address, name: (entry.name ?? '').trim() });
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

function firstMessageId(value: string | undefined): string | null {
  return messageIds(value)[0] ?? null;
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
