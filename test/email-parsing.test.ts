import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AdjutantError } from '../src/errors.ts';
import { extractForward } from '../src/channels/email/forward.ts';
import type { ForwardedEmail } from '../src/channels/email/forward.ts';
import { parseLooseDate } from '../src/channels/email/loose-date.ts';
import { parseEmail } from '../src/channels/email/parse-email.ts';
import type { ParsedEmail } from '../src/channels/email/parse-email.ts';
import { isTeamAddress } from '../src/channels/email/team-address.ts';

const TEAM_DOMAINS = ['team.example'];

function fixture(name: string): Buffer {
  return readFileSync(new URL(`./fixtures/email/${name}`, import.meta.url));
}

async function parseFixture(name: string): Promise<ParsedEmail> {
  return parseEmail(fixture(name));
}

async function forwardOf(name: string): Promise<ForwardedEmail> {
  const forward = await extractForward(await parseFixture(name), TEAM_DOMAINS);
  if (!forward) throw new Error(`${name}: expected a forward`);
  return forward;
}

/** A minimal text email from a teammate, for formats that do not need a whole fixture. */
function teammateMail(body: string, subject = 'Fwd: Something'): Buffer {
  return Buffer.from(
    ['From: Sam Rivera <sam@team.example>', 'To: ops@team.example', `Subject: ${subject}`, 'Message-ID: <t1@team.example>', '', body].join('\r\n'),
  );
}

