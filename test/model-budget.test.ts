import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAnthropicChatModel } from '../src/brains/anthropic/anthropic-chat-model.ts';
import { createModelLedger } from '../src/brains/model-ledger.ts';
import { createOllamaChatModel } from '../src/brains/ollama/ollama-chat-model.ts';
import { createModelRouter } from '../src/brains/router.ts';
import { createWeeklyBudget, startOfWeek } from '../src/brains/weekly-budget.ts';
import { createSlackPoster } from '../src/channels/slack/slack-poster.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createAuditLog } from '../src/memory/audit.ts';
import { JOB_BUDGET_NOTICE } from '../src/orchestrator/job-names.ts';
import { createJobQueue } from '../src/orchestrator/job-queue.ts';
import { budgetNoticeJob, noticeBudgetExhausted } from '../src/orchestrator/jobs/budget-notice.ts';
import { formatModelWeek } from '../src/status.ts';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { startOllamaFake, type OllamaFake } from './fakes/ollama-fake.ts';
import { startSlackFake, type SlackFake } from './fakes/slack-fake.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.ts';

const logger = createLogger({ level: 'silent' });
const request = { system: 'You draft replies.', messages: [{ role: 'user' as const, content: 'Reply to the supplier about the late oak delivery.' }] };

/**
 * LLM_WEEKLY_BUDGET_USD through the real ledger table: the cloud model is used until the week's
 * recorded spend reaches the cap, then the local model takes its work, the approvals channel
 * is told once that week, and the next week starts afresh.
 */
