/**
 * Cheap triage signals read from a message's header block alone: mailing-list and bulk-sender
 * headers, auto-reply markers, bounces, spam-filter verdicts. Most mail a shared mailbox gets is
 * one of these, and they say so in their headers; reading them costs microseconds where asking a
 * model costs a call.
 *
 * Only the header block is read (up to the first empty line), never the body: a body line such
 * as "List-Unsubscribe: x" is text, not a header. The block is read by hand rather than with
 * mailparser because nothing here needs decoding, and this must stay cheap and total: it never
 * throws, whatever the bytes, and garbage simply yields no signals.
 */
import { withoutNul } from './safe-text.ts';

export type Precedence = 'bulk' | 'list' | 'junk' | 'auto_reply';

export interface MailSignals {
  /** A List-Unsubscribe header is present (RFC 2369): list or bulk mail, or a sender who wants to look like it. */
  listUnsubscribe: boolean;
  /** The List-Id header (RFC 2919), trimmed, at most 200 characters; null when absent or empty. */
  listId: string | null;
  /**
   * The Precedence header, lower-cased, when it is one of the values senders use; null when
   * absent or anything else. "auto-reply" is read as auto_reply.
   */
  precedence: Precedence | null;
  /**
   * The Auto-Submitted keyword (RFC 3834), lower-cased and without parameters ("auto-replied",
   * "auto-generated", "auto-notified" or an extension); null when absent, empty or "no".
   */
  autoSubmitted: string | null;
  /**
   * An auto-responder's marker: X-Autoreply (not "no"), X-Autorespond, X-Auto-Response-Suppress
   * listing OOF, AutoReply or All, or Auto-Submitted: auto-replied.
   */
  autoReply: boolean;
  /**
   * A delivery failure notice: top-level Content-Type multipart/report with
   * report-type=delivery-status (RFC 3464), or From MAILER-DAEMON / postmaster, or a null
   * Return-Path (`<>`) with a subject such as "Undelivered Mail Returned to Sender".
   */
  bounce: boolean;
  /** The receiving server's spam filter said spam: X-Spam-Flag: YES, or X-Spam-Status starting with Yes. */
  spamFlag: boolean;
  /**
   * Headers only bulk-sending platforms add: Feedback-ID, X-Mailchimp-*, X-SES-Outgoing,
   * X-Campaign*, List-Unsubscribe-Post (RFC 8058 one-click unsubscribe).
   */
  bulkSender: boolean;
  /**
   * The From address's local part says nobody reads replies: noreply, no-reply, donotreply,
   * do-not-reply, notifications, mailer (optionally followed by "-…", "_…", ".…" or "+…").
   */
  noReplySender: boolean;
}

/**
 * Real header blocks are a few KB (long Received chains and DKIM signatures included); 256 KB
 * bounds the work on a hostile or broken message that never ends its headers.
 */
export const MAX_HEADER_BLOCK_BYTES = 256 * 1024;
const MAX_LIST_ID_CHARS = 200;

const NO_SIGNALS: MailSignals = {
  listUnsubscribe: false,
  listId: null,
  precedence: null,
  autoSubmitted: null,
  autoReply: false,
  bounce: false,
  spamFlag: false,
  bulkSender: false,
  noReplySender: false,
};

export function readMailSignals(raw: Buffer): MailSignals {
  try {
    return signalsOf(readHeaders(raw));
  } catch {
    // Nothing above is expected to throw; if something does, a message without signals goes
    // to the model, which is the safe side.
    return { ...NO_SIGNALS };
  }
}

/** Header values by lower-cased name, unfolded, in the order they appear. */
type Headers = Map<string, string[]>;

function signalsOf(headers: Headers): MailSignals {
  const first = (name: string): string | null => headers.get(name)?.[0] ?? null;
  const names = [...headers.keys()];

  const autoSubmitted = autoSubmittedKeyword(first('auto-submitted'));
  const from = first('from');
  const fromLocalpart = from === null ? null : localpartOf(from);

  return {
    listUnsubscribe: headers.has('list-unsubscribe'),
    listId: listIdOf(first('list-id')),
    precedence: precedenceOf(first('precedence')),
    autoSubmitted,
    autoReply:
      autoSubmitted === 'auto-replied' ||
      isYes(first('x-autoreply')) ||
      headers.has('x-autorespond') ||
      (headers.get('x-auto-response-suppress') ?? []).some(suppressesAutoReplies),
    bounce:
      isDeliveryReport(first('content-type')) ||
      (fromLocalpart !== null && BOUNCE_LOCALPARTS.has(fromLocalpart)) ||
      (isNullReturnPath(first('return-path')) && FAILURE_SUBJECT.test(first('subject') ?? '')),
    spamFlag: /^\s*yes\s*$/i.test(first('x-spam-flag') ?? '') || /^\s*yes\b/i.test(first('x-spam-status') ?? ''),
    bulkSender: names.some(
      (name) =>
        name === 'feedback-id' ||
        name === 'x-ses-outgoing' ||
        name === 'list-unsubscribe-post' ||
        name.startsWith('x-mailchimp-') ||
        name.startsWith('x-campaign'),
    ),
    noReplySender: fromLocalpart !== null && NO_REPLY_LOCALPART.test(fromLocalpart),
  };
}

/**
 * The header block as text, split into named fields. Ends at the first empty line (CRLF or LF),
 * or at MAX_HEADER_BLOCK_BYTES, where a partial last line is dropped. Decoded as UTF-8, which
 * never throws: invalid bytes become U+FFFD and the names and values read here are ASCII anyway.
 */
