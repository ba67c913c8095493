import { describe, expect, it } from 'vitest';
import { MAX_HEADER_BLOCK_BYTES, readMailSignals } from '../src/channels/email/mail-signals.ts';
import type { MailSignals } from '../src/channels/email/mail-signals.ts';
import { triageByRules, triageResultSchema } from '../src/agents/triage-rules.ts';
import type { RuleTriage } from '../src/agents/triage-rules.ts';

/** A raw message as a server delivers it: CRLF line endings, headers, empty line, body. */
function message(headers: string[], body: string[] = ['Hello.']): Buffer {
  return Buffer.from([...headers, '', ...body].join('\r\n'), 'utf8');
}

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

function triage(raw: Buffer, subject: string, options: { knownSender?: boolean; fromAddress?: string } = {}): RuleTriage | null {
  return triageByRules({
    signals: readMailSignals(raw),
    fromAddress: options.fromAddress ?? null,
    subject,
    text: '',
    knownSender: options.knownSender ?? false,
  });
}

const MAILCHIMP = message(
  [
    'Return-Path: <bounce-mc.us21_1234.567-ops=team.example@mail123.suw11.mcdlv.net>',
    'Received: from mail123.suw11.mcdlv.net (mail123.suw11.mcdlv.net [198.2.131.123])',
    '\tby mx.team.example (Postfix) with ESMTPS id 4XyZ1; Tue, 4 Mar 2025 14:02:11 +0000 (UTC)',
    'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=mailchimpapp.net;',
    ' s=k2; t=1741096931; bh=abc=; h=From:Subject:To:List-Unsubscribe;',
    ' b=Zm9vYmFy',
    'Subject: Spring sale \u2014 20% off',
    '   everything this week',
    'From: Northwind Outfitters <hello@northwind.example>',
    'Reply-To: Northwind Outfitters <hello@northwind.example>',
    'To: <ops@team.example>',
    'Date: Tue, 4 Mar 2025 14:02:10 +0000',
    'list-unsubscribe: <https://northwind.us21.list-manage.com/unsubscribe?u=abc&id=def>,',
    '\t<mailto:unsubscribe-mc.us21_abc.def@unsubscribe.mailchimpapp.net?subject=unsubscribe>',
    'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
    'X-Mailer: Mailchimp Mailer - **CIDabc123**',
    'X-Campaign: mailchimpabc.def',
    'X-campaignid: mailchimpabc.def',
    'X-Report-Abuse: Please report abuse for this campaign here: https://mailchimp.com/contact/abuse/',
    'X-MC-User: abc',
    'Feedback-ID: 21:21.1234:us21:mc',
    'List-ID: abc mailing list <abc.us21.list-id.mcsv.net>',
    'X-Accounttype: pd',
    'precedence: BULK',
    'Message-ID: <abc123.def@mail123.suw11.mcdlv.net>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="_----------=_MCPart_123"',
  ],
  ['This is a multi-part message in MIME format', '', '--_----------=_MCPart_123', 'Content-Type: text/plain', '', 'Our spring sale is on.'],
);

const GITHUB = message([
  'Date: Wed, 05 Mar 2025 09:12:44 -0800',
  'From: Dana Client <notifications@github.com>',
  'Reply-To: acme/api <reply+ABCDEF@reply.github.com>',
  'To: acme/api <api@noreply.github.com>',
  'Cc: Ops <ops@team.example>, Mention <mention@noreply.github.com>',
  'Message-ID: <acme/api/pull/42/c123456@github.com>',
  'In-Reply-To: <acme/api/pull/42@github.com>',
  'Subject: Re: [acme/api] Retry failed webhooks',
  '  (#42)',
  'Mime-Version: 1.0',
  'Content-Type: multipart/alternative; boundary="--==_mimepart_67c8"',
  'Content-Transfer-Encoding: 7bit',
  'Precedence: list',
  'X-GitHub-Sender: dana-client',
  'X-GitHub-Recipient: ops-team',
  'X-GitHub-Reason: mention',
  'List-ID: acme/api <api.acme.github.com>',
  'List-Archive: https://github.com/acme/api',
  'List-Post: <mailto:reply+ABCDEF@reply.github.com>',
  'List-Unsubscribe: <mailto:unsub+ABCDEF@reply.github.com>,',
  ' <https://github.com/notifications/unsubscribe/ABCDEF>',
  'X-GitHub-Recipient-Address: ops@team.example',
]);