describe('inline forwards', () => {
  it('gmail: note on top, original sender, date, signature kept', async () => {
    const forward = await forwardOf('gmail-forward.eml');
    expect(forward.format).toBe('inline');
    expect(forward.forwardedBy).toEqual({ address: 'sam@team.example', name: 'Sam Rivera' });
    expect(forward.note).toBe('say we can do Tuesday');
    expect(forward.original.from).toEqual({ address: 'dana@client.example', name: 'Dana Client' });
    expect(forward.original.subject).toBe('Rescheduling our kickoff');
    // "9:14 AM" with Gmail's narrow no-break space, no zone given: read as UTC.
    expect(forward.original.date?.toISOString()).toBe('2025-01-06T09:14:00.000Z');
    expect(forward.original.to).toEqual([{ address: 'sam@team.example', name: 'Sam Rivera' }]);
    expect(forward.original.cc).toEqual([{ address: 'lee@client.example', name: 'Lee Park' }]);
    expect(forward.original.body.startsWith('Hi Sam,\n\nSomething came up on our side')).toBe(true);
    expect(forward.original.body).toContain('ideal — anything after 1pm Pacific.');
    expect(forward.original.body.endsWith('-- \nDana Client\nHead of Operations, Client Co.\n+1 555 0100')).toBe(true);
    expect(forward.original.messageId).toBeNull();
  });

  it('outlook: "-----Original Message-----" with [mailto:] sender and Sent:', async () => {
    const forward = await forwardOf('outlook-forward.eml');
    expect(forward.format).toBe('inline');
    expect(forward.note).toBe('Can you check whether we double-billed them? If so, apologise and offer a credit on the next invoice.\n\nJordan');
    expect(forward.original.from).toEqual({ address: 'dana@client.example', name: 'Dana Client' });
    expect(forward.original.subject).toBe('Invoice 4471 - question about the March charges');
    expect(forward.original.date?.toISOString()).toBe('2025-01-06T09:14:00.000Z');
    expect(forward.original.cc.map((address) => address.address)).toEqual(['accounts@client.example', 'morgan@client.example']);
    expect(forward.original.body.startsWith('Hi Jordan,\n\nWe were charged twice')).toBe(true);
    expect(forward.original.body.endsWith('Best regards,\nDana Client\nClient Co. | Finance')).toBe(true);
  });

  it('outlook on the web, HTML only: bold header block under a rule', async () => {
    const forward = await forwardOf('outlook-web-html-forward.eml');
    expect(forward.format).toBe('inline');
    expect(forward.forwardedBy.address).toBe('priya@team.example');
    expect(forward.note).toBe("Approve this one & tell Morgan it'll be live by Friday.");
    expect(forward.original.from).toEqual({ address: 'morgan@client.example', name: 'Morgan Patel' });
    expect(forward.original.subject).toBe('Access request for the staging dashboard');
    expect(forward.original.date?.toISOString()).toBe('2025-01-08T15:05:00.000Z');
    // iso-8859-1 "Ren=E9e" decoded, &#8217; decoded.
    expect(forward.original.body.startsWith('Hi Priya,\n\nCould you give Renée (renee@client.example) read access')).toBe(true);
    expect(forward.original.body).toContain('She’s taking over QA');
  });

  it('apple mail: "Begin forwarded message:" with a quoted block, iPhone signature dropped from the note', async () => {
    const forward = await forwardOf('apple-mail-forward.eml');
    expect(forward.format).toBe('inline');
    expect(forward.note).toBe('Can you send her the updated proposal? Pricing is in the shared drive, use the Q1 numbers.');
    expect(forward.original.from).toEqual({ address: 'dana@client.example', name: 'Dana Client' });
    expect(forward.original.subject).toBe('Updated proposal?');
    expect(forward.original.date?.toISOString()).toBe('2025-01-06T17:14:32.000Z');
    expect(forward.original.body.startsWith('Hi Alex,\n\nBefore our board meeting')).toBe(true);
    expect(forward.original.body).not.toMatch(/^>/m);
    expect(forward.original.body.endsWith('Dana\n\nSent from my iPad')).toBe(true);
  });

  it('thunderbird: "-------- Forwarded Message --------", Subject first, format=flowed note', async () => {
    const forward = await forwardOf('thunderbird-forward.eml');
    expect(forward.format).toBe('inline');
    expect(forward.note).toBe('Customer is upset, draft an apology and offer expedited shipping on the replacement. No refund yet.');
    expect(forward.original.from).toEqual({ address: 'dana@client.example', name: 'Dana Client' });
    expect(forward.original.subject).toBe('Shipment delayed – order #88213');
    expect(forward.original.date?.toISOString()).toBe('2025-01-09T17:22:05.000Z');
    expect(forward.original.to).toEqual([{ address: 'support@team.example', name: '' }]);
    expect(forward.original.body.startsWith('Hello,\n\nOur order #88213 was supposed to arrive on Tuesday')).toBe(true);
    expect(forward.original.body.endsWith('-- \nDana Client\nClient Co.')).toBe(true);
  });

  it('yahoo: "----- Forwarded Message -----" with Sent: and a zone abbreviation', async () => {
    const forward = await forwardOf('yahoo-forward.eml');
    expect(forward.format).toBe('inline');
    expect(forward.note).toBe('Please book this for Thursday 3pm if the calendar is free.');
    expect(forward.original.from).toEqual({ address: 'dana@client.example', name: 'Dana Client' });
    expect(forward.original.subject).toBe('Call next week?');
    expect(forward.original.date?.toISOString()).toBe('2025-01-10T13:45:10.000Z');
    expect(forward.original.body.startsWith('Hi Taylor,\nDo you have 30 minutes next week')).toBe(true);
  });

  it('a helpdesk relay with neither a forward subject nor a separator line is not read as a forward', async () => {
    // The old hand-written detector guessed from any "From:" + "Subject:" block; the library
    // wants a separator or a forward subject, so nothing is guessed and no instruction is read.
    const email = await parseFixture('generic-forward.eml');
    expect(email.from?.address).toBe('riley@team.example');
    expect(await extractForward(email, TEAM_DOMAINS)).toBeNull();
  });

  it('a forward subject over a body it cannot read: a forward with no sender, all of it data, nothing guessed', async () => {
    // A Gmail forward quoted once more ("> ---------- Forwarded message"): not a format the
    // library reads. The subject still says forward, so it is one, but whose it is stays unknown.
    const email = await parseEmail(
      teammateMail(
        [
          'can you answer this?',
          '',
          '> ---------- Forwarded message ---------',
          '> From: dana@client.example',
          '> Subject: Quick question',
          '>',
          '> Is the API down?',
        ].join('\r\n'),
        'Fwd: Quick question',
      ),
    );
    const forward = await extractForward(email, TEAM_DOMAINS);
    expect(forward?.format).toBe('inline');
    expect(forward?.original.from).toBeNull();
    expect(forward?.original.subject).toBe('Quick question');
    // Where the note ends is unknown, so none of the text is taken as an instruction.
    expect(forward?.note).toBe('');
    expect(forward?.original.body).toContain('can you answer this?');
    expect(forward?.original.body).toContain('> Is the API down?');
  });

  it('a forward whose From line has only a name (Outlook, Exchange sender): no address, none guessed', async () => {
    const email = await parseEmail(
      teammateMail(
        ['please answer her', '', 'From: Dana Client', 'Sent: Monday, January 6, 2025 9:14 AM', 'To: Sam Rivera', 'Subject: Invoice question', '', 'Hello, is the invoice final?'].join('\r\n'),
        'FW: Invoice question',
      ),
    );
    const forward = await extractForward(email, TEAM_DOMAINS);
    expect(forward?.original.from).toBeNull();
    expect(forward?.note).toBe('please answer her');
    expect(forward?.original.subject).toBe('Invoice question');
    expect(forward?.original.body).toBe('Hello, is the invoice final?');
  });

  it('falls back to the outer subject, without its Fwd:/FW: prefix, when the block has no Subject:', async () => {
    const email = await parseEmail(
      teammateMail(
        ['-----Original Message-----', 'From: "Dana Client" <dana@client.example>', 'Sent: sometime', 'To: sam@team.example', '', 'Hello'].join('\r\n'),
        'FW: Fwd: Budget for Q2',
      ),
    );
    const forward = await extractForward(email, TEAM_DOMAINS);
    expect(forward?.format).toBe('inline');
    expect(forward?.original.subject).toBe('Budget for Q2');
    expect(forward?.original.date).toBeNull();
    expect(forward?.original.from).toEqual({ address: 'dana@client.example', name: 'Dana Client' });
    expect(forward?.original.body).toBe('Hello');
    // The "-----Original Message-----" line above "From:" is the client's, not the teammate's.
    expect(forward?.note).toBe('');
  });
});