function readHeaders(raw: Buffer): Headers {
  const window = raw.subarray(0, MAX_HEADER_BLOCK_BYTES + 2);
  let block: Buffer;
  if (startsWithEmptyLine(raw)) {
    block = raw.subarray(0, 0);
  } else {
    const end = firstIndex(window.indexOf('\n\n'), window.indexOf('\n\r\n'));
    if (end !== -1 && end < MAX_HEADER_BLOCK_BYTES) block = raw.subarray(0, end);
    else if (raw.length <= MAX_HEADER_BLOCK_BYTES) block = raw;
    else {
      const capped = raw.subarray(0, MAX_HEADER_BLOCK_BYTES);
      const lastNewline = capped.lastIndexOf('\n');
      block = lastNewline === -1 ? capped.subarray(0, 0) : capped.subarray(0, lastNewline);
    }
  }

  const headers: Headers = new Map();
  let current: { name: string; value: string } | null = null;
  const flush = (): void => {
    if (current === null) return;
    const values = headers.get(current.name);
    if (values) values.push(current.value.trim());
    else headers.set(current.name, [current.value.trim()]);
    current = null;
  };

  for (const line of withoutNul(block.toString('utf8')).split(/\r?\n/)) {
    if (line.startsWith(' ') || line.startsWith('\t')) {
      // Unfolding (RFC 5322 §2.2.3): a continuation joins its field, its leading space kept.
      // One that follows no field (or a garbage line) belongs to nothing and is dropped.
      if (current !== null) current.value += line;
      continue;
    }
    flush();
    const match = FIELD.exec(line);
    if (match) current = { name: (match[1] ?? '').toLowerCase(), value: match[2] ?? '' };
  }
  flush();
  return headers;
}

/** A field name is printable ASCII without colon (RFC 5322 §3.6.8); space before the colon is obsolete syntax but seen. */
const FIELD = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:([\s\S]*)$/;

function startsWithEmptyLine(raw: Buffer): boolean {
  return raw[0] === 0x0a || (raw[0] === 0x0d && raw[1] === 0x0a);
}

function firstIndex(a: number, b: number): number {
  if (a === -1) return b;
  if (b === -1) return a;
  return Math.min(a, b);
}

function listIdOf(value: string | null): string | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (trimmed === '') return null;
  return Array.from(trimmed).slice(0, MAX_LIST_ID_CHARS).join('');
}

function precedenceOf(value: string | null): Precedence | null {
  const keyword = value?.trim().toLowerCase().match(/^[a-z_-]+/)?.[0];
  switch (keyword) {
    case 'bulk':
    case 'list':
    case 'junk':
      return keyword;
    case 'auto_reply':
    case 'auto-reply':
      return 'auto_reply';
    default:
      return null;
  }
}

/** "auto-replied; owner-email=x@y" → "auto-replied"; comments and parameters are dropped. */
function autoSubmittedKeyword(value: string | null): string | null {
  if (value === null) return null;
  const keyword = value
    .replace(/\([^()]*\)/g, ' ')
    .split(';')[0]
    ?.trim()
    .toLowerCase()
    .slice(0, 64);
  if (!keyword || keyword === 'no') return null;
  return keyword;
}

function isYes(value: string | null): boolean {
  if (value === null) return false;
  return !/^\s*(no|false|0)\s*$/i.test(value);
}

/** X-Auto-Response-Suppress (Microsoft) is a comma-separated list: "DR, RN, NRN, OOF, AutoReply" or "All". */
function suppressesAutoReplies(value: string): boolean {
  return value
    .split(/[\s,;]+/)
    .map((token) => token.toLowerCase())
    .some((token) => token === 'oof' || token === 'autoreply' || token === 'all');
}

function isDeliveryReport(contentType: string | null): boolean {
  if (contentType === null) return false;
  const lower = contentType.toLowerCase();
  return /^\s*multipart\/report\s*(;|$)/.test(lower) && /;\s*report-type\s*=\s*"?delivery-status"?\s*(;|$)/.test(lower);
}

function isNullReturnPath(value: string | null): boolean {
  return value !== null && /^<\s*>$/.test(value.trim());
}

const BOUNCE_LOCALPARTS = new Set(['mailer-daemon', 'postmaster']);

/**
 * Subjects of failure notices from the common MTAs: Postfix ("Undelivered Mail Returned to
 * Sender"), Gmail ("Delivery Status Notification (Failure)"), Exim ("Mail delivery failed"),
 * Exchange ("Undeliverable: …"), qmail ("failure notice"), Sendmail ("Returned mail: …").
 * Only trusted together with a null Return-Path, which only notices carry.
 */
const FAILURE_SUBJECT =
  /\b(?:undeliver(?:ed|able)|delivery status notification \(failure\)|(?:mail )?delivery (?:has )?fail(?:ed|ure)|failure notice|returned mail|non-?delivery)/i;

const NO_REPLY_LOCALPART = /^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|notifications?|mailer)(?:[-_.+].*)?$/;

/**
 * The local part, lower-cased, of the From address: the one in angle brackets, else the first
 * bare address. Nothing is decoded; a display name never counts.
 */
function localpartOf(from: string): string | null {
  const address = /<\s*([^<>\s]+@[^<>\s]+?)\s*>/.exec(from)?.[1] ?? /(?:^|[\s,;:])([^\s<>"(),;:@]+@[^\s<>"(),;:@]+)/.exec(from)?.[1];
  if (address === undefined) return null;
  const localpart = address.slice(0, address.lastIndexOf('@')).replace(/^"|"$/g, '').toLowerCase();
  return localpart === '' ? null : localpart;
}