const OUTLOOK_OUT_OF_OFFICE = message(
  [
    'Received: from AM0PR02MB1234.eurprd02.prod.outlook.com (2603:10a6:208:1::1) by',
    ' AM0PR02MB5678.eurprd02.prod.outlook.com with HTTPS; Thu, 6 Mar 2025 08:00:01 +0000',
    'From: Priya Shah <priya@client.example>',
    'To: Ops <ops@team.example>',
    'Subject: Automatic reply: Quote for March',
    'Thread-Topic: Quote for March',
    'Date: Thu, 6 Mar 2025 08:00:00 +0000',
    'Message-ID: <4a5b6c@AM0PR02MB1234.eurprd02.prod.outlook.com>',
    'In-Reply-To: <quote-7@team.example>',
    'auto-submitted: Auto-Replied',
    'X-MS-Has-Attach:',
    'X-Auto-Response-Suppress: All',
    'X-MS-Exchange-Inbox-Rules-Loop: priya@client.example',
    'Content-Type: text/plain; charset="us-ascii"',
    'MIME-Version: 1.0',
  ],
  ['I am out of the office until 10 March with limited access to email.'],
);

const POSTFIX_BOUNCE = message(
  [
    'Return-Path: <>',
    'Received: by mail.team.example (Postfix)',
    '\tid 7D1E2F; Fri,  7 Mar 2025 10:15:02 +0000 (UTC)',
    'Date: Fri,  7 Mar 2025 10:15:02 +0000 (UTC)',
    'From: MAILER-DAEMON@mail.team.example (Mail Delivery System)',
    'Subject: Undelivered Mail Returned to Sender',
    'To: ops@team.example',
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status;',
    '\tboundary="7D1E2F.1741342502/mail.team.example"',
    'Message-Id: <20250307101502.7D1E2F@mail.team.example>',
  ],
  [
    'This is a MIME-encapsulated message.',
    '',
    '--7D1E2F.1741342502/mail.team.example',
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'I\'m sorry to have to inform you that your message could not be delivered.',
    '<dana@client.example>: host mx.client.example said: 550 5.1.1 User unknown',
  ],
);

const SPAMASSASSIN = message(
  [
    'Return-Path: <winner@prizes.example>',
    'X-Spam-Checker-Version: SpamAssassin 4.0.0 (2022-12-13) on mx.team.example',
    'X-Spam-Flag: YES',
    'X-Spam-Level: *******',
    'X-Spam-Status: Yes, score=7.4 required=5.0 tests=FREEMAIL_FROM,HTML_MESSAGE,',
    '\tLOTS_OF_MONEY,MONEY_FREEMAIL_REPTO autolearn=no autolearn_force=no',
    '\tversion=4.0.0',
    'From: "Claims Dept" <winner@prizes.example>',
    'To: ops@team.example',
    'Subject: You have won $5,000,000',
    'Message-ID: <x1@prizes.example>',
  ],
  ['Send us your bank details.'],
);

const PERSONAL = message(
  [
    'Return-Path: <dana@client.example>',
    'Received: from mail.client.example (mail.client.example [203.0.113.5])',
    '\tby mx.team.example (Postfix) with ESMTPS id 1A2B3C',
    '\tfor <ops@team.example>; Mon, 10 Mar 2025 11:20:00 +0000 (UTC)',
    'From: Dana Client <dana@client.example>',
    'To: ops@team.example',
    'Subject: Can we move Tuesday\'s call?',
    'Date: Mon, 10 Mar 2025 11:19:58 +0000',
    'Message-ID: <CAF=abc@mail.client.example>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=UTF-8',
  ],
  ['Hi, something came up. Could we do Wednesday instead?', '', 'Dana'],
);

