import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { startService, type Service } from '../src/main.ts';
import { formatStatus, readStatus } from '../src/status.ts';
import { startAnthropicFake, type AnthropicFake, type AnthropicFakeRequestBody } from './fakes/anthropic-fake.ts';
import { startOllamaFake, type OllamaFake, type OllamaFakeChatBody } from './fakes/ollama-fake.ts';
import { startSlackFake, type SlackFake } from './fakes/slack-fake.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
import { deliver, freshMailboxUser } from './support/mailbox.ts';
import { runCli } from './support/cli.ts';
import { databaseEnv, slackEnv, imapEnv } from './support/service-env.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Mail sent straight to the shared mailbox, through the running service: its headers sort the
 * obvious mail with no model call, the local model sorts the rest (the cloud model checks it
 * when it is unsure), what needs a reply gets a grounded draft and a card showing the verdict,
 * and with no model at all a person is asked to reply.
 */
const BOT_TOKEN = 'xoxb-test-bot-token';
const APPROVALS = 'C0APPROVALS';

function message(input: { from: string; subject: string; body: string; headers?: string[]; id: string }): string {
  return [
    `From: ${input.from}`,
    'To: hello@team.example',
    `Subject: ${input.subject}`,
    'Date: Sun, 22 Nov 2026 08:00:00 +0000',
    `Message-ID: <${input.id}@outside.example>`,
    ...(input.headers ?? []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    input.body,
    '',
  ].join('\r\n');
}

const QUESTION = message({
  id: 'question-1',
  from: 'Olivia Finch <o.finch@harrow.example>',
  subject: 'Cracked tabletop before Saturday',
  body: 'Hello,\r\nthe oak table we collected on Monday has a crack across the top and we host a party on Saturday. Can you repair or replace it before then?\r\nOlivia',
});
const NEWSLETTER = message({
  id: 'newsletter-1',
  from: 'Timber Weekly <news@timberweekly.example>',
  subject: 'Spring prices for oak and walnut',
  body: 'This week in timber: oak up 4%.',
  headers: ['List-Unsubscribe: <https://timberweekly.example/unsub?u=1>', 'List-Id: Timber Weekly <weekly.timberweekly.example>', 'Precedence: bulk'],
});
const UNSURE = message({
  id: 'unsure-1',
  from: 'Ben Carter <ben@carter-arch.example>',
  subject: 'Drawings for the Harrow lobby',
  body: 'Attached are the final drawings for the lobby, for your files.',
});

function isTriage(system: string | undefined): boolean {
  return (system ?? '').startsWith('You sort the email');
}

function systemOf(body: AnthropicFakeRequestBody): string {
  return typeof body.system === 'string' ? body.system : (body.system ?? []).map((block) => block.text).join('');
}

function triageAnswer(category: string, urgency: string, summary: string, confidence: number): string {
  return JSON.stringify({ category, urgency, summary, people: [{ name: 'Olivia Finch', address: 'o.finch@harrow.example', organisation: 'Harrow' }], organisations: ['Harrow'], dates: [{ date: '2026-11-28', what: 'party', kind: 'deadline' }], confidence });
}

async function startServiceWith(database: TestDatabase, slack: SlackFake, mailboxUser: string, models: Record<string, string>): Promise<Service> {
  const config = loadConfig({
    envFile: null,
    env: {
      ...databaseEnv(database),
      ...slackEnv({ botToken: BOT_TOKEN, signingSecret: 'test-signing-secret-0123456789', apiUrl: slack.apiUrl, approvalsChannel: APPROVALS }),
      ...imapEnv(mailboxUser),
      MAIL_FROM: 'Acme Ops <ops@team.example>',
      TEAM_DOMAINS: 'team.example',
      EMBEDDER: 'none',
      ...models,
    },
  });
  const service = await startService(config, { host: '127.0.0.1', jobPollMs: 200, shutdownGraceMs: 1000 });
  await waitUntil('the watcher to watch the mailbox', () => service.watcher?.health().state === 'watching');
  return service;
}

async function triageOf(service: Service, messageId: string) {
  return waitUntil(`the triage of ${messageId}`, async () => {
    const email = await service.database.prisma.email.findUnique({ where: { messageId } });
    return email?.triagedBy ? email : null;
  });
}

describe('triage with models (postgres)', () => {
  let database: TestDatabase;
  let slack: SlackFake;
  let ollama: OllamaFake;
  let anthropic: AnthropicFake;
  let service: Service;
  const mailboxUser = freshMailboxUser('triage-models');
  /** What the local model says about each email, by subject. */
  const localVerdicts: Record<string, string> = {
    'Cracked tabletop before Saturday': triageAnswer('needs_reply', 'high', 'Customer’s new oak table is cracked; wants a fix before Saturday’s party', 0.92),
    'Drawings for the Harrow lobby': triageAnswer('needs_reply', 'normal', 'Architect sends drawings', 0.3),
  };

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    slack = await startSlackFake({ botToken: BOT_TOKEN, channelMembers: { [APPROVALS]: ['U0ALICE'] } });
    ollama = await startOllamaFake({
      models: ['llama3.2'],
      respond: (body: OllamaFakeChatBody) => {
        const system = body.messages.find((entry) => entry.role === 'system')?.content;
        if (!isTriage(system)) return 'A hotel manager who orders furniture for the lobby.';
        const subject = /Subject: (.*)/.exec(body.messages.at(-1)?.content ?? '')?.[1] ?? '';
        return localVerdicts[subject] ?? triageAnswer('fyi', 'low', 'Something else', 0.9);
      },
    });
    anthropic = await startAnthropicFake({
      apiKey: 'sk-ant-test-key',
      respond: (body) =>
        isTriage(systemOf(body))
          ? triageAnswer('fyi', 'low', 'Architect sends the final lobby drawings for our files', 0.95)
          : JSON.stringify({ body: 'Dear Olivia,\n\nWe are sorry. We will replace the top before Saturday.\n\nAcme Ops', sources: [], confidence: 0.7, rationale: 'Apologises and commits to the replacement she asked for.' }),
    });
    service = await startServiceWith(database, slack, mailboxUser, { OLLAMA_HOST: ollama.url, OLLAMA_MODEL: 'llama3.2', ANTHROPIC_API_KEY: 'sk-ant-test-key', ANTHROPIC_BASE_URL: anthropic.url, ANTHROPIC_MODEL: 'claude-haiku-4-5' });
  });

  afterAll(async () => {
    await service?.stop();
    await Promise.all([slack?.close(), ollama?.close(), anthropic?.close()]);
    await database?.drop();
  });

  it('sorts a customer’s question with the local model, drafts with the cloud model, and the card shows the verdict', async () => {
    await deliver(mailboxUser, QUESTION);

    const email = await triageOf(service, '<question-1@outside.example>');
    expect(email).toMatchObject({ triageCategory: 'needs_reply', triageUrgency: 'high', triagedBy: 'model:ollama/llama3.2', triageConfidence: 0.92 });
    expect(email.triageSummary).toBe('Customer’s new oak table is cracked; wants a fix before Saturday’s party');
    expect(email.triageDetails).toMatchObject({ organisations: ['Harrow'], dates: [{ date: '2026-11-28', kind: 'deadline' }] });

    const [card, draft] = await slack.waitFor('chat.postMessage', 2, 20_000);
    const cardBlocks = JSON.stringify(card?.args.blocks);
    expect(cardBlocks).toContain('Customer’s new oak table is cracked');
    expect(cardBlocks).toContain('*Needs a reply* · 🔴 high urgency · sorted by ollama/llama3.2');
    expect(JSON.stringify(draft?.args.blocks)).toContain('We will replace the top before Saturday.');
    expect(JSON.stringify(draft?.args.blocks)).toContain('Confidence 70% — Apologises and commits to the replacement she asked for.');

    // The local model saw the email fenced as data; every call names the email it served.
    const triageRequest = ollama.requests.find((entry) => entry.path === '/api/chat' && isTriage((entry.body as OllamaFakeChatBody).messages[0]?.content));
    const userTurn = (triageRequest?.body as OllamaFakeChatBody).messages.at(-1)?.content ?? '';
    expect(userTurn.startsWith('<email>\nFrom: Olivia Finch <o.finch@harrow.example>')).toBe(true);
    expect(userTurn.trimEnd().endsWith('</email>')).toBe(true);
    const calls = await service.database.prisma.modelCall.findMany({ where: { servedKind: 'email', servedId: email.id }, orderBy: { id: 'asc' } });
    expect(calls.map((call) => [call.provider, call.purpose, call.ok])).toEqual([
      ['ollama', 'triage', true],
      ['anthropic', 'draft', true],
    ]);
  });

  it('sorts a newsletter by its headers without asking any model, and posts nothing', async () => {
    const triageRequests = () =>
      ollama.requests.filter((entry) => entry.path === '/api/chat' && isTriage((entry.body as OllamaFakeChatBody).messages[0]?.content)).length +
      anthropic.requests.filter((entry) => entry.body !== undefined && isTriage(systemOf(entry.body))).length;
    const triagesBefore = triageRequests();
    const postsBefore = slack.callsTo('chat.postMessage').length;
    await deliver(mailboxUser, NEWSLETTER);

    const email = await triageOf(service, '<newsletter-1@outside.example>');
    expect(email).toMatchObject({ triageCategory: 'newsletter', triageUrgency: 'low', triagedBy: 'rule:list-mail' });
    expect(email.triageSummary).toContain('Spring prices for oak and walnut');
    // No model call served this email (a new sender's contact summary serves the contact).
    expect(await service.database.prisma.modelCall.count({ where: { servedKind: 'email', servedId: email.id } })).toBe(0);
    expect(triageRequests()).toBe(triagesBefore);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(slack.callsTo('chat.postMessage').length).toBe(postsBefore);
  });

  it('asks the cloud model when the local model is unsure, and files what is not a reply without a card', async () => {
    const postsBefore = slack.callsTo('chat.postMessage').length;
    await deliver(mailboxUser, UNSURE);

    const email = await triageOf(service, '<unsure-1@outside.example>');
    expect(email).toMatchObject({ triageCategory: 'fyi', triagedBy: 'model:anthropic/claude-haiku-4-5' });
    const calls = await service.database.prisma.modelCall.findMany({ where: { servedId: email.id }, orderBy: { id: 'asc' } });
    expect(calls.map((call) => [call.provider, call.purpose])).toEqual([
      ['ollama', 'triage'],
      ['anthropic', 'triage'],
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(slack.callsTo('chat.postMessage').length).toBe(postsBefore);
  });

  it('keeps an email waiting, visible in status, while both models are down, and sorts it when they are back', async () => {
    // Both servers fail every request until cleared.
    ollama.failNext(1000, 503);
    anthropic.failNext(1000, 529);
    await deliver(mailboxUser, message({ id: 'outage-1', from: 'Ben Carter <ben@carter-arch.example>', subject: 'Second set of drawings', body: 'Second set of drawings.' }));

    const waiting = await waitUntil('the triage job to wait for a retry', async () => {
      const report = await readStatus(service.database);
      return report.retrying.find((job) => job.name === 'email.triage') ?? null;
    });
    expect(waiting.reason).toMatch(/MODEL_UNAVAILABLE|overloaded|failed \(503/);
    expect(formatStatus(await readStatus(service.database))).toContain('Waiting to run again (failed, will retry on their own):');
    ollama.clearFailures();
    anthropic.clearFailures();
    // Not dropped: stored and remembered meanwhile, sorted once a model answers again.
    expect(await triageOf(service, '<outage-1@outside.example>')).toMatchObject({ triageCategory: 'fyi' });
    expect((await readStatus(service.database)).retrying.filter((job) => job.name === 'email.triage')).toEqual([]);
  });

  it('prints an email’s timeline (received, sorted, drafted with which model and cost, posted) and lets a job that gave up run again', async () => {
    const env = { DATABASE_URL: database.databaseUrl ?? '', DATA_DIR: database.dataDir, LOG_LEVEL: 'error' };
    const shown = runCli(['timeline', 'Cracked tabletop'], env);
    expect(await shown.exited).toBe(0);
    const lines = shown.output().stdout;
    expect(lines).toContain('Cracked tabletop before Saturday from o.finch@harrow.example');
    const order = ['email.received', 'model.triage', 'email.triaged', 'model.draft', 'draft.created', 'approval.posted'].map((action) => lines.indexOf(action));
    expect(order.every((at) => at >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(lines).toMatch(/model\.draft +anthropic\/claude-haiku-4-5 +costUsd=0\.\d+/);

    const dead = await service.database.pool.query<{ id: string }>(
      `INSERT INTO agenda_jobs (name, data, priority, type, next_run_at, failed_at, fail_count, fail_reason, last_finished_at)
       VALUES ('legacy.export', '{"key":"gone-1"}', 0, 'normal', NULL, now(), 11, 'MODEL_UNAVAILABLE: both models down', now() - interval '1 minute') RETURNING id::text`,
    );
    const id = dead.rows[0]?.id ?? '';
    const listed = runCli(['jobs'], env);
    expect(await listed.exited).toBe(1);
    expect(listed.output().stdout).toContain(`gave up  ${id}  legacy.export gone-1  11×`);
    expect(listed.output().stdout).toContain('MODEL_UNAVAILABLE: both models down');
    const retried = runCli(['jobs', 'retry', id], env);
    expect(await retried.exited).toBe(0);
    const row = await service.database.pool.query<{ fail_count: number; next_run_at: Date | null }>('SELECT fail_count, next_run_at FROM agenda_jobs WHERE id = $1::uuid', [id]);
    expect(row.rows[0]).toMatchObject({ fail_count: 0 });
    expect(row.rows[0]?.next_run_at).not.toBeNull();
    // No worker runs this kind of job here, so it stays waiting: it did not give up again.
    expect(await runCli(['jobs', 'retry', id], env).exited).toBe(1);
  });
});

describe('triage with no model (pglite)', () => {
  let database: TestDatabase;
  let slack: SlackFake;
  let service: Service;
  const mailboxUser = freshMailboxUser('triage-none');

  beforeAll(async () => {
    database = await createTestDatabase('pglite');
    slack = await startSlackFake({ botToken: BOT_TOKEN, channelMembers: { [APPROVALS]: ['U0ALICE'] } });
    service = await startServiceWith(database, slack, mailboxUser, {});
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
    await slack?.close();
    await database?.drop();
  });

  it('still sorts by headers, and asks a person to reply to what may need one', async () => {
    await deliver(mailboxUser, NEWSLETTER);
    await deliver(mailboxUser, QUESTION);

    expect(await triageOf(service, '<newsletter-1@outside.example>')).toMatchObject({ triageCategory: 'newsletter', triagedBy: 'rule:list-mail' });
    expect(await triageOf(service, '<question-1@outside.example>')).toMatchObject({ triageCategory: 'needs_reply', triagedBy: 'default:no-model' });
    const [card] = await slack.waitFor('chat.postMessage', 1, 20_000);
    const blocks = JSON.stringify(card?.args.blocks);
    expect(blocks).toContain('Cracked tabletop before Saturday');
    expect(blocks).toContain('No language model is configured (set OLLAMA_HOST or ANTHROPIC_API_KEY), so no reply was drafted: use Write reply to answer it here.');
    expect(blocks).toContain('*Needs a reply* · normal urgency · no model to sort it');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // One card: the newsletter got none.
    expect(slack.callsTo('chat.postMessage')).toHaveLength(1);
    expect(await service.database.prisma.draft.count()).toBe(0);
  });
});
