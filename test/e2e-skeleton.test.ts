import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { startService, type Service } from '../src/main.ts';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { buttonClick, modalSubmission, sendSignedInteraction, startSlackFake, type SlackFake } from './fakes/slack-fake.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.ts';
import { deliver, freshMailboxUser } from './support/mailbox.ts';
import { testServices } from './support/services.ts';
import { startSmtpCapture } from './support/smtp-capture.ts';
import { databaseEnv, slackEnv, imapEnv, smtpEnv } from './support/service-env.ts';
import { waitUntil } from './support/wait.ts';

/**
 * The path that matters most, through real parts: a teammate forwards a client's email to the
 * shared mailbox (Dovecot, delivered over LMTP), Adjutant stores and remembers it, Claude (an
 * HTTP fake of the Messages API) drafts a reply, the card and draft appear in Slack (an HTTP fake
 * of the Web API), an approver clicks Approve (a signed block_actions request to our HTTP
 * receiver), and the reply leaves over SMTP (a real SMTP server) exactly once.
 */
const BOT_TOKEN = 'xoxb-test-bot-token';
const SIGNING_SECRET = 'test-signing-secret-0123456789';
const APPROVALS = 'C0APPROVALS';
const ALICE = 'U0ALICE'; // member of the approvals channel
const MALLORY = 'U0MALLORY'; // not a member
const DRAFT_TEXT = 'Hi Dana,\n\nThe invoice for PO 7781 went out on Friday; the signed PO is attached.\n\nBest,\nAcme Ops';
const FORWARD = readFileSync(new URL('./fixtures/email/attached-rfc822-forward.eml', import.meta.url));
const SECOND_FORWARD = readFileSync(new URL('./fixtures/email/gmail-forward.eml', import.meta.url));

