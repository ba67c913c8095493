import nodemailer from 'nodemailer';
import type { Random } from './random.ts';

/**
 * The drill's mail: clients write to a teammate, the teammate forwards it to the shared mailbox
 * with a one-line instruction, as Gmail does inline or as an attached message/rfc822. Each
 * client has an address of its own (`…+dNNNN@…`), so every card, draft and reply the service
 * produces can be traced back to the message that caused it.
 */
export const TEAM_DOMAIN = 'team.example';
export const MAILBOX_ADDRESS = `ops@${TEAM_DOMAIN}`;

export interface Teammate {
  name: string;
  address: string;
  /** Set when the teammate has a Slack account (the card @-mentions them). */
  slackUser: string | null;
}

export const TEAMMATES: readonly Teammate[] = [
  { name: 'Sam Rivera', address: `sam@${TEAM_DOMAIN}`, slackUser: 'U0SAM' },
  { name: 'Lee Park', address: `lee@${TEAM_DOMAIN}`, slackUser: 'U0LEE' },
  { name: 'Priya Shah', address: `priya@${TEAM_DOMAIN}`, slackUser: null },
];

export interface DrillMessage {
  index: number;
  format: 'gmail-inline' | 'attached-rfc822';
  teammate: Teammate;
  clientName: string;
  /** Lower-case; unique per message. */
  clientAddress: string;
  subject: string;
  /** The forward's own Message-ID: what the service stores the email under. */
  messageId: string;
  /** The client's Message-ID. Only an attached original carries it, so only those replies thread. */
  originalMessageId: string | null;
  raw: Buffer;
}

const FIRST_NAMES = ['Dana', 'Jordan', 'Alex', 'Morgan', 'Casey', 'Riley', 'Taylor', 'Jamie', 'Avery', 'Quinn', 'Robin', 'Sasha'];
const LAST_NAMES = ['Okafor', 'Lindqvist', 'Moreau', 'Tanaka', 'Novak', 'Castillo', 'Brennan', 'Haddad', 'Kowalski', 'Silva'];
const COMPANIES = ['northwind', 'contoso', 'fabrikam', 'initech', 'globex', 'umbrella', 'hooli', 'vandelay'];
const TOPICS = [
  'Invoice timing for PO',
  'Rescheduling our kickoff',
  'Question about the renewal quote',
  'Delivery delayed for order',
  'Access request for the staging account',
  'Follow-up on support ticket',
  'Change to billing contact',
  'Contract redlines for review',
];
const INSTRUCTIONS = [
  'say we can do Tuesday',
  'Tell them the invoice went out on Friday',
  'can you confirm we got this and will reply by Thursday?',
  'Reply that we are looking into it, no promises on dates',
  'please ask them for the PO number',
  'Let them know Lee is their new contact',
  'decline politely, we are fully booked this month',
];
const PARAGRAPHS = [
  'Our AP team needs the invoice before the payment run on Thursday, otherwise it slips to next month.',
  'Something came up on our side and the original date no longer works. Could we move it to early next week?',
  'We noticed the quote still lists last year\u2019s seat count; could you send an updated one?',
  'The shipment tracking has not moved since Monday and our warehouse is asking for an ETA.',
  'Could you grant access to two more people on our team? Their details are below.',
  'Just checking in on this, as we have not heard back since our call.',
  'Please use accounts@ for invoices from now on instead of my address.',
  'Attached are our comments on sections 4 and 7; the rest looks fine to us.',
];