describe('attached message/rfc822', () => {
  it('takes the original headers exactly from the attached message', async () => {
    const email = await parseFixture('attached-rfc822-forward.eml');
    expect(email.attachedMessages).toHaveLength(1);
    expect(email.attachments).toEqual([
      { filename: 'Re: Invoice timing - PO 7781.eml', contentType: 'message/rfc822', size: email.attachedMessages[0]?.length },
      { filename: 'signed-po-7781.pdf', contentType: 'application/pdf', size: 136 },
    ]);

    const forward = await extractForward(email, TEAM_DOMAINS);
    expect(forward?.format).toBe('attached-rfc822');
    expect(forward?.note).toBe('Can you reply to this one? Tell them the invoice went out on Friday and\nattach the signed PO.');
    expect(forward?.original.from).toEqual({ address: 'dana@client.example', name: 'Dana Client' });
    expect(forward?.original.subject).toBe('Re: Invoice timing – PO 7781');
    expect(forward?.original.date?.toISOString()).toBe('2025-01-07T01:48:03.000Z');
    expect(forward?.original.messageId).toBe('<20250106174803.4f2a9c1e@mail.client.example>');
    expect(forward?.original.inReplyTo).toBe('<CAJx9fN8wQ2rT5yU7iO9pA1sD3fG@mail.gmail.com>');
    expect(forward?.original.references).toEqual([
      '<CAJx7aa1bB2cC3dD4eE5fF6gG@mail.gmail.com>',
      '<CAJx9fN8wQ2rT5yU7iO9pA1sD3fG@mail.gmail.com>',
    ]);
    expect(forward?.original.cc).toEqual([{ address: 'accounts@client.example', name: '' }]);
    expect(forward?.original.body.startsWith('Hi Sam,\n\nOur AP team needs the invoice for PO 7781')).toBe(true);
  });
});