describe.each<DatabaseKind>(['postgres', 'pglite'])('forward → draft → approve → sent (%s)', (kind) => {
  let database: TestDatabase;
  let slack: SlackFake;
  let anthropic: AnthropicFake;
  let smtp: Awaited<ReturnType<typeof startSmtpCapture>>;
  let service: Service;
  const mailboxUser = freshMailboxUser(`e2e-${kind}`);

  beforeAll(async () => {
    const services = testServices();
    database = await createTestDatabase(kind);
    slack = await startSlackFake({ botToken: BOT_TOKEN, channelMembers: { [APPROVALS]: [ALICE, 'U0BOB'] }, usersByEmail: { 'sam@team.example': 'U0SAM' } });
    anthropic = await startAnthropicFake({ apiKey: 'sk-ant-test-key', respond: () => JSON.stringify({ body: DRAFT_TEXT, sources: [], confidence: 0.85, rationale: 'Says when the invoice went out, as Sam asked.' }) });
    smtp = await startSmtpCapture();
    const config = loadConfig({
      envFile: null,
      env: {
        ...databaseEnv(database),
        ...slackEnv({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, apiUrl: slack.apiUrl, approvalsChannel: APPROVALS }),
        ...imapEnv(mailboxUser),
        ...smtpEnv(smtp.port),
        MAIL_FROM: 'Acme Ops <ops@team.example>',
        TEAM_DOMAINS: 'team.example',
        ANTHROPIC_API_KEY: 'sk-ant-test-key',
        ANTHROPIC_BASE_URL: anthropic.url,
      },
    });
    // A real account has a Sent folder (special-use \Sent in the test server's config); Adjutant files copies there.
    const { ImapFlow } = await import('imapflow');
    const imap = new ImapFlow({ host: services.imapHost, port: services.imapPort, secure: false, doSTARTTLS: false, auth: { user: mailboxUser, pass: services.imapPassword }, logger: false } as ConstructorParameters<typeof ImapFlow>[0]);
    await imap.connect();
    await imap.mailboxCreate('Sent');
    await imap.logout();
    service = await startService(config, { host: '127.0.0.1', jobPollMs: 200, shutdownGraceMs: 1000 });
    await waitUntil('the watcher to watch the mailbox', () => service.watcher?.health().state === 'watching');
  });

  afterAll(async () => {
    await service?.stop();
    await Promise.all([slack?.close(), anthropic?.close(), smtp?.close()]);
    await database?.drop();
  });

  it('drafts a reply to the original sender and posts it for approval', async () => {
    await deliver(mailboxUser, FORWARD, 'sam@team.example');

    // Card in the approvals channel, then the draft with buttons in its thread.
    const posts = await slack.waitFor('chat.postMessage', 2, 30_000);
    const [card, draftPost] = posts;
    expect(card?.args.channel).toBe(APPROVALS);
    expect(JSON.stringify(card?.args.blocks)).toContain('Dana Client');
    expect(JSON.stringify(card?.args.blocks)).toContain('Forwarded by <@U0SAM>');
    expect(JSON.stringify(card?.args.blocks)).toContain('Tell them the invoice went out on Friday');
    expect(draftPost?.args.thread_ts).toBeTruthy();
    // The email is remembered, its sender is a contact, and search results about it link to the card.
    const cardTs = String((card?.reply as { ts?: string } | undefined)?.ts);
    await waitUntil('the card link on the remembered email', async () => {
      const rows = await service.database.pool.query<{ url: string | null; counterparty: string | null }>("SELECT url, counterparty FROM memory_items WHERE kind = 'email'");
      return rows.rows[0]?.url === `https://fake.slack.test/archives/${APPROVALS}/p${cardTs.replace('.', '')}` && rows.rows[0]?.counterparty === 'dana@client.example';
    });
    const contact = await service.database.pool.query<{ address: string; email_count: number }>('SELECT address, email_count FROM contacts');
    expect(contact.rows).toEqual([{ address: 'dana@client.example', email_count: 1 }]);
    const draftBlocks = JSON.stringify(draftPost?.args.blocks);
    expect(draftBlocks).toContain('went out on Friday; the signed PO is attached');
    expect(draftBlocks).toContain('draft_approve');
    expect(draftBlocks).toContain('draft_reject');
    expect(draftBlocks).toContain('Confidence 85% — Says when the invoice went out, as Sam asked.');

    // The model got the teammate's note as the instruction and the client's email as data.
    const request = anthropic.requests.at(-1)?.body;
    const userTurn = JSON.stringify(request?.messages);
    expect(userTurn).toContain('Tell them the invoice went out on Friday');
    expect(userTurn).toContain('Our AP team needs the invoice for PO 7781');
    expect(JSON.stringify(request?.system)).toContain('untrusted');

    // Stored once with its raw source and the recovered original.
    const emails = await service.database.prisma.email.findMany();
    expect(emails).toHaveLength(1);
    expect(emails[0]?.isForward).toBe(true);
    expect(emails[0]?.originalFrom).toBe('dana@client.example');
    // The raw source is kept whole (the delivering server only adds trace headers on top).
    const normalise = (text: string) => text.replace(/\r\n/g, '\n').trim();
    expect(normalise(Buffer.from(emails[0]?.raw ?? []).toString('utf8'))).toContain(normalise(FORWARD.toString('utf8')));
    const chunks = await service.database.prisma.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM memory_chunks WHERE search_vector @@ plainto_tsquery('english', 'invoice payment run')`;
    expect(Number(chunks[0]?.n)).toBeGreaterThan(0);
  });

  it('refuses forged or non-approver clicks and sends nothing', async () => {
    const draft = await service.database.prisma.draft.findFirstOrThrow();
    const url = `http://127.0.0.1:${service.port}/slack/events`;
    const click = buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: draft.slackDraftTs ?? '', actionId: 'draft_approve', value: draft.id });

    const forged = await sendSignedInteraction(url, 'not-the-secret', click);
    expect(forged.status).toBe(401);
    const stale = await sendSignedInteraction(url, SIGNING_SECRET, click, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect(stale.status).toBe(401);

    const outsider = await sendSignedInteraction(url, SIGNING_SECRET, { ...click, user: { id: MALLORY, username: 'mallory', name: 'mallory', team_id: 'T000FAKE' } });
    expect(outsider.status).toBe(200);
    const ephemeral = await slack.waitFor('chat.postEphemeral', 1);
    expect(ephemeral[0]?.args.user).toBe(MALLORY);
    expect(String(ephemeral[0]?.args.text)).toContain('Only approvers');

    expect((await service.database.prisma.draft.findUniqueOrThrow({ where: { id: draft.id } })).status).toBe('pending');
    expect(smtp.messages).toHaveLength(0);
  });

  it('sends the reply once when an approver clicks Approve, even twice and with a Slack retry', async () => {
    const draft = await service.database.prisma.draft.findFirstOrThrow();
    const url = `http://127.0.0.1:${service.port}/slack/events`;
    const click = buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: draft.slackDraftTs ?? '', actionId: 'draft_approve', value: draft.id });

    const [first, second] = await Promise.all([sendSignedInteraction(url, SIGNING_SECRET, click), sendSignedInteraction(url, SIGNING_SECRET, click)]);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    const retry = await sendSignedInteraction(url, SIGNING_SECRET, click, { retryNum: 1 });
    expect(retry.status).toBe(200);

    const [sent] = await smtp.waitFor(1, 30_000);
    expect(sent?.envelope.to).toEqual(['dana@client.example']);
    expect(sent?.envelope.from).toBe('ops@team.example');
    expect(sent?.parsed.from?.value[0]?.address).toBe('ops@team.example');
    expect(sent?.parsed.subject).toBe('Re: Invoice timing – PO 7781');
    expect(sent?.parsed.inReplyTo).toBe('<20250106174803.4f2a9c1e@mail.client.example>');
    expect(sent?.parsed.references).toEqual([
      '<CAJx7aa1bB2cC3dD4eE5fF6gG@mail.gmail.com>',
      '<CAJx9fN8wQ2rT5yU7iO9pA1sD3fG@mail.gmail.com>',
      '<20250106174803.4f2a9c1e@mail.client.example>',
    ]);
    expect(sent?.parsed.text?.trim()).toBe(DRAFT_TEXT);

    // The draft message in Slack now says who approved, when, and that it went out.
    const updated = await waitUntil('the Slack message to show the reply was sent', () =>
      slack.callsTo('chat.update').find((call) => call.args.ts === draft.slackDraftTs && JSON.stringify(call.args.blocks).includes('sent to dana@client.example')),
    );
    expect(JSON.stringify(updated.args.blocks)).toMatch(/Approved by <@U0ALICE> at \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    expect(JSON.stringify(updated.args.blocks)).not.toContain('draft_approve');

    const stored = await service.database.prisma.draft.findUniqueOrThrow({ where: { id: draft.id } });
    expect(stored.status).toBe('sent');

    // A copy of exactly what went out is in the mailbox's Sent folder, for the team's mail client.
    const filed = await waitUntil('the reply to be filed in Sent', async () => {
      const { ImapFlow } = await import('imapflow');
      const services = testServices();
      const client = new ImapFlow({ host: services.imapHost, port: services.imapPort, secure: false, doSTARTTLS: false, auth: { user: mailboxUser, pass: services.imapPassword }, logger: false } as ConstructorParameters<typeof ImapFlow>[0]);
      await client.connect();
      try {
        await client.mailboxOpen('Sent');
        const message = await client.fetchOne('*', { source: true });
        return message && message.source ? message.source.toString('utf8') : null;
      } catch {
        return null;
      } finally {
        await client.logout().catch(() => undefined);
      }
    });
    expect(filed).toContain(`Message-ID: ${sent?.parsed.messageId}`);
    expect(stored.decidedBy).toBe(ALICE);
    expect(stored.sentMessageId).toBe(sent?.parsed.messageId);

    // One more click after sending: still exactly one email.
    const late = await sendSignedInteraction(url, SIGNING_SECRET, click);
    expect(late.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(smtp.messages).toHaveLength(1);

    const email = await service.database.prisma.email.findFirstOrThrow();
    const trail = await service.database.prisma.auditEntry.findMany({ orderBy: { id: 'asc' } });
    const actions = trail.map((entry) => entry.action);
    expect(actions).toEqual(
      expect.arrayContaining(['email.received', 'memory.stored', 'draft.created', 'approval.posted', 'draft.approve.refused', 'draft.approved', 'reply.sent']),
    );
    expect(actions.filter((action) => action === 'draft.approved')).toHaveLength(1);
    expect(actions.filter((action) => action === 'reply.sent')).toHaveLength(1);
    expect(trail.find((entry) => entry.action === 'email.received')?.entityId).toBe(email.id);
    expect(trail.find((entry) => entry.action === 'draft.approved')?.actor).toBe(ALICE);

    // The audit log cannot be rewritten.
    await expect(service.database.prisma.auditEntry.deleteMany()).rejects.toThrow(/append-only/);
  });
  it('marks a rejected draft rejected, shows who rejected it, and sends nothing', async () => {
    await deliver(mailboxUser, SECOND_FORWARD, 'sam@team.example');
    const draft = await waitUntil('the second draft to be posted', () =>
      service.database.prisma.draft.findFirst({ where: { subject: 'Re: Rescheduling our kickoff', slackDraftTs: { not: null } } }),
    );
    if (!draft.slackDraftTs) throw new Error('the draft has no Slack message');
    const url = `http://127.0.0.1:${service.port}/slack/events`;
    const click = buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: draft.slackDraftTs, actionId: 'draft_reject', value: draft.id });
    expect((await sendSignedInteraction(url, SIGNING_SECRET, click)).status).toBe(200);
    // Reject asks why (optional) in a modal; nothing is decided until it is submitted.
    const [opened] = await slack.waitFor('views.open', 1);
    const view = opened?.args.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe('draft_reject_modal');
    expect((await service.database.prisma.draft.findUniqueOrThrow({ where: { id: draft.id } })).status).toBe('pending');
    const submit = modalSubmission({ userId: ALICE, callbackId: view.callback_id, privateMetadata: view.private_metadata, text: 'They asked for Thursday, not Friday.' });
    expect((await sendSignedInteraction(url, SIGNING_SECRET, submit)).status).toBe(200);

    // Answered at once; the decision follows.
    const stored = await waitUntil('the rejection', async () => {
      const current = await service.database.prisma.draft.findUniqueOrThrow({ where: { id: draft.id } });
      return current.status === 'rejected' ? current : null;
    });
    expect(stored.decidedBy).toBe(ALICE);
    expect(stored.decisionNote).toBe('They asked for Thursday, not Friday.');
    const update = await waitUntil('the rejection to show in Slack', () => slack.callsTo('chat.update').find((call) => call.args.ts === draft.slackDraftTs));
    expect(JSON.stringify(update.args.blocks)).toMatch(/Rejected by <@U0ALICE> at \d{4}-\d\d-\d\d \d\d:\d\d UTC: “They asked for Thursday, not Friday.”/);
    // Kept as a lesson for later drafts to this contact.
    const lessons = await service.database.prisma.feedback.findMany({ where: { draftId: draft.id } });
    expect(lessons.map((lesson) => [lesson.kind, lesson.text, lesson.givenBy])).toEqual([['rejected', 'They asked for Thursday, not Friday.', ALICE]]);
    expect(JSON.stringify(update.args.blocks)).not.toContain('draft_approve');

    // Approving after a rejection changes nothing.
    const approve = { ...click, actions: [{ ...(click.actions as Record<string, unknown>[])[0], action_id: 'draft_approve' }] };
    expect((await sendSignedInteraction(url, SIGNING_SECRET, approve)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await service.database.prisma.draft.findUniqueOrThrow({ where: { id: draft.id } })).status).toBe('rejected');
    expect(smtp.messages).toHaveLength(1);
    const rejected = await service.database.prisma.auditEntry.findMany({ where: { entityId: draft.id, action: 'draft.rejected' } });
    expect(rejected).toHaveLength(1);
  });
  it('treats a forged teammate as outside mail: a warning card, no draft, no instruction followed', async () => {
    // The sender wrote a team From: and a passing Authentication-Results of its own below the one
    // the receiving server added, which says DMARC failed.
    const forged = SECOND_FORWARD.toString('utf8')
      .replace('Message-ID: <', 'Message-ID: <forged-')
      .replace(/^Authentication-Results: mx\.team\.example;[\s\S]*?header\.from=team\.example\r?\n/m, (header) =>
        `Authentication-Results: mx.team.example; dmarc=fail (p=REJECT) header.from=team.example\r\n${header}`,
      );
    expect(forged).toContain('dmarc=fail');
    const modelCalls = anthropic.requests.length;
    const drafts = await service.database.prisma.draft.count();
    await deliver(mailboxUser, forged, 'attacker@evil.example');

    const notice = await waitUntil('a warning card', () =>
      slack.callsTo('chat.postMessage').find((call) => JSON.stringify(call.args.blocks ?? '').includes('Sender could not be verified')),
    );
    expect(JSON.stringify(notice.args.blocks)).not.toContain('draft_approve');
    expect(JSON.stringify(notice.args.blocks)).toContain('dmarc=fail');
    const email = await service.database.prisma.email.findFirstOrThrow({ where: { messageId: { startsWith: '<forged-' } } });
    expect(email.isForward).toBe(false);
    expect(email.instruction).toBeNull();
    expect(email.claimedTeammate).toBe('sam@team.example');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await service.database.prisma.draft.count()).toBe(drafts);
    expect(anthropic.requests.length).toBe(modelCalls);
  });
});