describe('readMailSignals', () => {
  it('reads a Mailchimp newsletter: folded, mixed-case list and bulk headers', () => {
    expect(readMailSignals(MAILCHIMP)).toEqual({
      ...NO_SIGNALS,
      listUnsubscribe: true,
      listId: 'abc mailing list <abc.us21.list-id.mcsv.net>',
      precedence: 'bulk',
      bulkSender: true,
    });
  });

  it('reads a GitHub notification: List-Id, Precedence list, a notifications@ sender', () => {
    expect(readMailSignals(GITHUB)).toEqual({
      ...NO_SIGNALS,
      listUnsubscribe: true,
      listId: 'acme/api <api.acme.github.com>',
      precedence: 'list',
      noReplySender: true,
    });
  });

  it('reads an Outlook out-of-office reply', () => {
    expect(readMailSignals(OUTLOOK_OUT_OF_OFFICE)).toEqual({ ...NO_SIGNALS, autoSubmitted: 'auto-replied', autoReply: true });
  });

  it('reads a Postfix bounce', () => {
    const signals = readMailSignals(POSTFIX_BOUNCE);
    expect(signals.bounce).toBe(true);
    expect(signals.autoSubmitted).toBe('auto-replied');
  });

  it('reads a SpamAssassin verdict, and not a negative one', () => {
    expect(readMailSignals(SPAMASSASSIN)).toEqual({ ...NO_SIGNALS, spamFlag: true });
    const ham = message(['From: a@b.example', 'X-Spam-Flag: NO', 'X-Spam-Status: No, score=-0.1 required=5.0', 'Subject: hi']);
    expect(readMailSignals(ham).spamFlag).toBe(false);
    const statusOnly = message(['From: a@b.example', 'x-spam-status: yes, score=9.9', 'Subject: hi']);
    expect(readMailSignals(statusOnly).spamFlag).toBe(true);
  });

  it('finds nothing in a person\'s plain email', () => {
    expect(readMailSignals(PERSONAL)).toEqual(NO_SIGNALS);
  });

  it('ignores header-looking lines in the body', () => {
    const raw = message(
      ['From: Dana Client <dana@client.example>', 'To: ops@team.example', 'Subject: Headers question'],
      [
        'List-Unsubscribe: <mailto:x@y.example>',
        'List-Id: <x.y.example>',
        'Precedence: bulk',
        'X-Spam-Flag: YES',
        'Auto-Submitted: auto-replied',
        'Content-Type: multipart/report; report-type=delivery-status',
        'Feedback-ID: 1:2:3',
        'From: noreply@y.example',
      ],
    );
    expect(readMailSignals(raw)).toEqual(NO_SIGNALS);
  });

  it('ends the headers at an LF-only empty line too', () => {
    const raw = Buffer.from('From: dana@client.example\nSubject: hi\n\nList-Unsubscribe: <mailto:x@y.example>\nPrecedence: bulk\n');
    expect(readMailSignals(raw)).toEqual(NO_SIGNALS);
    const listMail = Buffer.from('From: dana@client.example\nList-Unsubscribe:\n <mailto:x@y.example>\n\nbody\n');
    expect(readMailSignals(listMail).listUnsubscribe).toBe(true);
  });

  it('reads a header block that has no body after it', () => {
    expect(readMailSignals(Buffer.from('From: news@shop.example\r\nList-Id: <shop.example>\r\n')).listId).toBe('<shop.example>');
  });

  it('tells a null Return-Path failure notice from a person writing about delivery', () => {
    const exim = message([
      'Return-Path: <>',
      'From: Mail Delivery System <mdaemon@relay.example>',
      'To: ops@team.example',
      'Subject: Mail delivery failed: returning message to sender',
    ]);
    expect(readMailSignals(exim).bounce).toBe(true);
    const gmail = message(['Return-Path: < >', 'From: Mail Delivery Subsystem <bounces@relay.example>', 'Subject: Delivery Status Notification (Failure)']);
    expect(readMailSignals(gmail).bounce).toBe(true);
    const person = message(['Return-Path: <dana@client.example>', 'From: dana@client.example', 'Subject: Mail delivery failed for our invoices?']);
    expect(readMailSignals(person).bounce).toBe(false);
    const report = message(['From: dana@client.example', 'Content-Type: multipart/report; report-type=disposition-notification; boundary=x']);
    expect(readMailSignals(report).bounce).toBe(false);
  });

  it('reads auto-reply markers other than Auto-Submitted', () => {
    expect(readMailSignals(message(['From: a@b.example', 'X-Auto-Response-Suppress: DR, OOF']))).toMatchObject({ autoReply: true, autoSubmitted: null });
    expect(readMailSignals(message(['From: a@b.example', 'X-Auto-Response-Suppress: DR, RN, NRN'])).autoReply).toBe(false);
    expect(readMailSignals(message(['From: a@b.example', 'X-Autoreply: yes'])).autoReply).toBe(true);
    expect(readMailSignals(message(['From: a@b.example', 'X-Autoreply: no'])).autoReply).toBe(false);
    expect(readMailSignals(message(['From: a@b.example', 'X-Autorespond: Re: your message'])).autoReply).toBe(true);
    expect(readMailSignals(message(['From: a@b.example', 'Auto-Submitted: no']))).toEqual(NO_SIGNALS);
    expect(readMailSignals(message(['From: a@b.example', 'Auto-Submitted: auto-generated (ticket system); x=y'])).autoSubmitted).toBe('auto-generated');
  });

  it('finds no-reply senders by the address, never the display name', () => {
    const noReply = (from: string): boolean => readMailSignals(message([`From: ${from}`])).noReplySender;
    expect(noReply('Acme Billing <No-Reply@acme.example>')).toBe(true);
    expect(noReply('donotreply@bank.example')).toBe(true);
    expect(noReply('"Shop" <do-not-reply+123@shop.example>')).toBe(true);
    expect(noReply('noreply-42@shop.example (Shop)')).toBe(true);
    expect(noReply('"noreply@shop.example" <dana@client.example>')).toBe(false);
    expect(noReply('Noreply Team <dana@client.example>')).toBe(false);
    expect(noReply('mailerlite-fan@client.example')).toBe(false);
    expect(noReply('undisclosed-recipients:;')).toBe(false);
  });

  it('never throws on garbage, and finds nothing in it', () => {
    let seed = 42;
    const bytes = Buffer.alloc(64 * 1024);
    for (let index = 0; index < bytes.length; index += 1) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      bytes[index] = seed >>> 24;
    }
    // No blank line anywhere: the whole buffer is the header block.
    const garbage = Buffer.from(bytes.toString('latin1').replace(/\n[\r\n]/g, 'xx'), 'latin1');
    expect(readMailSignals(garbage)).toEqual(NO_SIGNALS);
    expect(readMailSignals(Buffer.alloc(0))).toEqual(NO_SIGNALS);
    expect(readMailSignals(Buffer.from('\r\nList-Unsubscribe: <mailto:x@y.example>\r\n'))).toEqual(NO_SIGNALS);
    expect(readMailSignals(Buffer.from([0xff, 0xfe, 0x00, 0x3a, 0x0a, 0x20, 0x3a, 0x0d, 0x0a]))).toEqual(NO_SIGNALS);
    const nulInside = Buffer.from('List-\u0000Id: <a\u0000b.example>\r\nX-Spam-Flag: Y\u0000ES\r\n\r\n');
    expect(readMailSignals(nulInside)).toEqual({ ...NO_SIGNALS, listId: '<ab.example>', spamFlag: true });
  });

  it('reads at most 256 KB of headers', () => {
    const filler = `X-Filler: ${'a'.repeat(998)}`;
    const lines = Array.from({ length: 300 }, () => filler); // about 300 KB
    const raw = message(['From: news@shop.example', 'List-Id: <shop.example>', ...lines, 'X-Spam-Flag: YES', 'Precedence: bulk']);
    expect(raw.length).toBeGreaterThan(MAX_HEADER_BLOCK_BYTES);
    expect(readMailSignals(raw)).toEqual({ ...NO_SIGNALS, listId: '<shop.example>' });

    // One endless folded header with no empty line: still no throw, the earlier fields kept.
    const endless = Buffer.from(`From: a@b.example\r\nPrecedence: list\r\nX-Long: ${'b '.repeat(200_000)}`);
    expect(readMailSignals(endless)).toEqual({ ...NO_SIGNALS, precedence: 'list' });
  });

  it('bounds List-Id to 200 characters', () => {
    const listId = readMailSignals(message([`List-Id: ${'x'.repeat(500)}`])).listId;
    expect(listId).toBe('x'.repeat(200));
    expect(readMailSignals(message(['List-Id:    '])).listId).toBeNull();
  });
});

