import { randomUUID } from 'node:crypto';
import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnthropicChatModel } from '../src/brains/anthropic/anthropic-chat-model.ts';
import { createModelRouter } from '../src/brains/router.ts';
import { createSlackPoster } from '../src/channels/slack/slack-poster.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createAuditLog } from '../src/memory/audit.ts';
import { createEmailStore } from '../src/memory/email-store.ts';
import { createMemory } from '../src/memory/memory.ts';
import { createDraftStore } from '../src/orchestrator/draft-store.ts';
import { JOB_POST_APPROVAL } from '../src/orchestrator/job-names.ts';
import { createJobQueue } from '../src/orchestrator/job-queue.ts';
import { followUpDraftJob } from '../src/orchestrator/jobs/follow-up-draft.ts';
import { followUpsJob } from '../src/orchestrator/jobs/follow-ups.ts';
import type { PipelineDeps } from '../src/orchestrator/pipeline-deps.ts';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { startSlackFake, type SlackFake } from './fakes/slack-fake.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';

/**
 * Nothing forgotten, with a clock the test controls: a draft waiting long for approval is
 * reminded once, a sent reply with no answer is raised on day N (not on day N−1, not when an
 * answer came), a promised date is raised on its day, and Draft a follow-up writes one.
 */
const logger = createLogger({ level: 'silent' });
const APPROVALS = 'C0APPROVALS';
const DAY = 24 * 3_600_000;

