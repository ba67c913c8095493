/**
 * Recovers the original message from an email a teammate forwarded to the shared mailbox, and
 * the teammate's note on top, which is the instruction. Only teammates' forwards carry
 * instructions: anything from outside TEAM_DOMAINS is treated as plain mail by the caller.
 *
 * Attached message/rfc822 parts are exact (real headers, real Message-ID); inline forwards are
 * recovered from the separator and header block each mail client writes.
 */
import { parseLooseDate } from './loose-date.ts';
import { parseEmail } from './parse-email.ts';
import type { EmailAddress, ParsedEmail } from './parse-email.ts';

export interface ForwardedEmail {
  /** The teammate who forwarded. */
  forwardedBy: EmailAddress;
  /** The teammate's text above the forwarded block, trimmed ('' when none): the instruction. */
  note: string;
  original: {
    from: EmailAddress | null;
    subject: string;
    date: Date | null;
    messageId: string | null;
    body: string;
    inReplyTo: string | null;
    references: string[];
    to: EmailAddress[];
    cc: EmailAddress[];
  };
  format: 'attached-rfc822' | 'gmail' | 'outlook' | 'apple-mail' | 'thunderbird' | 'yahoo' | 'generic';
}

type InlineFormat = Exclude<ForwardedEmail['format'], 'attached-rfc822'>;

/** Case-insensitive exact domain match: sub.team.example is not team.example unless listed. */
export function isTeamAddress(address: string, teamDomains: readonly string[]): boolean {
  const at = address.lastIndexOf('@');
  if (at <= 0) return false;
  const domain = normalizeDomain(address.slice(at + 1));
  if (domain === '') return false;
  return teamDomains.some((teamDomain) => normalizeDomain(teamDomain) === domain);
}

function normalizeDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/^@/, '').replace(/\.$/, '');
}

export async function extractForward(email: ParsedEmail, teamDomains: readonly string[]): Promise<ForwardedEmail | null> {
  try {
    if (!email.from || !isTeamAddress(email.from.address, teamDomains)) return null;
    const forwardedBy = email.from;
    return (await fromAttachedMessage(email, forwardedBy)) ?? fromInlineForward(email, forwardedBy);
  } catch {
    // Content is untrusted and formats are endless; failing to recognise a forward is not an
    // error, the message is then handled as direct mail.
    return null;
  }
}

