import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { startService, type Service } from '../src/main.ts';
import { formatStatus, readStatus } from '../src/status.ts';
import { buttonClick, sendSignedInteraction, startSlackFake, type SlackFake } from './fakes/slack-fake.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
import { startSmtpCapture, type CapturedMail } from './support/smtp-capture.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Exactly one send, or a visible reason why not. A real SMTP server (smtp-server) that can
 * refuse, stall after the message data, or accept; real PostgreSQL, where triggers make the
 * database fail at chosen moments; Slack's Web API as an HTTP fake; clicks signed like Slack's.
 */
const BOT_TOKEN = 'xoxb-send-path';
const SIGNING_SECRET = 'send-path-signing-secret';
const APPROVALS = 'C0APPROVALS';
const ALICE = 'U0ALICE';

type Answer = 'accept' | 'hang' | { code: number; message: string };

describe('sending an approved reply', () => {
  let database: TestDatabase;
  let slack: SlackFake;
  let smtp: Awaited<ReturnType<typeof startSmtpCapture>>;
  let service: Service;
  let answers: Answer[] = [];
  let recipientRefusals = 0;
  const accepted: CapturedMail[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    slack = await startSlackFake({ botToken: BOT_TOKEN, channelMembers: { [APPROVALS]: [ALICE] } });
    smtp = await startSmtpCapture({
      answer: (mail) => {
        const answer = answers.shift() ?? 'accept';
        if (answer === 'accept') accepted.push(mail);
        return answer;
      },
      refuseRecipient: () => (recipientRefusals-- > 0 ? { code: 451, message: '4.3.0 Try again later' } : null),
    });
    const config = loadConfig({
      envFile: null,
      env: {
        DATABASE_URL: database.databaseUrl ?? '',
        DATA_DIR: database.dataDir,
        PORT: '0',
        LOG_LEVEL: 'silent',
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: slack.apiUrl,
        SLACK_APPROVALS_CHANNEL: APPROVALS,
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(smtp.port),
        SMTP_TLS: 'false',
        MAIL_FROM: 'Acme Ops <ops@team.example>',
      },
    });
    service = await startService(config, {
      host: '127.0.0.1',
      jobPollMs: 200,
      shutdownGraceMs: 500,
      smtpSocketTimeoutMs: 1500,
      reconcileEveryMs: 1000,
      reconcile: { graceMs: 1000 },
    });
  });

  afterAll(async () => {
    await service?.stop();
    await Promise.all([slack?.close(), smtp?.close()]);
    await database?.drop();
  });

  beforeEach(() => {
    answers = [];
    recipientRefusals = 0;
  });

  const prisma = () => service.database.prisma;
  const sql = (text: string) => prisma().$executeRawUnsafe(text);
  const url = () => `http://127.0.0.1:${service.port}/slack/events`;

  /** An email and its pending draft, as the draft job leaves them; the reconciler posts the card. */
  async function postedDraft(subject: string) {
    const email = await prisma().email.create({
      data: { messageId: `<${randomUUID()}@client.example>`, mailbox: 'test', subject, text: 'Could you confirm?', raw: new Uint8Array(Buffer.from('x')), fromAddress: 'dana@client.example' },
    });
    const draft = await prisma().draft.create({
      data: { emailId: email.id, toAddress: 'dana@client.example', subject: `Re: ${subject}`, body: `Confirmed: ${subject}.`, inReplyTo: email.messageId, references: [email.messageId] },
    });
    return waitUntil(`the draft "${subject}" to be posted`, () => prisma().draft.findFirst({ where: { id: draft.id, slackDraftTs: { not: null } } }));
  }

  function click(draft: { id: string; slackDraftTs: string | null }, actionId = 'draft_approve') {
    return sendSignedInteraction(url(), SIGNING_SECRET, buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: draft.slackDraftTs ?? '', actionId, value: draft.id }));
  }

  const status = async (id: string) => (await prisma().draft.findUniqueOrThrow({ where: { id } })).status;
  const received = (subject: string) => smtp.messages.filter((mail) => mail.parsed.subject === `Re: ${subject}`);
  const acceptedFor = (subject: string) => accepted.filter((mail) => mail.parsed.subject === `Re: ${subject}`);
  const updatesOf = (ts: string | null) => slack.callsTo('chat.update').filter((call) => call.args.ts === ts).map((call) => JSON.stringify(call.args.blocks));
  const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('sends once when the database fails after the server accepted: only the bookkeeping is retried', async () => {
    const draft = await postedDraft('Accepted then the database failed');
    // From the approval on, recording "sent" fails, as in a database outage of a few seconds.
    await sql(`CREATE FUNCTION refuse_sent() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'simulated outage'; END $$`);
    await sql(`CREATE TRIGGER refuse_sent BEFORE UPDATE ON drafts FOR EACH ROW WHEN (NEW.status = 'sent') EXECUTE FUNCTION refuse_sent()`);
    try {
      expect((await click(draft)).status).toBe(200);
      await waitUntil('the server to accept the reply', () => acceptedFor('Accepted then the database failed').length === 1);
      await settle(3000);
      expect(await status(draft.id)).toBe('sending');
    } finally {
      await sql('DROP TRIGGER refuse_sent ON drafts');
      await sql('DROP FUNCTION refuse_sent()');
    }
    await waitUntil('the draft to be recorded as sent', async () => (await status(draft.id)) === 'sent', 30_000);
    await settle(1500);
    expect(received('Accepted then the database failed')).toHaveLength(1);
    expect(await prisma().auditEntry.count({ where: { entityId: draft.id, action: 'reply.sent' } })).toBe(1);
    expect(updatesOf(draft.slackDraftTs).at(-1)).toContain('sent to dana@client.example');
  });

  it('shows a reply as "may have been sent" when the server stalls after the data, never resends it alone, and resends on purpose with the same Message-ID', async () => {
    const draft = await postedDraft('Stalled after data');
    answers = ['hang'];
    await click(draft);
    await waitUntil('the draft to be shown as may have been sent', async () => (await status(draft.id)) === 'unknown', 20_000);
    const card = await waitUntil('the card to say so', () => updatesOf(draft.slackDraftTs).find((blocks) => blocks.includes('may have been sent')));
    expect(card).toContain('draft_resend');
    expect(card).toContain('Send again');
    expect(card).not.toContain('draft_approve');
    // The reconciler runs every second: nothing is resent on its own.
    await settle(3500);
    expect(received('Stalled after data')).toHaveLength(1);
    expect(await status(draft.id)).toBe('unknown');

    const report = formatStatus(await readStatus(service.database));
    expect(report).toContain(draft.id);
    expect(report).toContain('may have been sent');

    expect((await click(draft, 'draft_resend')).status).toBe(200);
    await waitUntil('the resend to be recorded', async () => (await status(draft.id)) === 'sent');
    const copies = received('Stalled after data');
    expect(copies).toHaveLength(2);
    expect(copies[1]?.parsed.messageId).toBe(copies[0]?.parsed.messageId);
    const stored = await prisma().draft.findUniqueOrThrow({ where: { id: draft.id } });
    expect(stored.sentMessageId).toBe(copies[0]?.parsed.messageId);
    const actions = (await prisma().auditEntry.findMany({ where: { entityId: draft.id }, orderBy: { id: 'asc' } })).map((entry) => entry.action);
    expect(actions).toEqual(expect.arrayContaining(['draft.approved', 'reply.outcome-unknown', 'draft.resend', 'reply.sent']));
  });

  it('retries a temporary refusal before the data and sends once', async () => {
    const draft = await postedDraft('Greylisted');
    recipientRefusals = 2;
    await click(draft);
    await waitUntil('the reply to go out after the refusals', async () => (await status(draft.id)) === 'sent', 30_000);
    expect(received('Greylisted')).toHaveLength(1);
    expect((await prisma().draft.findUniqueOrThrow({ where: { id: draft.id } })).sendAttempts).toBe(3);
  });

  it('shows a permanent refusal as failed with a Retry button that sends once', async () => {
    const draft = await postedDraft('Mailbox full');
    answers = [{ code: 552, message: '5.2.2 Mailbox full' }];
    await click(draft);
    await waitUntil('the draft to fail', async () => (await status(draft.id)) === 'failed');
    const card = await waitUntil('the card to show the failure', () => updatesOf(draft.slackDraftTs).find((blocks) => blocks.includes('sending failed')));
    expect(card).toContain('Mailbox full');
    expect(card).toContain('draft_resend');
    await settle(2500);
    expect(received('Mailbox full')).toHaveLength(1);

    await click(draft, 'draft_resend');
    await waitUntil('the retry to send', async () => (await status(draft.id)) === 'sent');
    expect(acceptedFor('Mailbox full')).toHaveLength(1);
  });

  it('finishes an approval whose send was never enqueued (a crash between the two)', async () => {
    const draft = await postedDraft('Approved then crashed');
    await prisma().draft.update({ where: { id: draft.id }, data: { status: 'approved', decidedBy: ALICE, decidedAt: new Date() } });
    await waitUntil('the reconciler to send it', async () => (await status(draft.id)) === 'sent', 20_000);
    expect(received('Approved then crashed')).toHaveLength(1);
  });

  it('after a crash in sending: sends again when the data never left, shows "may have been sent" when it had', async () => {
    const before = await postedDraft('Crashed before the data');
    const after = await postedDraft('Crashed after the data');
    const messageId = `<${randomUUID()}@team.example>`;
    const longAgo = new Date(Date.now() - 60_000);
    await prisma().draft.update({ where: { id: before.id }, data: { status: 'sending', decidedBy: ALICE, decidedAt: longAgo, sendAttempts: 1, sentMessageId: messageId, sendingStartedAt: longAgo } });
    await prisma().draft.update({ where: { id: after.id }, data: { status: 'sending', decidedBy: ALICE, decidedAt: longAgo, sendAttempts: 1, sentMessageId: `<${randomUUID()}@team.example>`, sendingStartedAt: longAgo, dataStartedAt: longAgo } });

    await waitUntil('the unsent one to be sent', async () => (await status(before.id)) === 'sent', 20_000);
    expect(received('Crashed before the data').map((mail) => mail.parsed.messageId)).toEqual([messageId]);
    await waitUntil('the other to be shown as uncertain', async () => (await status(after.id)) === 'unknown', 20_000);
    await waitUntil('its card to say so', () => updatesOf(after.slackDraftTs).find((blocks) => blocks.includes('may have been sent')));
    expect(received('Crashed after the data')).toHaveLength(0);
  });

  it('writes a decision and its audit entry together: when the audit write fails, the draft is not approved', async () => {
    const draft = await postedDraft('Audit must not be missing');
    await sql(`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'simulated audit failure'; END $$`);
    await sql(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW WHEN (NEW.action = 'draft.approved') EXECUTE FUNCTION refuse_audit()`);
    try {
      await click(draft);
      await settle(1000);
      expect(await status(draft.id)).toBe('pending');
    } finally {
      await sql('DROP TRIGGER refuse_audit ON audit_log');
      await sql('DROP FUNCTION refuse_audit()');
    }
    await click(draft);
    await waitUntil('the approval to send', async () => (await status(draft.id)) === 'sent');
    expect(await prisma().auditEntry.count({ where: { entityId: draft.id, action: 'draft.approved' } })).toBe(1);
  });

  it('adopts the card a crashed run posted instead of posting a second one with live buttons', async () => {
    // Saving the card's ts fails once Slack has it, as if the process died right after posting.
    await sql(`CREATE FUNCTION refuse_card() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'simulated crash after posting'; END $$`);
    await sql(`CREATE TRIGGER refuse_card BEFORE UPDATE ON drafts FOR EACH ROW WHEN (OLD.slack_card_ts IS NULL AND NEW.slack_card_ts IS NOT NULL) EXECUTE FUNCTION refuse_card()`);
    const cardsBefore = slack.callsTo('chat.postMessage').filter((call) => !call.args.thread_ts).length;
    const email = await prisma().email.create({
      data: { messageId: `<${randomUUID()}@client.example>`, mailbox: 'test', subject: 'Posted then crashed', text: 'Hello', raw: new Uint8Array(Buffer.from('x')), fromAddress: 'dana@client.example' },
    });
    const draft = await prisma().draft.create({ data: { emailId: email.id, toAddress: 'dana@client.example', subject: 'Re: Posted then crashed', body: 'Hi Dana', references: [] } });
    try {
      await waitUntil('the card to be posted', () => slack.callsTo('chat.postMessage').filter((call) => !call.args.thread_ts).length > cardsBefore);
      await settle(1500);
    } finally {
      await sql('DROP TRIGGER refuse_card ON drafts');
      await sql('DROP FUNCTION refuse_card()');
    }
    const posted = await waitUntil('the draft message to be posted', () => prisma().draft.findFirst({ where: { id: draft.id, slackDraftTs: { not: null } } }), 30_000);
    const cards = slack.callsTo('chat.postMessage').filter((call) => !call.args.thread_ts);
    expect(cards.length - cardsBefore).toBe(1);
    expect(slack.callsTo('conversations.history').length).toBeGreaterThan(0);
    const drafts = slack.callsTo('chat.postMessage').filter((call) => call.args.thread_ts === posted.slackCardTs);
    expect(drafts).toHaveLength(1);
  });
  it('updates the message an approver clicked even when a crash kept its ts from being saved', async () => {
    await sql(`CREATE FUNCTION refuse_draft_ts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'simulated crash after posting the draft'; END $$`);
    await sql(`CREATE TRIGGER refuse_draft_ts BEFORE UPDATE ON drafts FOR EACH ROW WHEN (OLD.slack_draft_ts IS NULL AND NEW.slack_draft_ts IS NOT NULL) EXECUTE FUNCTION refuse_draft_ts()`);
    const email = await prisma().email.create({
      data: { messageId: `<${randomUUID()}@client.example>`, mailbox: 'test', subject: 'Clicked before saved', text: 'Hello', raw: new Uint8Array(Buffer.from('x')), fromAddress: 'dana@client.example' },
    });
    const draft = await prisma().draft.create({ data: { emailId: email.id, toAddress: 'dana@client.example', subject: 'Re: Clicked before saved', body: 'Hi Dana, yes.', references: [] } });
    let messageTs: string;
    try {
      const posted = await waitUntil('the draft message to reach Slack', () =>
        slack.callsTo('chat.postMessage').find((call) => call.args.thread_ts && JSON.stringify(call.args.metadata ?? '').includes(draft.id)),
      );
      messageTs = String(posted.reply?.ts ?? '');
    } finally {
      await sql('DROP TRIGGER refuse_draft_ts ON drafts');
      await sql('DROP FUNCTION refuse_draft_ts()');
    }
    expect((await prisma().draft.findUniqueOrThrow({ where: { id: draft.id } })).slackDraftTs).toBeNull();
    await click({ id: draft.id, slackDraftTs: messageTs });
    await waitUntil('the reply to be sent', async () => (await status(draft.id)) === 'sent');
    const shown = await waitUntil('the clicked message to show it was sent', () => updatesOf(messageTs).find((blocks) => blocks.includes('sent to dana@client.example')));
    expect(shown).not.toContain('draft_approve');
    await settle(2500);
    expect(slack.callsTo('chat.postMessage').filter((call) => JSON.stringify(call.args.metadata ?? '').includes(draft.id) && call.args.thread_ts)).toHaveLength(1);
    expect(updatesOf(messageTs).at(-1)).not.toContain('draft_approve');
  });
});