describe('follow-ups (postgres)', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let slack: SlackFake;
  let anthropic: AnthropicFake;

  beforeAll(async () => {
    testDatabase = await createTestDatabase('postgres');
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    slack = await startSlackFake({ botToken: 'xoxb-follow' });
    anthropic = await startAnthropicFake({ apiKey: 'sk-ant-follow', respond: () => JSON.stringify({ body: 'Dear Dana,\n\nDid our note of Monday reach you?\n\nAcme Ops', sources: [], confidence: 0.8, rationale: 'A short nudge.' }) });
  });
  afterAll(async () => {
    await Promise.all([slack?.close(), anthropic?.close()]);
    await database?.close();
    await testDatabase?.drop();
  });

  const poster = () => createSlackPoster(new WebClient('xoxb-follow', { slackApiUrl: slack.apiUrl }));
  const job = (now: Date, followUpAfterDays = 3) => followUpsJob({ database, slack: { poster: poster(), approvalsChannel: APPROVALS }, followUpAfterDays, timezone: 'Europe/Berlin', now: () => now, logger });
  const run = (now: Date, followUpAfterDays = 3) => job(now, followUpAfterDays).run({}, { attempt: 1, lastAttempt: false });
  const repliesIn = (threadTs: string) => slack.callsTo('chat.postMessage').filter((call) => call.args.thread_ts === threadTs);

  async function conversationWith(input: { subject: string; receivedAt: Date; draft: { status: string; createdAt: Date; sentAt?: Date; cardTs: string }; dates?: { date: string; what: string; kind: string }[] }) {
    const conversationId = randomUUID();
    const email = await database.prisma.email.create({
      data: { messageId: `<${randomUUID()}@client.example>`, mailbox: 'INBOX', fromAddress: 'dana@client.example', subject: input.subject, text: 'Hello', raw: Buffer.from(''), receivedAt: input.receivedAt, conversationId, triageCategory: 'needs_reply', triageUrgency: 'normal', ...(input.dates ? { triageDetails: { people: [], organisations: [], dates: input.dates } } : {}) },
    });
    const draft = await database.prisma.draft.create({
      data: { emailId: email.id, toAddress: 'dana@client.example', subject: `Re: ${input.subject}`, body: 'We will deliver on Friday.', status: input.draft.status, createdAt: input.draft.createdAt, sentAt: input.draft.sentAt ?? null, sentMessageId: input.draft.sentAt ? `<${randomUUID()}@team.example>` : null, slackChannel: APPROVALS, slackCardTs: input.draft.cardTs },
    });
    return { email, draft, conversationId };
  }

  it('reminds once about a draft that has waited more than four hours', async () => {
    const now = new Date('2026-11-24T15:00:00Z');
    await conversationWith({ subject: 'Waiting draft', receivedAt: new Date('2026-11-24T09:00:00Z'), draft: { status: 'pending', createdAt: new Date('2026-11-24T09:05:00Z'), cardTs: '1700000001.000001' } });
    await conversationWith({ subject: 'Fresh draft', receivedAt: new Date('2026-11-24T13:00:00Z'), draft: { status: 'pending', createdAt: new Date('2026-11-24T13:05:00Z'), cardTs: '1700000002.000001' } });
    await Promise.all([run(now), run(now)]);
    await run(new Date(now.getTime() + 3_600_000));
    expect(repliesIn('1700000001.000001').map((call) => call.args.text)).toEqual(['⏰ This draft has been waiting for approval for 5 h.']);
    expect(repliesIn('1700000002.000001')).toEqual([]);
  });

  it('raises a sent reply with no answer on day N with a Draft a follow-up button, not on day N−1, and not when they answered', async () => {
    const sentAt = new Date('2026-11-20T10:00:00Z');
    const quiet = await conversationWith({ subject: 'Quiet customer', receivedAt: new Date('2026-11-20T09:00:00Z'), draft: { status: 'sent', createdAt: new Date('2026-11-20T09:05:00Z'), sentAt, cardTs: '1700000003.000001' } });
    const answered = await conversationWith({ subject: 'Chatty customer', receivedAt: new Date('2026-11-20T09:00:00Z'), draft: { status: 'sent', createdAt: new Date('2026-11-20T09:05:00Z'), sentAt, cardTs: '1700000004.000001' } });
    await database.prisma.email.create({ data: { messageId: '<answer@client.example>', mailbox: 'INBOX', fromAddress: 'dana@client.example', subject: 'Re: Re: Chatty customer', text: 'Thanks!', raw: Buffer.from(''), receivedAt: new Date('2026-11-22T08:00:00Z'), conversationId: answered.conversationId } });

    await run(new Date(sentAt.getTime() + 2 * DAY + 3_600_000));
    expect(repliesIn('1700000003.000001')).toEqual([]);
    await run(new Date(sentAt.getTime() + 3 * DAY + 3_600_000));
    await run(new Date(sentAt.getTime() + 4 * DAY));
    const raised = repliesIn('1700000003.000001');
    expect(raised).toHaveLength(1);
    expect(String(raised[0]?.args.text)).toBe('📭 No answer from dana@client.example since our reply on 2026-11-20.');
    expect(JSON.stringify(raised[0]?.args.blocks)).toContain(`"action_id":"draft_follow_up"`);
    expect(JSON.stringify(raised[0]?.args.blocks)).toContain(quiet.draft.id);
    expect(repliesIn('1700000004.000001')).toEqual([]);
    // FOLLOW_UP_AFTER_DAYS=0 raises nothing.
    await conversationWith({ subject: 'Off', receivedAt: new Date('2026-11-01T09:00:00Z'), draft: { status: 'sent', createdAt: new Date('2026-11-01T09:05:00Z'), sentAt: new Date('2026-11-01T10:00:00Z'), cardTs: '1700000005.000001' } });
    await run(new Date('2026-11-25T10:00:00Z'), 0);
    expect(repliesIn('1700000005.000001')).toEqual([]);
  });

  it('raises a promised date on its day in the team’s time zone, once', async () => {
    await conversationWith({ subject: 'Delivery promise', receivedAt: new Date('2026-11-20T09:00:00Z'), draft: { status: 'sent', createdAt: new Date('2026-11-20T09:05:00Z'), sentAt: new Date('2026-11-26T10:00:00Z'), cardTs: '1700000006.000001' }, dates: [{ date: '2026-11-27', what: 'deliver the six oak tables', kind: 'promised' }] });
    // 23:30 UTC on the 26th is already the 27th in Berlin.
    await run(new Date('2026-11-26T23:30:00Z'));
    await run(new Date('2026-11-27T08:00:00Z'));
    expect(repliesIn('1700000006.000001').map((call) => call.args.text)).toEqual(['📅 Due today: deliver the six oak tables (from “Delivery promise”).']);
  });

  it('drafts a follow-up to the same recipient, threaded under our reply, posted for approval', async () => {
    const sentAt = new Date('2026-11-10T10:00:00Z');
    const { draft } = await conversationWith({ subject: 'Needs a nudge', receivedAt: new Date('2026-11-10T09:00:00Z'), draft: { status: 'sent', createdAt: new Date('2026-11-10T09:05:00Z'), sentAt, cardTs: '1700000007.000001' } });
    const queue = createJobQueue({ pool: database.pool, embedded: false, logger });
    const deps = {
      queue,
      emails: createEmailStore(database),
      drafts: createDraftStore(database.prisma),
      memory: createMemory({ database, embedder: null, logger }),
      audit: createAuditLog(database.prisma),
      router: createModelRouter({ cloud: createAnthropicChatModel({ apiKey: 'sk-ant-follow', baseURL: anthropic.url, model: 'claude-sonnet-5-5', maxRetries: 0 }), ledger: { record: async () => undefined }, logger }),
      slack: null,
      mail: null,
      teamName: 'Acme Ops',
      now: () => new Date(),
      newMessageId: () => `<${randomUUID()}@team.example>`,
      logger,
    } satisfies PipelineDeps;
    const followUp = followUpDraftJob(deps);
    await Promise.all([followUp.run({ draftId: draft.id, requestedBy: 'U0ALICE' }, { attempt: 1, lastAttempt: false }), followUp.run({ draftId: draft.id, requestedBy: 'U0ALICE' }, { attempt: 1, lastAttempt: false })]);

    const versions = await database.prisma.draft.findMany({ where: { emailId: draft.emailId }, orderBy: { version: 'asc' } });
    expect(versions.map((version) => [version.version, version.status])).toEqual([[1, 'sent'], [2, 'pending']]);
    const next = versions[1];
    expect(next).toMatchObject({ toAddress: 'dana@client.example', body: 'Dear Dana,\n\nDid our note of Monday reach you?\n\nAcme Ops', inReplyTo: draft.sentMessageId, slackCardTs: '1700000007.000001', slackDraftTs: null });
    expect(next?.references.at(-1)).toBe(draft.sentMessageId);
    const prompt = JSON.stringify(anthropic.requests.at(-1)?.body?.messages);
    expect(prompt).toContain('<previous_draft>\\nWe will deliver on Friday.');
    const posting = await database.pool.query(`SELECT 1 FROM agenda_jobs WHERE name = $1 AND data->>'draftId' = $2`, [JOB_POST_APPROVAL, next?.id]);
    expect(posting.rowCount).toBe(1);
  });
});