describe('triageByRules', () => {
  it('files a Mailchimp newsletter as a newsletter', () => {
    expect(triage(MAILCHIMP, 'Spring sale \u2014 20% off   everything this week')).toEqual({
      category: 'newsletter',
      urgency: 'low',
      summary: 'Newsletter: Spring sale \u2014 20% off everything this week',
      confidence: 0.95,
      rule: 'list-mail',
    });
  });

  it('files a GitHub notification as mailing-list mail, even from a known sender', () => {
    const expected = {
      category: 'newsletter',
      urgency: 'low',
      summary: 'Mailing list: Re: [acme/api] Retry failed webhooks (#42)',
      confidence: 0.95,
      rule: 'list-mail',
    };
    expect(triage(GITHUB, 'Re: [acme/api] Retry failed webhooks\n  (#42)')).toEqual(expected);
    expect(triage(GITHUB, 'Re: [acme/api] Retry failed webhooks (#42)', { knownSender: true })).toEqual(expected);
  });

  it('files an out-of-office reply as automated', () => {
    expect(triage(OUTLOOK_OUT_OF_OFFICE, 'Automatic reply: Quote for March')).toEqual({
      category: 'automated',
      urgency: 'low',
      summary: 'Auto-reply: Automatic reply: Quote for March',
      confidence: 0.97,
      rule: 'auto-reply',
    });
  });

  it('files a bounce as automated, at normal urgency, before its auto-reply marker', () => {
    expect(triage(POSTFIX_BOUNCE, 'Undelivered Mail Returned to Sender')).toEqual({
      category: 'automated',
      urgency: 'normal',
      summary: 'Delivery failure notice: Undelivered Mail Returned to Sender',
      confidence: 0.99,
      rule: 'bounce',
    });
  });

  it('files flagged spam as spam, before anything else', () => {
    expect(triage(SPAMASSASSIN, 'You have won $5,000,000')).toEqual({
      category: 'spam',
      urgency: 'low',
      summary: 'Spam: You have won $5,000,000',
      confidence: 0.95,
      rule: 'spam-flag',
    });
    const spamNewsletter = message(['From: news@shop.example', 'Precedence: bulk', 'X-Spam-Flag: YES']);
    expect(triage(spamNewsletter, 'Deals')?.rule).toBe('spam-flag');
  });

  it('leaves a person\'s email to the model', () => {
    expect(triage(PERSONAL, "Can we move Tuesday's call?")).toBeNull();
    expect(triage(PERSONAL, "Can we move Tuesday's call?", { knownSender: true })).toBeNull();
  });

  it('leaves a known sender\'s mail with only an unsubscribe footer header to the model', () => {
    const crm = message([
      'From: Priya Shah <priya@client.example>',
      'To: ops@team.example',
      'Subject: Following up on the quote',
      'List-Unsubscribe: <https://crm.client.example/u/abc>',
      'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
    ]);
    expect(triage(crm, 'Following up on the quote', { knownSender: true })).toBeNull();
    // From a stranger the same headers read as bulk mail, with less confidence than list headers.
    expect(triage(crm, 'Following up on the quote')).toEqual({
      category: 'newsletter',
      urgency: 'low',
      summary: 'Newsletter: Following up on the quote',
      confidence: 0.9,
      rule: 'list-mail',
    });
  });

  it('leaves mail whose list headers are only in the body to the model', () => {
    const raw = message(['From: Dana Client <dana@client.example>', 'Subject: Our newsletter footer'], ['List-Unsubscribe: x', 'Precedence: bulk']);
    expect(triage(raw, 'Our newsletter footer')).toBeNull();
  });

  it('files Auto-Submitted: auto-generated as automated by its own rule', () => {
    const raw = message(['From: Helpdesk <support@vendor.example>', 'Auto-Submitted: auto-generated', 'Subject: [#1234] Ticket received']);
    expect(triage(raw, '[#1234] Ticket received')).toEqual({
      category: 'automated',
      urgency: 'low',
      summary: 'Automated: [#1234] Ticket received',
      confidence: 0.95,
      rule: 'auto-submitted',
    });
    const unknownKeyword = message(['From: a@vendor.example', 'Auto-Submitted: auto-something']);
    expect(triage(unknownKeyword, 'x')).toBeNull();
  });

  it('files a no-reply sender without list headers as automated', () => {
    const raw = message(['From: Acme Billing <no-reply@billing.acme.example>', 'To: ops@team.example', 'Subject: Your invoice INV-2025-03 is ready']);
    expect(triage(raw, 'Your invoice INV-2025-03 is ready')).toEqual({
      category: 'automated',
      urgency: 'low',
      summary: 'Automated: Your invoice INV-2025-03 is ready',
      confidence: 0.9,
      rule: 'no-reply-sender',
    });
  });

  it('keeps summaries to one line of at most 120 subject characters', () => {
    const raw = message(['From: news@shop.example', 'Precedence: bulk']);
    expect(triage(raw, '   \t ')?.summary).toBe('Newsletter: (no subject)');
    expect(triage(raw, 'a\r\nb\u0000\tc')?.summary).toBe('Newsletter: a b c');
    const long = `${'word '.repeat(40)}end`;
    const summary = triage(raw, long)?.summary ?? '';
    const subject = summary.slice('Newsletter: '.length);
    expect(Array.from(subject)).toHaveLength(120);
    expect(subject.endsWith('\u2026')).toBe(true);
    expect(subject.startsWith('word word')).toBe(true);
    expect(triage(raw, 'x'.repeat(120))?.summary).toBe(`Newsletter: ${'x'.repeat(120)}`);
  });
});