describe('not forwards', () => {
  it('direct mail from a client: parsed fully, no forward', async () => {
    const email = await parseFixture('direct-client.eml');
    expect(email.messageId).toBe('<CAB7d9k9Xr4tE2@mail.client.example>');
    expect(email.messageIdSynthetic).toBe(false);
    expect(email.from).toEqual({ address: 'dana@client.example', name: 'Dana Client' });
    expect(email.replyTo).toEqual([{ address: 'accounts@client.example', name: 'Client Co Accounts' }]);
    expect(email.cc).toEqual([
      { address: 'lee@client.example', name: 'Lee Park' },
      { address: 'morgan@client.example', name: 'Park, Morgan' },
    ]);
    expect(email.subject).toBe('Question about onboarding for new hires');
    expect(email.date?.toISOString()).toBe('2025-01-08T09:30:05.000Z');
    expect(email.text.startsWith('Hi team,\n\nWe have three new hires')).toBe(true);
    expect(await extractForward(email, TEAM_DOMAINS)).toBeNull();
    // Even if the sender's domain were a team domain, "From:"/"Subject:" prose is not a forward.
    expect(await extractForward(email, ['team.example', 'client.example'])).toBeNull();
  });

  it('a teammate replying in Outlook (RE:, quoted original under a rule) is direct mail', async () => {
    const email = await parseFixture('teammate-reply.eml');
    expect(email.from?.address).toBe('jordan@team.example');
    expect(await extractForward(email, TEAM_DOMAINS)).toBeNull();
  });

  it('a forward from outside the team domains carries no instruction', async () => {
    const email = await parseFixture('non-team-forward.eml');
    expect(email.from).toEqual({ address: 'sam@team.example.evil.test', name: 'Sam Rivera' });
    expect(await extractForward(email, TEAM_DOMAINS)).toBeNull();
  });

  it('isTeamAddress matches domains exactly, case-insensitively', () => {
    expect(isTeamAddress('Sam@Team.Example', TEAM_DOMAINS)).toBe(true);
    expect(isTeamAddress('sam@team.example', [' TEAM.EXAMPLE '])).toBe(true);
    expect(isTeamAddress('sam@mail.team.example', TEAM_DOMAINS)).toBe(false);
    expect(isTeamAddress('sam@mail.team.example', ['team.example', 'mail.team.example'])).toBe(true);
    expect(isTeamAddress('sam@team.example.evil.test', TEAM_DOMAINS)).toBe(false);
    expect(isTeamAddress('sam@evilteam.example', TEAM_DOMAINS)).toBe(false);
    expect(isTeamAddress('team.example', TEAM_DOMAINS)).toBe(false);
    expect(isTeamAddress('sam@team.example', [])).toBe(false);
  });
});