async function fromAttachedMessage(email: ParsedEmail, forwardedBy: EmailAddress): Promise<ForwardedEmail | null> {
  for (const raw of email.attachedMessages) {
    let inner: ParsedEmail;
    try {
      inner = await parseEmail(raw);
    } catch {
      continue;
    }
    return {
      forwardedBy,
      note: cleanNote(email.text),
      original: {
        from: inner.from,
        subject: inner.subject,
        date: inner.date,
        // A synthetic id would not thread with anything the original sender has.
        messageId: inner.messageIdSynthetic ? null : inner.messageId,
        body: inner.text.trim(),
        inReplyTo: inner.inReplyTo,
        references: inner.references,
        to: inner.to,
        cc: inner.cc,
      },
      format: 'attached-rfc822',
    };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Inline forwards

interface Separator {
  pattern: RegExp;
  format: InlineFormat | ((line: string) => InlineFormat);
  /** Separators that some clients also write above replies need a From: right after them. */
  needsFromNext?: boolean;
  /** Also used above replies (Outlook): a reply subject then means it is not a forward. */
  ambiguous?: boolean;
}

const SEPARATORS: Separator[] = [
  // Gmail "---------- Forwarded message ---------", Thunderbird "-------- Forwarded Message --------",
  // Yahoo "----- Forwarded Message -----": the same words, told apart by the run of dashes.
  {
    pattern:
      /^-{2,}\s*(?:Forwarded message|Weitergeleitete Nachricht|Mensaje reenviado|Message transféré|Messaggio inoltrato|Doorgestuurd bericht|Mensagem encaminhada|Vidarebefordrat meddelande)\s*-{2,}$/i,
    format: classifyForwardedMessageLine,
  },
  {
    pattern: /^-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original|Messaggio originale|Oorspronkelijk bericht)\s*-{2,}$/i,
    format: 'outlook',
    ambiguous: true,
  },
  { pattern: /^_{10,}$/, format: 'outlook', needsFromNext: true, ambiguous: true },
  {
    pattern: /^(?:Begin forwarded message|Anfang der weitergeleiteten Nachricht|Début du message réexpédié|Inicio del mensaje reenviado)\s*:?$/i,
    format: 'apple-mail',
  },
];

function classifyForwardedMessageLine(line: string): InlineFormat {
  const leadingDashes = /^-*/.exec(line)?.[0].length ?? 0;
  if (leadingDashes <= 6) return 'yahoo';
  if (leadingDashes <= 8) return 'thunderbird';
  return 'gmail';
}

// A Map, not an object literal: a "constructor:" line must not find Object.prototype.constructor.
const HEADER_KEYS = new Map<string, HeaderKey>(Object.entries({
  from: 'from', von: 'from', de: 'from', van: 'from', da: 'from',
  sent: 'date', date: 'date', datum: 'date', gesendet: 'date', envoyé: 'date', enviado: 'date', fecha: 'date', inviato: 'date', verzonden: 'date',
  to: 'to', an: 'to', à: 'to', para: 'to', a: 'to', aan: 'to',
  cc: 'cc', kopie: 'cc', bcc: 'bcc',
  subject: 'subject', betreff: 'subject', objet: 'subject', asunto: 'subject', oggetto: 'subject', onderwerp: 'subject', assunto: 'subject',
  'reply-to': 'reply-to',
} satisfies Record<string, HeaderKey>));
type HeaderKey = 'from' | 'date' | 'to' | 'cc' | 'bcc' | 'subject' | 'reply-to';

// "From:", "*From:*", "**From:**" (bold rendered as asterisks), "From :" (French spacing).
const HEADER_LINE = /^\*{0,2}([A-Za-zÀ-ÿ-]{1,12})\*{0,2}\s*:\s*\*{0,2}\s*(.*)$/;
// Bounded repetitions keep the scan linear on hostile input (a megabyte-long "From:" line).
const EMAIL_ADDRESS = /[\p{L}\p{N}.!#$%&'*+/=?^_`{|}~-]{1,64}@[\p{L}\p{N}-]{1,63}(?:\.[\p{L}\p{N}-]{1,63}){1,8}/u;
const MAX_HEADER_LINE = 4000;
// Fwd/FW (English), WG (German), TR (French), RV (Spanish), ENC (Portuguese), Doorst (Dutch), VL (Finnish).
const FORWARD_SUBJECT_PREFIX = /^\s*(?:(?:fwd?|fw|wg|tr|rv|enc|doorst|vl)\s*:\s*|\[fwd?:[^\]]*\]\s*)+/i;
const REPLY_SUBJECT_PREFIX = /^\s*(?:re|aw|sv|vs|antw|res|r)\s*:/i;

interface Line {
  /** The line with its quote markers removed. */
  content: string;
  depth: number;
}

interface HeaderBlock {
  headers: Map<HeaderKey, string>;
  /** The header names as written, lower-cased ("sent", "date", "von"). */
  keys: Set<string>;
  /** Index of the first line after the block. */
  end: number;
}

function fromInlineForward(email: ParsedEmail, forwardedBy: EmailAddress): ForwardedEmail | null {
  const lines = splitLines(email.text);
  const found = findInlineForward(lines, email.subject);
  if (!found) return null;

  const bodyLines = unquote(lines.slice(found.block.end), found.depth);
  const headers = found.block.headers;
  const fromValue = headers.get('from');
  const headerSubject = headers.get('subject');
  const dateValue = headers.get('date');

  return {
    forwardedBy,
    note: cleanNote(unquote(lines.slice(0, found.noteEnd), 0).join('\n')),
    original: {
      from: fromValue === undefined ? null : parseLooseAddress(fromValue),
      subject: headerSubject !== undefined ? headerSubject.trim() : stripForwardPrefix(email.subject),
      date: dateValue === undefined ? null : parseLooseDate(dateValue),
      messageId: null,
      body: bodyLines.join('\n').trim(),
      inReplyTo: null,
      references: [],
      to: parseLooseAddressList(headers.get('to') ?? ''),
      cc: parseLooseAddressList(headers.get('cc') ?? ''),
    },
    format: found.format,
  };
}

interface InlineMatch {
  format: InlineFormat;
  /** Lines before this index are the teammate's note. */
  noteEnd: number;
  block: HeaderBlock;
  /** Quote depth of the forwarded block, stripped from the body. */
  depth: number;
}

function findInlineForward(lines: Line[], outerSubject: string): InlineMatch | null {
  const isReply = REPLY_SUBJECT_PREFIX.test(outerSubject) && !FORWARD_SUBJECT_PREFIX.test(outerSubject);

  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index];
    if (!line) continue;
    const content = line.content.trim();
    if (content === '') continue;
    const separator = SEPARATORS.find((candidate) => candidate.pattern.test(content));
    if (!separator) continue;
    // In a reply, a separator inside the quoted history belongs to an older forward.
    if (isReply && (separator.ambiguous || line.depth > 0)) continue;
    const block = readHeaderBlock(lines, index + 1, line.depth);
    if (!block || (separator.needsFromNext && !block.headers.has('from'))) continue;
    const format = typeof separator.format === 'function' ? separator.format(content) : separator.format;
    return { format, noteEnd: index, block, depth: line.depth };
  }

  // Generic: a "From:" line with an address followed within a few lines by "Subject:".
  if (isReply) return null;
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index];
    if (!line) continue;
    const header = parseHeaderLine(line.content);
    if (header?.key !== 'from' || !EMAIL_ADDRESS.test(header.value)) continue;
    const block = readHeaderBlock(lines, index, line.depth);
    if (!block?.headers.has('subject') || block.end - index > 8) continue;
    return {
      // Outlook's HTML forwards have a rule instead of a text separator; "Sent:" gives them away.
      format: block.keys.has('sent') ? 'outlook' : 'generic',
      noteEnd: noteEndAbove(lines, index),
      block,
      depth: line.depth,
    };
  }
  return null;
}