describe('triageResultSchema', () => {
  const valid = {
    category: 'needs_reply',
    urgency: 'high',
    summary: 'Dana asks to move Tuesday\'s call to Wednesday',
    people: [{ name: 'Dana Client', address: 'dana@client.example', organisation: 'Client Co' }, {}],
    organisations: ['Client Co'],
    dates: [{ date: '2025-03-12', what: 'Proposed call', kind: 'meeting' }],
    confidence: 0.8,
  };

  it('accepts a well-formed model answer', () => {
    expect(triageResultSchema.parse(valid)).toEqual(valid);
  });

  it('refuses answers outside the contract', () => {
    const refused = (patch: Record<string, unknown>): boolean => !triageResultSchema.safeParse({ ...valid, ...patch }).success;
    expect(refused({ category: 'urgent' })).toBe(true);
    expect(refused({ urgency: 'critical' })).toBe(true);
    expect(refused({ summary: '  ' })).toBe(true);
    expect(refused({ summary: 'x'.repeat(201) })).toBe(true);
    expect(refused({ confidence: 1.2 })).toBe(true);
    expect(refused({ dates: [{ date: '2025-02-30', what: 'x', kind: 'deadline' }] })).toBe(true);
    expect(refused({ dates: [{ date: '12/03/2025', what: 'x', kind: 'deadline' }] })).toBe(true);
    expect(refused({ dates: [{ date: '2025-03-12', what: 'x', kind: 'birthday' }] })).toBe(true);
    expect(refused({ people: Array.from({ length: 21 }, () => ({})) })).toBe(true);
    expect(refused({ organisations: Array.from({ length: 21 }, () => 'Org') })).toBe(true);
    expect(refused({ dates: Array.from({ length: 11 }, () => ({ date: '2025-03-12', what: 'x', kind: 'other' })) })).toBe(true);
  });
});