describe('parseEmail robustness', () => {
  it('gives a message without Message-ID a stable synthetic id', async () => {
    const first = await parseFixture('no-message-id.eml');
    const second = await parseFixture('no-message-id.eml');
    expect(first.messageIdSynthetic).toBe(true);
    expect(first.messageId).toMatch(/^<[0-9a-f]{64}@adjutant\.invalid>$/);
    expect(second.messageId).toBe(first.messageId);
    expect(first.subject).toBe('[DOWN] api.client.example is not responding');
    expect(first.text.startsWith('Monitor: api.client.example (HTTPS)')).toBe(true);

    const other = await parseEmail(Buffer.concat([fixture('no-message-id.eml'), Buffer.from('\n')]));
    expect(other.messageId).not.toBe(first.messageId);
  });

  it('treats an empty Message-ID header as missing', async () => {
    const email = await parseEmail(Buffer.from('From: a@client.example\r\nMessage-ID: \r\nSubject: hi\r\n\r\nbody'));
    expect(email.messageIdSynthetic).toBe(true);
    expect(email.messageId).toMatch(/@adjutant\.invalid>$/);
  });

  it('decodes an unknown charset best-effort instead of failing', async () => {
    const email = await parseFixture('unknown-charset.eml');
    expect(email.from?.address).toBe('orders@shop.client.example');
    expect(email.subject.startsWith('Order 4411 confirm')).toBe(true);
    expect(email.text).toContain('Order 4411 is confirmed.');
    expect(email.text).toContain('Café au lait beans');
    expect(email.text).toContain('Delivery: Monday');
  });

  it('parses malformed MIME (no closing boundary, broken base64, junk header line, bad date)', async () => {
    const email = await parseFixture('malformed-mime.eml');
    expect(email.from).toEqual({ address: 'wim@logistics.client.example', name: 'Wim de Vries' });
    expect(email.subject).toBe('Pallet count correction');
    expect(email.date).toBeNull();
    expect(email.text).toContain('The pallet count for the Rotterdam shipment is 14, not 12.');
    expect(email.attachments.map((attachment) => attachment.filename)).toEqual(['manifest.xlsx']);
    expect(await extractForward(email, TEAM_DOMAINS)).toBeNull();
  });

  it('derives text from an HTML-only message', async () => {
    const email = await parseFixture('html-only.eml');
    expect(email.text).toBe(
      [
        'Thanks for your payment',
        '',
        'Hi Team Ops,',
        '',
        'We received your payment of £1,240.00 for invoice #INV-2025-001. It’s been applied to your account — nothing else to do.',
        '',
        'Item Amount',
        'Team plan (12 seats) £1,200.00',
        'Add-on: SSO & audit log £40.00',
        '',
        '- Receipt number: R-88F1',
        '- Paid with: Visa <ending 4242>',
        '',
        'Questions? Reply to this email or visit your billing page.',
        '“Client SaaS” — Billing team',
      ].join('\n'),
    );
  });

  it('refuses empty input and input over the size limit, naming the limit', async () => {
    await expect(parseEmail(Buffer.alloc(0))).rejects.toMatchObject({ code: 'MAIL_PARSE_FAILED' });
    await expect(parseEmail(Buffer.from('\r\n\r\n'))).rejects.toBeInstanceOf(AdjutantError);

    const raw = fixture('direct-client.eml');
    const error: unknown = await parseEmail(raw, { maxBytes: 1024 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AdjutantError);
    expect(error).toMatchObject({ code: 'MAIL_PARSE_FAILED', retryable: false });
    expect((error as Error).message).toContain('1 KiB (1024 bytes) limit');
    expect((error as Error).message).toContain(`(${raw.length} bytes)`);

    // Refused before any parsing, so this stays fast.
    const oversize = Buffer.alloc(25 * 1024 * 1024 + 1, 'a');
    await expect(parseEmail(oversize)).rejects.toThrow('over the 25 MiB (26214400 bytes) limit');
  });

  it('does not throw on binary junk, and extractForward never throws', async () => {
    const junk = await parseEmail(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe]));
    expect(junk.messageIdSynthetic).toBe(true);
    expect(junk.from).toBeNull();
    expect(await extractForward(junk, TEAM_DOMAINS)).toBeNull();

    const broken: ParsedEmail = { ...junk, from: { address: 'sam@team.example', name: '' }, attachedMessages: [Buffer.alloc(0)], text: 'From: x' };
    expect(await extractForward(broken, TEAM_DOMAINS)).toBeNull();
  });
});

describe('parseLooseDate', () => {
  it.each([
    ['Mon, Jan 6, 2025 at 9:14 AM', '2025-01-06T09:14:00.000Z'],
    ['Monday, January 6, 2025 9:14 PM', '2025-01-06T21:14:00.000Z'],
    ['January 6, 2025 at 9:14:32 AM PST', '2025-01-06T17:14:32.000Z'],
    ['Mon, 6 Jan 2025 09:14:00 -0800 (PST)', '2025-01-06T17:14:00.000Z'],
    ['6 January 2025 at 12:05 AM GMT+1', '2025-01-05T23:05:00.000Z'],
    ['2025-01-08 16:02', '2025-01-08T16:02:00.000Z'],
  ])('%s', (input, expected) => {
    expect(parseLooseDate(input)?.toISOString()).toBe(expected);
  });

  it('returns null for what it cannot read', () => {
    expect(parseLooseDate('sometime last week')).toBeNull();
    expect(parseLooseDate('February 30, 2025')).toBeNull();
    expect(parseLooseDate('')).toBeNull();
  });
});
