import { seededRandom, type Random } from '../../test/drills/random.ts';

/**
 * A seeded corpus of the mail a shared mailbox gets: plain and HTML messages, multipart with
 * small attachments, teammates' forwards (inline and attached), and text in legacy charsets,
 * 1-200 KB each (log-uniform, so most are small as in a real inbox). Built by hand rather than
 * with a composer so the charsets and transfer encodings are the ones other clients send.
 */
export const TEAM_DOMAIN = 'team.example';

export type MessageKind = 'plain' | 'html' | 'alternative' | 'attachments' | 'forward-inline' | 'forward-attached' | 'latin1' | 'cp1251' | 'utf8-japanese';

export interface CorpusMessage {
  kind: MessageKind;
  messageId: string;
  raw: Buffer;
}

const KIND_WEIGHTS: [MessageKind, number][] = [
  ['plain', 20],
  ['html', 12],
  ['alternative', 18],
  ['attachments', 14],
  ['forward-inline', 12],
  ['forward-attached', 8],
  ['latin1', 6],
  ['cp1251', 5],
  ['utf8-japanese', 5],
];

const MIN_BYTES = 1024;
const MAX_BYTES = 200 * 1024;

/** The same seed and count give the same messages; `idPrefix` only changes their Message-IDs. */
export function buildCorpus(options: { seed: number; count: number; idPrefix: string }): CorpusMessage[] {
  const random = seededRandom(options.seed, 'ingest-corpus');
  const messages: CorpusMessage[] = [];
  for (let index = 0; index < options.count; index++) {
    const kind = weightedKind(random);
    const target = Math.round(Math.exp(random.between(Math.log(MIN_BYTES), Math.log(MAX_BYTES))));
    const messageId = `<${options.idPrefix}.${index}.${kind}@bench.example>`;
    messages.push({ kind, messageId, raw: Buffer.from(build(kind, target, messageId, random)) });
  }
  return messages;
}

function weightedKind(random: Random): MessageKind {
  const total = KIND_WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0);
  let pick = random.next() * total;
  for (const [kind, weight] of KIND_WEIGHTS) {
    pick -= weight;
    if (pick < 0) return kind;
  }
  return 'plain';
}

const WORDS = 'the invoice order shipment quarter meeting contract renewal account support ticket delivery schedule update please thanks regards team customer budget review draft report office access'.split(' ');
const LATIN1_WORDS = 'Grüße Bestätigung Lieferung Überweisung réunion façade déjà reçu élève señor mañana año café naïve Zürich'.split(' ');
const CYRILLIC_WORDS = 'Здравствуйте счёт поставка договор оплата встреча спасибо отчёт клиент заказ неделя'.split(' ');
const JAPANESE_WORDS = 'お世話になっております 請求書 納品 確認 会議 よろしくお願いします 契約 来週 担当者 ありがとうございます'.split(' ');
const PEOPLE = ['Dana Okafor', 'Jordan Lindqvist', 'Alex Moreau', 'Morgan Tanaka', 'Casey Novak', 'Riley Castillo'];
const COMPANIES = ['northwind', 'contoso', 'fabrikam', 'initech', 'globex'];