/** Reads "Key: value" lines starting at `start` (blank lines before the first are skipped). */
function readHeaderBlock(lines: Line[], start: number, depth: number): HeaderBlock | null {
  const headers = new Map<HeaderKey, string>();
  const keys = new Set<string>();
  let index = start;
  let lastKey: HeaderKey | null = null;

  // Some clients quote the block one level deeper than the separator ("Begin forwarded message:" then "> From:").
  const contentAt = (at: number): string => {
    const line = lines[at];
    if (!line) return '';
    return line.depth >= depth ? line.content : '';
  };

  while (index < lines.length && contentAt(index).trim() === '' && index - start < 3) index += 1;

  for (; index < lines.length; index += 1) {
    const content = contentAt(index).trim();
    if (content === '') {
      // A blank line ends the block, unless another header we have not seen follows it
      // (HTML-derived text sometimes puts blank lines between header lines).
      const next = nextNonBlank(lines, index, depth);
      const nextHeader = next === -1 ? null : parseHeaderLine(contentAt(next));
      if (headers.size > 0 && nextHeader && !headers.has(nextHeader.key) && next - index <= 2) {
        index = next - 1;
        continue;
      }
      break;
    }
    const header = parseHeaderLine(content);
    if (header && !headers.has(header.key)) {
      headers.set(header.key, header.value);
      keys.add(header.name);
      lastKey = header.key;
      continue;
    }
    // Folded recipient lists continue on the next line.
    if (lastKey && (lastKey === 'to' || lastKey === 'cc' || lastKey === 'bcc') && /@|[,;]$/.test(content)) {
      headers.set(lastKey, `${headers.get(lastKey) ?? ''} ${content}`);
      continue;
    }
    break;
  }

  if (!headers.has('from') && !headers.has('subject')) return null;
  if (headers.size < 2) return null;
  return { headers, keys, end: index };
}

function parseHeaderLine(content: string): { key: HeaderKey; name: string; value: string } | null {
  if (content.length > MAX_HEADER_LINE) return null;
  const match = HEADER_LINE.exec(content.trim());
  if (!match?.[1]) return null;
  const name = match[1].toLowerCase();
  const key = HEADER_KEYS.get(name);
  if (!key) return null;
  return { key, name, value: (match[2] ?? '').replace(/\*+$/, '').trim() };
}

function nextNonBlank(lines: Line[], from: number, depth: number): number {
  for (let index = from + 1; index < lines.length; index += 1) {
    const line = lines[index];
    if (line && line.depth >= depth && line.content.trim() !== '') return index;
  }
  return -1;
}