describe.each<DatabaseKind>(['postgres', 'pglite'])('weekly model budget (%s)', (kind) => {
  let testDatabase: TestDatabase;
  let database: Database;
  let anthropic: AnthropicFake;
  let ollama: OllamaFake;
  let slack: SlackFake;
  let clock: Date;

  beforeAll(async () => {
    testDatabase = await createTestDatabase(kind);
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    anthropic = await startAnthropicFake({ apiKey: 'sk-ant-budget', respond: () => 'Dear supplier, when can you deliver the oak?' });
    ollama = await startOllamaFake({ models: ['llama3.2'] });
    slack = await startSlackFake({ botToken: 'xoxb-budget', channelMembers: { C0APPROVALS: ['U0ALICE'] } });
  }, 120_000);
  afterAll(async () => {
    await Promise.all([anthropic?.close(), ollama?.close(), slack?.close()]);
    await database?.close();
    await testDatabase?.drop();
  });
  beforeEach(() => {
    // A Wednesday.
    clock = new Date('2026-11-18T10:00:00Z');
  });

  it('moves cloud work to the local model once the week’s spend reaches the cap, tells the team once, and starts afresh next week', async () => {
    const queue = createJobQueue({ pool: database.pool, embedded: database.kind === 'pglite', logger });
    const budget = createWeeklyBudget({ pool: database.pool, limitUsd: 0.0001, now: () => clock, onExhausted: (week) => noticeBudgetExhausted(queue, week).then(() => undefined) });
    const router = createModelRouter({
      cloud: createAnthropicChatModel({ apiKey: 'sk-ant-budget', baseURL: anthropic.url, model: 'claude-sonnet-5-5', maxRetries: 0 }),
      local: createOllamaChatModel({ host: ollama.url, model: 'llama3.2' }),
      ledger: createModelLedger(database.prisma),
      logger,
      budget,
    });
    const servedFor = { kind: 'email', id: 'b1b2' } as const;
    // Spend recorded before this week does not count.
    await database.prisma.modelCall.create({ data: { at: new Date('2026-11-15T23:59:00Z'), provider: 'anthropic', model: 'claude-sonnet-5-5', tier: 'hard', purpose: 'draft', inputTokens: 9_000_000, outputTokens: 0, costUsd: 27, latencyMs: 1, ok: true } });

    const first = await router.complete('draft', request, { servedFor });
    expect(first.provider).toBe('anthropic');
    const spent = await budget.week();
    // The fake's token counts at the model's price: over the cap of a hundredth of a cent.
    expect(spent.spentUsd).toBeGreaterThanOrEqual(0.0001);

    const afterCap = [await router.complete('draft', request, { servedFor }), await router.complete('answer', request, { servedFor: { kind: 'question', id: 'q1' } })];
    expect(afterCap.map((result) => result.provider)).toEqual(['ollama', 'ollama']);
    expect(anthropic.requests).toHaveLength(1);

    // One notice for the week, however many calls the cap refused.
    const notices = await database.pool.query<{ key: string }>(`SELECT data->>'key' AS key FROM agenda_jobs WHERE name = $1`, [JOB_BUDGET_NOTICE]);
    expect(notices.rows).toEqual([{ key: `week:${startOfWeek(clock).toISOString().slice(0, 10)}` }]);
    const job = budgetNoticeJob({ slack: { poster: createSlackPoster(new WebClient('xoxb-budget', { slackApiUrl: slack.apiUrl })), approvalsChannel: 'C0APPROVALS' }, audit: createAuditLog(database.prisma), logger });
    const [data] = await database.pool.query<{ data: { weekStart: string; spentUsd: number; limitUsd: number } }>(`SELECT data FROM agenda_jobs WHERE name = $1`, [JOB_BUDGET_NOTICE]).then((result) => result.rows);
    await job.run({ weekStart: data?.data.weekStart ?? '', spentUsd: data?.data.spentUsd ?? 0, limitUsd: data?.data.limitUsd ?? 0 }, { attempt: 1, lastAttempt: false });
    const [posted] = await slack.waitFor('chat.postMessage', 1);
    expect(posted?.args.channel).toBe('C0APPROVALS');
    expect(String(posted?.args.text)).toContain('The cloud model budget for the week of 2026-11-16 is used up');
    expect(String(posted?.args.text)).toMatch(/\(\$0\.\d{4} of \$0\.0001, LLM_WEEKLY_BUDGET_USD\)/);

    // Every call is in the ledger with what it served; the week shows spend and the local share.
    const rows = await database.prisma.modelCall.findMany({ where: { at: { gte: startOfWeek(clock) } }, orderBy: { id: 'asc' } });
    expect(rows.map((row) => [row.provider, row.purpose, row.servedKind, row.servedId])).toEqual([
      ['anthropic', 'draft', 'email', 'b1b2'],
      ['ollama', 'draft', 'email', 'b1b2'],
      ['ollama', 'answer', 'question', 'q1'],
    ]);
    const week = await budget.week();
    expect(week).toMatchObject({ calls: 3, servedCalls: 3, localCalls: 2, limitUsd: 0.0001 });
    expect(formatModelWeek(week)).toMatch(/^Models this week \(since 2026-11-16\): \$0\.\d{4} of \$0\.0001 spent \(budget used up: cloud work goes to the local model\); 3 call\(s\) answered, 67% served by the local model\.$/);

    // Monday: a new week, a new budget.
    clock = new Date('2026-11-23T00:00:01Z');
    expect((await router.complete('draft', request, { servedFor })).provider).toBe('anthropic');
  });

  it('keeps every call off the cloud model with a cap of 0, without telling anyone', async () => {
    const queue = createJobQueue({ pool: database.pool, embedded: database.kind === 'pglite', logger });
    const told: unknown[] = [];
    const budget = createWeeklyBudget({ pool: database.pool, limitUsd: 0, now: () => new Date('2027-01-06T10:00:00Z'), onExhausted: async (week) => void told.push(await noticeBudgetExhausted(queue, week)) });
    const router = createModelRouter({
      cloud: createAnthropicChatModel({ apiKey: 'sk-ant-budget', baseURL: anthropic.url, model: 'claude-sonnet-5-5', maxRetries: 0 }),
      local: createOllamaChatModel({ host: ollama.url, model: 'llama3.2' }),
      ledger: createModelLedger(database.prisma),
      logger,
      budget,
    });
    const before = anthropic.requests.length;
    expect((await router.complete('draft', request, { servedFor: { kind: 'email', id: 'zero' } })).provider).toBe('ollama');
    expect(anthropic.requests.length).toBe(before);
    expect(told).toEqual([]);
  });
});
