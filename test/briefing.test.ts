import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOllamaChatModel } from '../src/brains/ollama/ollama-chat-model.ts';
import { createModelRouter } from '../src/brains/router.ts';
import { createSlackPoster } from '../src/channels/slack/slack-poster.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createHealthRegistry } from '../src/health.ts';
import { createLogger } from '../src/logger.ts';
import { createBriefings, type Briefings } from '../src/orchestrator/briefings.ts';
import { JOB_BRIEFING_POST } from '../src/orchestrator/job-names.ts';
import { createJobQueue, type JobQueue } from '../src/orchestrator/job-queue.ts';
import { briefingPostJob } from '../src/orchestrator/jobs/briefing.ts';
import { dueOccurrence } from '../src/orchestrator/schedules.ts';
import { startOllamaFake, type OllamaFake } from './fakes/ollama-fake.ts';
import { startSlackFake, type SlackFake } from './fakes/slack-fake.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
import { waitUntil } from './support/wait.ts';

/**
 * The morning briefing with a clock the test controls: the scheduled time in the team's time
 * zone across a daylight-saving change, posted once with two workers on one PostgreSQL and
 * after a restart in the same minute, and what it says, built from the data.
 */
const logger = createLogger({ level: 'silent' });
const BRIEFING_CHANNEL = 'C0BRIEFING';
const link = async () => (channel: string, ts: string) => `https://fake.slack.test/archives/${channel}/p${ts.replace('.', '')}`;