/** Build message `index` of a run. Same seed, same index: same bytes. */
export async function drillMessage(index: number, seed: number, random: Random): Promise<DrillMessage> {
  const teammate = random.pick(TEAMMATES);
  const first = random.pick(FIRST_NAMES);
  const last = random.pick(LAST_NAMES);
  const company = random.pick(COMPANIES);
  const tag = `d${String(index).padStart(4, '0')}`;
  const clientName = `${first} ${last}`;
  const clientAddress = `${first}.${last}+${tag}@${company}.example`.toLowerCase();
  const subject = `${random.pick(TOPICS)} ${random.int(1000, 9999)}`;
  const instruction = random.pick(INSTRUCTIONS);
  const body = [`Hi ${teammate.name.split(' ')[0]},`, ...random.shuffle(PARAGRAPHS).slice(0, random.int(1, 3)), `Thanks,\n${first}`].join('\n\n');
  const sentAt = new Date(Date.UTC(2026, 10, 2, 8, 0, 0) + index * 97_000);
  const forwardedAt = new Date(sentAt.getTime() + random.int(60, 3600) * 1000);
  const format = random.chance(0.6) ? 'gmail-inline' : 'attached-rfc822';
  const messageId = `<drill${seed}.${tag}.fwd@mail.gmail.com>`;
  const originalMessageId = `<drill${seed}.${tag}.orig@mail.${company}.example>`;

  let mail: Buffer;
  if (format === 'gmail-inline') {
    const forwarded = [
      '---------- Forwarded message ---------',
      `From: ${clientName} <${clientAddress}>`,
      `Date: ${gmailDate(sentAt)}`,
      `Subject: ${subject}`,
      `To: ${teammate.name} <${teammate.address}>`,
      '',
      '',
      body,
    ].join('\n');
    const text = `${instruction}\n\n${forwarded}\n`;
    const html = `<div dir="ltr">${escapeHtml(instruction)}<br><br><div class="gmail_quote">${escapeHtml(forwarded).replace(/\n/g, '<br>')}</div></div>`;
    mail = await compose({ from: teammate, subject: `Fwd: ${subject}`, messageId, date: forwardedAt, text, html });
  } else {
    const original = await compose({ from: { name: clientName, address: clientAddress }, to: teammate, subject, messageId: originalMessageId, date: sentAt, text: body });
    mail = await compose({
      from: teammate,
      subject: `Fwd: ${subject}`,
      messageId,
      date: forwardedAt,
      text: `${instruction}\n`,
      attachments: [{ filename: 'original message.eml', contentType: 'message/rfc822', content: original }],
    });
  }
  // The receiving server's verdict on the teammate's domain, topmost as an MX writes it: the
  // service will soon require it before treating a forward as a teammate's.
  const authenticated = Buffer.concat([Buffer.from(`Authentication-Results: mx.${TEAM_DOMAIN}; dmarc=pass header.from=${TEAM_DOMAIN}\r\n`), mail]);
  return {
    index,
    format,
    teammate,
    clientName,
    clientAddress,
    subject,
    messageId,
    originalMessageId: format === 'attached-rfc822' ? originalMessageId : null,
    raw: authenticated,
  };
}

/** The message index in an address the drill generated (`…+d0042@…`), or null. */
export function indexInAddress(text: string): number | null {
  const match = /\+d(\d{4,})@/i.exec(text);
  return match?.[1] ? Number(match[1]) : null;
}

const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });

async function compose(mail: {
  from: { name: string; address: string };
  to?: { name: string; address: string };
  subject: string;
  messageId: string;
  date: Date;
  text: string;
  html?: string;
  attachments?: { filename: string; contentType: string; content: Buffer }[];
}): Promise<Buffer> {
  const info = await composer.sendMail({
    from: mail.from,
    to: mail.to ?? MAILBOX_ADDRESS,
    subject: mail.subject,
    messageId: mail.messageId,
    date: mail.date,
    text: mail.text,
    ...(mail.html ? { html: mail.html } : {}),
    ...(mail.attachments ? { attachments: mail.attachments } : {}),
  });
  return info.message as Buffer;
}

/** "Mon, Jan 6, 2025 at 9:14 AM", as Gmail writes it above a forward. */
function gmailDate(date: Date): string {
  const day = date.toLocaleDateString('en-US', { weekday: 'short', month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' });
  const time = date.toLocaleTimeString('en-US', { hour: 'numeric', minute: '2-digit', timeZone: 'UTC' });
  return `${day} at ${time}`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