/** The note ends above the From: line, and above a separator-like line right before it. */
function noteEndAbove(lines: Line[], fromIndex: number): number {
  let index = fromIndex - 1;
  while (index >= 0 && (lines[index]?.content.trim() ?? '') === '') index -= 1;
  const above = lines[index]?.content.trim() ?? '';
  if (index >= 0 && (/^[-_=*~\s]{3,}$/.test(above) || /^[-_=*\s]*(?:forwarded|original message)\b/i.test(above))) {
    return index;
  }
  return fromIndex;
}

function splitLines(text: string): Line[] {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/\u200b|\u200c|\u200d|\ufeff/g, '')
    .replace(/\u00a0/g, ' ')
    .split('\n')
    .map((raw) => {
      const quote = /^(?:[ \t]*>)+[ \t]?/.exec(raw);
      if (!quote) return { content: raw, depth: 0 };
      return { content: raw.slice(quote[0].length), depth: (quote[0].match(/>/g) ?? []).length };
    });
}

/** Removes `depth` levels of quoting (already stripped into Line.content) and re-quotes deeper lines. */
function unquote(lines: Line[], depth: number): string[] {
  const result = lines.map((line) => {
    const extra = Math.max(0, line.depth - depth);
    return extra > 0 ? `${'> '.repeat(extra)}${line.content}` : line.content;
  });
  // A forward whose whole body is quoted one level deeper than its separator ("> Hi Sam").
  const nonBlank = result.filter((line) => line.trim() !== '');
  if (nonBlank.length > 0 && nonBlank.every((line) => line.startsWith('>'))) {
    return result.map((line) => line.replace(/^>[ \t]?/, ''));
  }
  return result;
}

function cleanNote(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  // Drop the teammate's own signature: it is not part of the instruction.
  const signature = lines.findIndex((line) => line === '-- ' || line === '--');
  const kept = signature === -1 ? lines : lines.slice(0, signature);
  return kept
    .filter((line) => !/^\s*(?:Sent from my \w+|Get Outlook for \w+)/i.test(line))
    .join('\n')
    .trim();
}

function stripForwardPrefix(subject: string): string {
  return subject.replace(FORWARD_SUBJECT_PREFIX, '').trim();
}

/** "Name <addr>", "\"Name\" <addr>", "Name [mailto:addr]", "addr", "addr (Name)". */
function parseLooseAddress(value: string): EmailAddress | null {
  const match = EMAIL_ADDRESS.exec(value);
  if (!match) return null;
  const address = match[0].toLowerCase().replace(/^['.]+|[.]+$/g, '');
  let name = value.slice(0, match.index);
  const cut = name.search(/[<[(]|mailto:/i);
  if (cut !== -1) name = name.slice(0, cut);
  name = name.trim();
  if (name === '') {
    const trailing = /\(([^()]+)\)\s*$/.exec(value.slice(match.index + match[0].length));
    name = trailing?.[1]?.trim() ?? '';
  }
  name = name.replace(/^["'“”]+|["'“”]+$/g, '').replace(/\s+/g, ' ').trim();
  if (name.toLowerCase() === address) name = '';
  return { address, name };
}

function parseLooseAddressList(value: string): EmailAddress[] {
  const tokens: string[] = [];
  let current = '';
  let inQuotes = false;
  let bracketDepth = 0;
  for (const character of value) {
    if (character === '"') inQuotes = !inQuotes;
    else if (!inQuotes && (character === '<' || character === '[' || character === '(')) bracketDepth += 1;
    else if (!inQuotes && (character === '>' || character === ']' || character === ')')) bracketDepth = Math.max(0, bracketDepth - 1);
    if (!inQuotes && bracketDepth === 0 && (character === ',' || character === ';')) {
      tokens.push(current);
      current = '';
      continue;
    }
    current += character;
  }
  tokens.push(current);

  // "Client, Dana <dana@client.example>" (Outlook writes names unquoted): a piece without an
  // address belongs to the next one.
  const addresses: EmailAddress[] = [];
  let carry = '';
  for (const token of tokens) {
    if (!EMAIL_ADDRESS.test(token)) {
      carry = `${carry}${token},`;
      continue;
    }
    const parsed = parseLooseAddress(`${carry}${token}`);
    carry = '';
    if (parsed) addresses.push(parsed);
  }
  return addresses;
}