describe('morning briefing (postgres)', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let slack: SlackFake;
  let ollama: OllamaFake;

  beforeAll(async () => {
    testDatabase = await createTestDatabase('postgres');
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    slack = await startSlackFake({ botToken: 'xoxb-brief' });
    ollama = await startOllamaFake({ models: ['llama3.2'], respond: () => 'One urgent email and one draft waiting since yesterday: start there.' });
  });
  afterAll(async () => {
    await Promise.all([slack?.close(), ollama?.close()]);
    await database?.close();
    await testDatabase?.drop();
  });

  function briefingsWith(options: { router?: boolean } = {}): Briefings {
    const health = createHealthRegistry();
    health.register('imap', () => ({ status: 'ok', detail: 'watching INBOX' }));
    return createBriefings({
      database,
      health,
      router: options.router ? createModelRouter({ local: createOllamaChatModel({ host: ollama.url, model: 'llama3.2' }), ledger: { record: async () => undefined }, logger }) : null,
      weeklyBudgetUsd: 25,
      teamName: 'Acme Ops',
      cron: '0 8 * * 1-5',
      timezone: 'Europe/Berlin',
      slack: { poster: createSlackPoster(new WebClient('xoxb-brief', { slackApiUrl: slack.apiUrl })), channel: BRIEFING_CHANNEL },
      links: link,
      logger,
    });
  }

  it('is due at 08:00 Berlin time on weekdays, before and after the change to summer time', () => {
    const { schedule } = briefingsWith();
    const briefings = { dueAt: (now: Date) => dueOccurrence(schedule, now) };
    // Friday 27 March 2026, 08:00 CET = 07:00 UTC.
    expect(briefings.dueAt(new Date('2026-03-27T07:00:20Z'))?.toISOString()).toBe('2026-03-27T07:00:00.000Z');
    expect(briefings.dueAt(new Date('2026-03-27T07:10:00Z'))?.toISOString()).toBe('2026-03-27T07:00:00.000Z');
    // Saturday and Sunday: nothing (the clocks change on Sunday 29 March).
    expect(briefings.dueAt(new Date('2026-03-28T07:00:20Z'))).toBeNull();
    expect(briefings.dueAt(new Date('2026-03-29T06:00:20Z'))).toBeNull();
    // Monday 30 March, 08:00 CEST = 06:00 UTC; at 07:00 UTC it is an hour stale.
    expect(briefings.dueAt(new Date('2026-03-30T06:00:20Z'))?.toISOString()).toBe('2026-03-30T06:00:00.000Z');
    expect(briefings.dueAt(new Date('2026-03-30T07:00:20Z'))).toBeNull();
    // Just before the minute: not yet.
    expect(briefings.dueAt(new Date('2026-03-30T05:59:59Z'))).toBeNull();
  });

  it('is posted once with two workers ticking in the same minute, and not again after a restart', async () => {
    const briefings = briefingsWith();
    const now = new Date('2026-11-23T07:00:05Z'); // Monday 08:00:05 in Berlin (winter time)
    const workers: JobQueue[] = [0, 1].map(() => createJobQueue({ pool: database.pool, embedded: false, logger, processEveryMs: 100, now: () => now }));
    for (const queue of workers) {
      queue.define(briefingPostJob({ briefings, now: () => now, logger }));
      await queue.schedule(JOB_BRIEFING_POST, briefings.schedule);
    }
    const tick = (queue: JobQueue) => queue.tickSchedules();
    await Promise.all(workers.map(tick));
    const jobs = await database.pool.query<{ key: string }>(`SELECT data->>'key' AS key FROM agenda_jobs WHERE name = $1`, [JOB_BRIEFING_POST]);
    expect(jobs.rows).toEqual([{ key: '2026-11-23T07:00:00.000Z' }]);

    await Promise.all(workers.map((queue) => queue.start()));
    try {
      await waitUntil('the briefing to be posted', () => slack.callsTo('chat.postMessage').find((call) => call.args.channel === BRIEFING_CHANNEL));
      // A restart in the same minute: the tick finds the key taken, and a rerun of the post finds the row.
      await tick(workers[0] as JobQueue);
      expect(await briefings.postScheduled(new Date('2026-11-23T07:00:00Z'), now)).toBe('already');
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(slack.callsTo('chat.postMessage').filter((call) => call.args.channel === BRIEFING_CHANNEL)).toHaveLength(1);
      const rows = await database.prisma.briefing.findMany({ where: { kind: 'scheduled' } });
      expect(rows).toHaveLength(1);
      expect(rows[0]?.ts).toBeTruthy();
    } finally {
      await Promise.all(workers.map((queue) => queue.stop(1000)));
    }
  });

  it('says what arrived, what waits, and what is due today, leaves out what has nothing to say, and opens with the model’s paragraph', async () => {
    const received = new Date('2026-11-23T18:00:00Z');
    const urgent = await database.prisma.email.create({
      data: { messageId: '<urgent@client.example>', mailbox: 'INBOX', fromAddress: 'dana@client.example', subject: 'Table cracked before the party', text: 'Help', raw: Buffer.from(''), receivedAt: received, conversationId: '00000000-0000-4000-8000-000000000001', triageCategory: 'needs_reply', triageUrgency: 'high', triageSummary: 'Customer’s new table cracked; party on Saturday', triagedBy: 'model:ollama/llama3.2', triagedAt: received, triageDetails: { people: [], organisations: [], dates: [{ date: '2026-11-24', what: 'party at the Harrow', kind: 'deadline' }] } },
    });
    await database.prisma.email.create({
      data: { messageId: '<news@timber.example>', mailbox: 'INBOX', fromAddress: 'news@timber.example', subject: 'Spring prices', text: 'Oak up', raw: Buffer.from(''), receivedAt: received, triageCategory: 'newsletter', triageUrgency: 'low', triagedBy: 'rule:list-mail', triagedAt: received },
    });
    await database.prisma.draft.create({ data: { emailId: urgent.id, toAddress: 'dana@client.example', subject: 'Re: Table cracked before the party', body: 'We will replace it.', slackChannel: 'C0APPROVALS', slackCardTs: '1763920800.000100', createdAt: new Date('2026-11-23T18:05:00Z') } });

    const briefings = briefingsWith({ router: true });
    const now = new Date('2026-11-24T07:00:10Z'); // Tuesday 08:00 in Berlin
    expect(await briefings.postScheduled(new Date('2026-11-24T07:00:00Z'), now)).toBe('posted');
    const posted = slack.callsTo('chat.postMessage').filter((call) => call.args.channel === BRIEFING_CHANNEL).at(-1);
    const blocks = JSON.stringify(posted?.args.blocks);
    expect(blocks).toContain('Morning briefing, 2026-11-24');
    expect(blocks).toContain('One urgent email and one draft waiting since yesterday: start there.');
    // Since the previous scheduled briefing (Monday 08:00 Berlin), by category, the urgent one named and linked.
    expect(blocks).toContain('*Mail since 2026-11-23 07:00 UTC* (2): 1 need a reply · 1 newsletters');
    expect(blocks).toContain('🔴 <https://fake.slack.test/archives/C0APPROVALS/p1763920800000100|Table cracked before the party> from dana@client.example: Customer’s new table cracked; party on Saturday');
    expect(blocks).toContain('*Drafts awaiting approval* (1)');
    expect(blocks).toContain('waiting 13 h');
    expect(blocks).toContain('*Due today*');
    expect(blocks).toContain('party at the Harrow (deadline)');
    // Under a day old: not yet waiting on us; nothing failing: no such sections.
    expect(blocks).not.toContain('Waiting on us');
    expect(blocks).not.toContain('Needs a look');

    // A day later it is waiting on us; the model is down: the data alone is posted.
    ollama.failNext(5, 500);
    expect(await briefings.postScheduled(new Date('2026-11-25T07:00:00Z'), new Date('2026-11-25T07:00:10Z'))).toBe('posted');
    const next = JSON.stringify(slack.callsTo('chat.postMessage').filter((call) => call.args.channel === BRIEFING_CHANNEL).at(-1)?.args.blocks);
    expect(next).toContain('*Waiting on us*');
    expect(next).not.toContain('start there');
    // Mail since the Tuesday briefing: none, so that section is left out too.
    expect(next).not.toContain('Mail since');
  });

  it('builds one on demand from the same data', async () => {
    const message = await briefingsWith().onDemand(new Date('2026-11-25T10:00:00Z'));
    expect(JSON.stringify(message.blocks)).toContain('Briefing (on demand)');
    expect(JSON.stringify(message.blocks)).toContain('*Drafts awaiting approval* (1)');
    expect(await database.prisma.briefing.count({ where: { kind: 'on-demand' } })).toBe(1);
  });
});
