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

// ---------------------------------------------------------------------------------------------
// HTML to text. A linear scan (no backtracking regexes over the whole document, since the HTML
// is attacker-controlled and can be megabytes): tags dropped, entities decoded, block elements
// turned into line breaks so forwarded header blocks keep one header per line.

const SKIPPED_ELEMENTS = new Set(['head', 'style', 'script', 'title', 'template']);
const PARAGRAPH_ELEMENTS = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'blockquote', 'ul', 'ol', 'pre']);
const LINE_ELEMENTS = new Set([
  'address', 'article', 'aside', 'body', 'center', 'dd', 'div', 'dl', 'dt', 'fieldset', 'figcaption',
  'figure', 'footer', 'form', 'header', 'hr', 'html', 'li', 'main', 'nav', 'section', 'table', 'tbody',
  'tfoot', 'thead', 'tr',
]);
const TAG_NAME = /^\/?([a-zA-Z][a-zA-Z0-9:-]*)/;

function htmlToText(html: string): string {
  const lower = html.toLowerCase();
  // Element names known to have no closing tag further on, so a flood of unterminated
  // <style> tags costs one scan instead of one per tag.
  const unterminated = new Set<string>();
  const out: string[] = [];
  let atLineStart = true;
  let hasContent = false;
  let pendingBreak: 0 | 1 | 2 = 0;
  let paragraphBreak: 1 | 2 = 2;

  const pushText = (raw: string): void => {
    const piece = decodeEntities(raw).replace(/[ \t\n\r\f]+/g, ' ');
    // Not String#trim: a lone &nbsp; is content (Outlook's empty paragraphs), a space is not.
    if (piece === '' || piece === ' ') {
      if (!atLineStart && pendingBreak === 0 && piece !== '') out.push(' ');
      return;
    }
    if (hasContent && pendingBreak === 1 && !atLineStart) out.push('\n');
    if (hasContent && pendingBreak === 2) out.push(atLineStart ? '\n' : '\n\n');
    out.push(pendingBreak > 0 || atLineStart ? piece.replace(/^ /, '') : piece);
    pendingBreak = 0;
    atLineStart = false;
    hasContent = true;
  };
  const lineBreak = (): void => {
    if (pendingBreak > 0 && !atLineStart) out.push('\n');
    out.push('\n');
    pendingBreak = 0;
    atLineStart = true;
  };
  const blockBreak = (kind: 1 | 2): void => {
    if (kind > pendingBreak) pendingBreak = kind;
  };

  let index = 0;
  while (index < html.length) {
    const open = html.indexOf('<', index);
    if (open === -1) {
      pushText(html.slice(index));
      break;
    }
    if (open > index) pushText(html.slice(index, open));
    if (html.startsWith('<!--', open)) {
      const end = html.indexOf('-->', open + 4);
      index = end === -1 ? html.length : end + 3;
      continue;
    }
    const close = html.indexOf('>', open + 1);
    if (close === -1) {
      pushText(html.slice(open));
      break;
    }
    const tag = html.slice(open + 1, close);
    index = close + 1;
    const name = TAG_NAME.exec(tag)?.[1]?.toLowerCase();
    if (name === undefined) {
      // "<!DOCTYPE", "<?xml", or a literal "<" in text such as "a < b".
      if (!tag.startsWith('!') && !tag.startsWith('?')) pushText(html.slice(open, close + 1));
      continue;
    }
    const closing = tag.startsWith('/');
    if (!closing && SKIPPED_ELEMENTS.has(name)) {
      const end = unterminated.has(name) ? -1 : lower.indexOf(`</${name}`, index);
      // Unterminated: drop just the tag rather than the rest of the document.
      if (end === -1) unterminated.add(name);
      else {
        const endClose = html.indexOf('>', end);
        index = endClose === -1 ? html.length : endClose + 1;
      }
      continue;
    }
    if (name === 'br') lineBreak();
    else if (name === 'li' && !closing) {
      blockBreak(1);
      pushText('- ');
    } else if (name === 'td' || name === 'th') {
      if (!closing) pushText(' ');
    } else if (name === 'p') {
      // Outlook writes every line as <p class=MsoNormal> with zero margins: a line, not a paragraph.
      if (!closing) paragraphBreak = /class\s*=\s*["']?MsoNormal/i.test(tag) ? 1 : 2;
      blockBreak(paragraphBreak);
    } else if (PARAGRAPH_ELEMENTS.has(name)) blockBreak(2);
    else if (LINE_ELEMENTS.has(name)) blockBreak(1);
  }

  return out
    .join('')
    .replace(/\u00a0/g, ' ')
    .split('\n')
    .map((line) => line.replace(/[ \t]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

// A Map, not an object literal: "&constructor;" must not find Object.prototype.constructor.
const NAMED_ENTITIES = new Map<string, string>(Object.entries({
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', ensp: ' ', emsp: ' ', thinsp: ' ',
  shy: '', zwnj: '', zwj: '', lrm: '', rlm: '', hellip: '…', mdash: '—', ndash: '–', lsquo: '‘',
  rsquo: '’', sbquo: '‚', ldquo: '“', rdquo: '”', bdquo: '„', laquo: '«', raquo: '»', bull: '•',
  middot: '·', copy: '©', reg: '®', trade: '™', euro: '€', pound: '£', yen: '¥', cent: '¢',
  sect: '§', para: '¶', deg: '°', plusmn: '±', times: '×', divide: '÷', frac12: '½', frac14: '¼',
  frac34: '¾', iexcl: '¡', iquest: '¿', eacute: 'é', egrave: 'è', ecirc: 'ê', euml: 'ë',
  aacute: 'á', agrave: 'à', acirc: 'â', auml: 'ä', aring: 'å', ccedil: 'ç', iacute: 'í',
  oacute: 'ó', ocirc: 'ô', ouml: 'ö', uacute: 'ú', uuml: 'ü', ntilde: 'ñ', szlig: 'ß',
  Auml: 'Ä', Ouml: 'Ö', Uuml: 'Ü', Eacute: 'É',
}));

function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});/g, (match, entity: string) => {
    if (entity.startsWith('#')) {
      const code = entity[1] === 'x' || entity[1] === 'X' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return '\ufffd';
      return String.fromCodePoint(code);
    }
    return NAMED_ENTITIES.get(entity) ?? NAMED_ENTITIES.get(entity.toLowerCase()) ?? match;
  });
}