function sentence(random: Random, words: readonly string[], separator = ' '): string {
  const length = random.int(6, 16);
  const chosen = Array.from({ length }, () => random.pick(words));
  const text = chosen.join(separator);
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

/** Paragraphs of text until about `bytes` long. */
function prose(random: Random, bytes: number, words: readonly string[] = WORDS, separator = ' '): string {
  const paragraphs: string[] = [];
  let size = 0;
  while (size < bytes) {
    const paragraph = Array.from({ length: random.int(2, 5) }, () => sentence(random, words, separator)).join(' ');
    paragraphs.push(paragraph);
    size += Buffer.byteLength(paragraph) + 2;
  }
  return paragraphs.join('\n\n');
}

function person(random: Random): { name: string; address: string } {
  const name = random.pick(PEOPLE);
  return { name, address: `${name.toLowerCase().replace(' ', '.')}@${random.pick(COMPANIES)}.example` };
}

function baseHeaders(random: Random, from: { name: string; address: string }, subject: string, messageId: string, extra: string[] = []): string[] {
  const date = new Date(Date.UTC(2026, 10, 2, 8) + random.int(0, 30 * 24 * 3600) * 1000);
  return [
    `Received: from mail.${from.address.split('@')[1]} (mail.${from.address.split('@')[1]} [192.0.2.${random.int(1, 254)}]) by mx.${TEAM_DOMAIN} with ESMTPS; ${date.toUTCString()}`,
    `From: ${from.name} <${from.address}>`,
    `To: Ops <ops@${TEAM_DOMAIN}>`,
    `Subject: ${subject}`,
    `Date: ${date.toUTCString()}`,
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    ...extra,
  ];
}

function build(kind: MessageKind, target: number, messageId: string, random: Random): string {
  const from = person(random);
  const subject = sentence(random, WORDS).slice(0, 60);
  switch (kind) {
    case 'plain':
      return message(baseHeaders(random, from, subject, messageId, ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 7bit']), prose(random, target - 600));
    case 'html':
      return message(baseHeaders(random, from, subject, messageId, ['Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable']), quotedPrintable(Buffer.from(html(random, target - 600))));
    case 'alternative': {
      const text = prose(random, (target - 800) / 3);
      return multipart(baseHeaders(random, from, subject, messageId), 'alternative', [
        part(['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable'], quotedPrintable(Buffer.from(text))),
        part(['Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable'], quotedPrintable(Buffer.from(htmlOf(text)))),
      ]);
    }
    case 'attachments': {
      const text = prose(random, Math.min(4000, target / 5));
      const attachmentBytes = Math.max(200, Math.round(((target - text.length - 1200 * 3) * 3) / 4));
      const count = random.int(1, 3);
      const attachments = Array.from({ length: count }, (_, index) => {
        const bytes = randomBytes(random, Math.round(attachmentBytes / count));
        const [type, name] = random.pick([
          ['application/pdf', `invoice-${index + 1}.pdf`],
          ['image/png', `screenshot-${index + 1}.png`],
          ['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', `report-${index + 1}.xlsx`],
        ] as const);
        return part([`Content-Type: ${type}; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, 'Content-Transfer-Encoding: base64'], base64Lines(bytes));
      });
      return multipart(baseHeaders(random, from, subject, messageId), 'mixed', [part(['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 7bit'], text), ...attachments]);
    }
    case 'forward-inline':
    case 'forward-attached':
      return forward(kind, target, messageId, random, from, subject);
    case 'latin1': {
      const text = prose(random, (target - 700) / 1.1, [...WORDS, ...LATIN1_WORDS]);
      const encodedSubject = `=?ISO-8859-1?Q?${qEncode(Buffer.from(`Bestätigung: ${subject}`, 'latin1'))}?=`;
      return message(baseHeaders(random, from, encodedSubject, messageId, ['Content-Type: text/plain; charset=ISO-8859-1', 'Content-Transfer-Encoding: quoted-printable']), quotedPrintable(Buffer.from(text, 'latin1')));
    }
    case 'cp1251': {
      // prose() counts UTF-8 bytes (two per Cyrillic letter); windows-1251 has one, base64 adds a third.
      const text = prose(random, (target - 700) * 1.5, CYRILLIC_WORDS);
      const encodedSubject = `=?windows-1251?B?${encodeCp1251('Счёт за поставку').toString('base64')}?=`;
      return message(baseHeaders(random, from, encodedSubject, messageId, ['Content-Type: text/plain; charset=windows-1251', 'Content-Transfer-Encoding: base64']), base64Lines(encodeCp1251(text)));
    }
    case 'utf8-japanese': {
      const text = prose(random, (target - 700) / 1.4, JAPANESE_WORDS, '');
      const encodedSubject = `=?UTF-8?B?${Buffer.from('請求書のご確認').toString('base64')}?=`;
      return message(baseHeaders(random, from, encodedSubject, messageId, ['Content-Type: text/plain; charset=UTF-8', 'Content-Transfer-Encoding: base64']), base64Lines(Buffer.from(text)));
    }
  }
}

/** A teammate forwards a client's email, with the MX's DMARC verdict as the topmost header. */
function forward(kind: 'forward-inline' | 'forward-attached', target: number, messageId: string, random: Random, client: { name: string; address: string }, subject: string): string {
  const teammate = random.pick([
    { name: 'Sam Rivera', address: `sam@${TEAM_DOMAIN}` },
    { name: 'Lee Park', address: `lee@${TEAM_DOMAIN}` },
  ]);
  const note = random.pick(['say we can do Tuesday', 'please confirm we got this', 'Tell them the invoice went out on Friday']);
  // Inline forwards carry the body twice (text and HTML parts).
  const body = prose(random, Math.max(200, kind === 'forward-inline' ? (target - 1500) / 2.3 : target - 1500));
  const authentication = `Authentication-Results: mx.${TEAM_DOMAIN}; dmarc=pass header.from=${TEAM_DOMAIN}`;
  const headers = [authentication, ...baseHeaders(random, teammate, `Fwd: ${subject}`, messageId)];
  if (kind === 'forward-inline') {
    const text = `${note}\n\n---------- Forwarded message ---------\nFrom: ${client.name} <${client.address}>\nDate: Mon, Nov 2, 2026 at 9:14 AM\nSubject: ${subject}\nTo: ${teammate.name} <${teammate.address}>\n\n\n${body}\n`;
    return multipart(headers, 'alternative', [
      part(['Content-Type: text/plain; charset=UTF-8', 'Content-Transfer-Encoding: quoted-printable'], quotedPrintable(Buffer.from(text))),
      part(['Content-Type: text/html; charset=UTF-8', 'Content-Transfer-Encoding: quoted-printable'], quotedPrintable(Buffer.from(htmlOf(text)))),
    ]);
  }
  const original = message(
    [`From: ${client.name} <${client.address}>`, `To: ${teammate.name} <${teammate.address}>`, `Subject: ${subject}`, 'Date: Mon, 02 Nov 2026 09:14:00 +0000', `Message-ID: <orig.${messageId.slice(1, -1)}>`, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 7bit'],
    body,
  );
  return multipart(headers, 'mixed', [
    part(['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 7bit'], `${note}\n`),
    part(['Content-Type: message/rfc822; name="original.eml"', 'Content-Disposition: attachment; filename="original.eml"'], original),
  ]);
}

function html(random: Random, bytes: number): string {
  return htmlOf(prose(random, bytes * 0.7));
}

function htmlOf(text: string): string {
  const paragraphs = text
    .split('\n\n')
    .map((paragraph) => `<p style="margin:0 0 12px 0;font-family:Arial,sans-serif">${paragraph.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\n/g, '<br>')}</p>`);
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><style>p{color:#222}</style></head><body><table width="100%"><tr><td>${paragraphs.join('\n')}</td></tr></table></body></html>`;
}

function message(headers: string[], body: string): string {
  return `${headers.join('\r\n')}\r\n\r\n${body.replace(/\r?\n/g, '\r\n')}\r\n`;
}

function part(headers: string[], body: string): string {
  return `${headers.join('\r\n')}\r\n\r\n${body.replace(/\r?\n/g, '\r\n')}`;
}

function multipart(headers: string[], subtype: string, parts: string[]): string {
  const boundary = `----=_Part_${subtype}_${parts.length}_${headers.length}_bench`;
  return `${headers.join('\r\n')}\r\nContent-Type: multipart/${subtype}; boundary="${boundary}"\r\n\r\nThis is a multi-part message in MIME format.\r\n${parts.map((entry) => `--${boundary}\r\n${entry}\r\n`).join('')}--${boundary}--\r\n`;
}

function randomBytes(random: Random, count: number): Buffer {
  const bytes = Buffer.alloc(count);
  for (let index = 0; index < count; index++) bytes[index] = Math.floor(random.next() * 256);
  return bytes;
}

function base64Lines(bytes: Buffer): string {
  return (bytes.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
}

/** Quoted-printable (RFC 2045): soft line breaks at 76 columns, CRLF kept as hard breaks. */
function quotedPrintable(bytes: Buffer): string {
  const lines: string[] = [];
  let line = '';
  const push = (token: string) => {
    if (line.length + token.length > 75) {
      lines.push(`${line}=`);
      line = '';
    }
    line += token;
  };
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index] ?? 0;
    if (byte === 0x0a) {
      lines.push(line);
      line = '';
      continue;
    }
    if (byte === 0x0d) continue;
    const next = bytes[index + 1];
    const trailingSpace = (byte === 0x20 || byte === 0x09) && (next === undefined || next === 0x0a || next === 0x0d);
    push((byte >= 33 && byte <= 126 && byte !== 61) || (byte === 0x20 && !trailingSpace) ? String.fromCharCode(byte) : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`);
  }
  lines.push(line);
  return lines.join('\n');
}

/** The "Q" encoding of RFC 2047 encoded words. */
function qEncode(bytes: Buffer): string {
  return [...bytes].map((byte) => (byte === 0x20 ? '_' : /[A-Za-z0-9]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** windows-1251 for ASCII and the Russian alphabet (all the corpus uses). */
function encodeCp1251(text: string): Buffer {
  const bytes: number[] = [];
  for (const character of text) {
    const code = character.codePointAt(0) ?? 0x3f;
    if (code < 0x80) bytes.push(code);
    else if (code >= 0x410 && code <= 0x44f) bytes.push(code - 0x410 + 0xc0);
    else if (code === 0x401) bytes.push(0xa8);
    else if (code === 0x451) bytes.push(0xb8);
    else bytes.push(0x3f);
  }
  return Buffer.from(bytes);
}