// ---------------------------------------------------------------------------------------------
// Dates. Forwarded header blocks carry dates in each client's display format ("Mon, Jan 6, 2025
// at 9:14 AM", "Monday, January 6, 2025 9:14 AM", "January 6, 2025 at 9:14:32 AM PST"), and
// real Date headers are not always RFC 5322. Parsed by components so that a date without a time
// zone means UTC on every machine, instead of whatever zone the server happens to run in.

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const ZONE_OFFSETS_MINUTES: Record<string, number> = {
  UT: 0, UTC: 0, GMT: 0, Z: 0, WET: 0, BST: 60, CET: 60, CEST: 120, EET: 120, EEST: 180,
  EST: -300, EDT: -240, CST: -360, CDT: -300, MST: -420, MDT: -360, PST: -480, PDT: -420,
  AKST: -540, AKDT: -480, HST: -600, JST: 540, KST: 540, AEST: 600, AEDT: 660,
};

/** Parses a date written by a mail client or in a header; null when it cannot be understood. */
export function parseLooseDate(value: string): Date | null {
  if (value.length > 500) return null;
  const text = value
    .replace(/\([^()]*\)/g, ' ')
    .replace(/\s+at\s+/gi, ' ')
    .replace(/[\s\u00a0\u202f]+/g, ' ')
    .trim();
  if (text === '' || text.length > 200) return null;
  const byParts = parseDateParts(text);
  if (byParts !== undefined) return byParts;
  // Formats the component parser does not know ("06/01/2025"): the engine's own parser, kept to
  // plausible years because it accepts almost anything with a digit in it.
  const fallback = new Date(text);
  const year = fallback.getUTCFullYear();
  return Number.isNaN(fallback.getTime()) || year < 1970 || year > 2100 ? null : fallback;
}

/** undefined: not a shape this parser knows; null: a date that does not exist (February 30). */
function parseDateParts(text: string): Date | null | undefined {
  let rest = text;
  let year: number | undefined;
  let month: number | undefined;
  let day: number | undefined;

  const iso = /\b(\d{4})-(\d{1,2})-(\d{1,2})(?=[T\s]|$)T?/.exec(rest);
  if (iso) {
    year = Number(iso[1]);
    month = Number(iso[2]) - 1;
    day = Number(iso[3]);
    rest = rest.replace(iso[0], ' ');
  }

  let hours = 0;
  let minutes = 0;
  let seconds = 0;
  const time = /\b(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(?:\s*([ap])\.?\s?m\.?(?![a-z]))?/i.exec(rest);
  if (time) {
    hours = Number(time[1]);
    minutes = Number(time[2]);
    seconds = Number(time[3] ?? 0);
    const meridiem = time[4]?.toLowerCase();
    if (meridiem !== undefined) {
      if (hours < 1 || hours > 12) return null;
      if (meridiem === 'a' && hours === 12) hours = 0;
      if (meridiem === 'p' && hours !== 12) hours += 12;
    }
    rest = rest.slice(0, time.index) + ' ' + rest.slice(time.index + time[0].length);
  }

  let offset = 0;
  const numericZone = /(?:\b(?:GMT|UTC))?([+-])(\d{1,2}):?(\d{2})?\b/.exec(rest);
  const namedZone = /\b([A-Z]{1,5})\b/g;
  if (numericZone && (time !== null || iso !== null)) {
    const sign = numericZone[1] === '-' ? -1 : 1;
    offset = sign * (Number(numericZone[2]) * 60 + Number(numericZone[3] ?? 0));
    rest = rest.replace(numericZone[0], ' ');
  } else {
    for (const match of rest.matchAll(namedZone)) {
      const zone = ZONE_OFFSETS_MINUTES[match[1] ?? ''];
      if (zone !== undefined) {
        offset = zone;
        break;
      }
    }
  }

  if (year === undefined) {
    const monthName = /\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?/i.exec(rest);
    const yearMatch = /\b(\d{4})\b/.exec(rest);
    if (!monthName?.[1] || !yearMatch) return undefined;
    month = MONTHS.indexOf(monthName[1].toLowerCase());
    year = Number(yearMatch[1]);
    rest = rest.replace(monthName[0], ' ').replace(yearMatch[0], ' ');
    const dayMatch = /\b(\d{1,2})(?:st|nd|rd|th)?\b/i.exec(rest);
    if (!dayMatch) return undefined;
    day = Number(dayMatch[1]);
  }
  if (month === undefined || day === undefined) return undefined;

  if (hours > 23 || minutes > 59 || seconds > 60 || month < 0 || month > 11 || day < 1) return null;
  const utc = Date.UTC(year, month, day, hours, minutes, Math.min(seconds, 59));
  const check = new Date(utc);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month) return null;
  return new Date(utc - offset * 60_000);
}
