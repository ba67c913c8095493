import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { ACTION_APPROVE, ACTION_REJECT, VIEW_REJECT } from '../src/channels/slack/blocks.ts';
import { startAnthropicFake, type AnthropicFake } from '../test/fakes/anthropic-fake.ts';
import { buttonClick, modalSubmission, startSlackFake, type SlackFake } from '../test/fakes/slack-fake.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../test/support/databases.ts';
import { startSmtpCapture } from '../test/support/smtp-capture.ts';
import { measureAskAtScale } from './slack-ack/ask-at-scale.ts';
import { seedMemory } from './slack-ack/memory-seed.ts';
import type { DraftState } from './slack-ack/protocol.ts';
import { runLoadOnThread, type LoadRequest } from './slack-ack/load-thread.ts';
import { slashCommand, startResponseCatcher, type ResponseCatcher } from './slack-ack/requests.ts';
import { startServer, type Reply, type ServerProcess } from './slack-ack/server-process.ts';
import type { Benchmark } from './support/benchmark.ts';
import { round, summarize, type LatencySummary } from './support/latency.ts';
import { wholeNumber } from './support/env.ts';

/**
 * How fast Adjutant answers Slack's HTTP requests at /slack/events (the ack), next to a bare
 * Bolt app whose listeners only ack, both measured in this run at 1, 10 and 50 concurrent (the
 * ratio is the figure to judge; absolute times depend on the machine). Slack gives an app 3 s;
 * with processBeforeResponse the HTTP answer waits for the whole listener, so whatever a
 * listener awaits before returning is in the figure. Each kind of request is measured on its own:
 *
 *   approve        Approve & send on a pending draft. Every draft is clicked twice (a double
 *                  click, or two approvers): one click approves it, the other is told it is
 *                  already decided. Approved drafts are sent to an SMTP capture by the send job.
 *   reject         Reject on a pending draft: the approver check, the draft, and the reason
 *                  modal opened (views.open) before the ack; the draft stays pending.
 *   reject-submit  The Reject modal submitted with a reason, twice per draft like approve.
 *   help           /adjutant help, answered at the response_url (a local catcher).
 *   ask            /adjutant ask <question>: memory searched (full text, EMBEDDER=none, a small
 *                  generated memory) and the Anthropic fake asked, answered at the response_url.
 *
 * Afterwards every click must have taken effect exactly once: each approved draft has one
 * `draft.approved` audit entry and one mail, each rejected one `draft.rejected`, the losing
 * clicks were told so, each Reject click opened one modal, each command got one answer.
 *
 * Then `/adjutant ask` end to end at scale: BENCH_ASK_CHUNKS chunks of generated memory on
 * PostgreSQL, the model fake answering at once, one ask at a time, command sent → answer at the
 * response_url (target p50 < 1 s).
 *
 * Options (`npm run bench -- slack-ack --requests 100`, or the BENCH_* variable):
 *   --database / BENCH_DATABASE          pglite (default) or postgres for the ack part
 *                                        (postgres needs bash test/services/up.sh)
 *   --requests / BENCH_REQUESTS          measured requests per kind, level and app (400)
 *   --kinds / BENCH_KINDS                comma-separated kinds for the ack part, or none (all)
 *   --ask-chunks / BENCH_ASK_CHUNKS      memory size for the ask at scale, 0 skips it (100000;
 *                                        always PostgreSQL)
 *   --asks / BENCH_ASKS                  asks measured at scale (50)
 *   --ask-embedder / BENCH_ASK_EMBEDDER  builtin (default, hybrid search as shipped) or none
 * Adjutant answers Slack from its front thread (src/channels/slack/ack-thread.mjs), which the
 * diagnostics channels of the main thread do not see: its insideServerMs rows have no served
 * times, only the process's CPU time and event-loop figures.
 *
 *   --trace / BENCH_TRACE                1: split each ack's time inside the server into database,
 *                                        Slack calls and the rest (async context tracking slows
 *                                        both apps a little; off by default)
 *   --profile / BENCH_PROFILE            a directory: V8 CPU profiles of the Adjutant server
 *                                        processes are written there
 */
const BOT_TOKEN = 'xoxb-bench-bot-token';
const SIGNING_SECRET = 'bench-signing-secret-0123456789';
const APPROVER = 'U0ALICE';
const APPROVALS = 'C0APPROVALS';
const ASK_CHANNEL = 'C0GENERAL';
const CONCURRENCY_LEVELS = [1, 10, 50];
/**
 * Before the closed loops, one request at a time with a pause after each, long enough for its
 * work after the ack (a send, an answer) to be done before the next: the ack path alone, without
 * the previous request's background work on the same event loop. Diagnostic, not judged: after
 * each pause both apps also pay for waking up (the bare app's p50 is higher paced than closed).
 */
const PACED = { requests: 60, warmup: 10, pauseMs: 100 };
/** The target: at most 1.5× bare Bolt at p50 and p99, at these levels. */
const TARGET_LEVELS = [1, 10];
const TARGET_RATIO = 1.5;
const ASK_TARGET_P50_MS = 1000;
const ACK_MEMORY_CHUNKS = 2000;
const ACK_QUESTIONS = 200;
const MODAL_DRAFTS = 50;
const BREAKDOWN_ITERATIONS = 200;
const BREAKDOWN_DRAFTS = 100;
const ASK_WARMUPS = 5;
const REJECT_REASON = 'Too formal; we never promise dates';
const MODEL_ANSWER = JSON.stringify({ answer: 'The invoice went out on Friday [1].', cited: [1], confident: true });

const KINDS = ['approve', 'reject', 'reject-submit', 'help', 'ask'] as const;
type Kind = (typeof KINDS)[number];
type TargetName = 'bare-bolt' | 'adjutant';

/** A load level: closed loop (each worker sends its next request when the last one is answered), or paced (one at a time, a pause after each). */
interface Level {
  load: 'closed' | 'paced';
  concurrency: number;
  warmup: number;
  requests: number;
  pauseMs: number;
}

interface Target {
  name: TargetName;
  url: string;
  server: ServerProcess;
}

const benchmark: Benchmark = {
  name: 'slack-ack',
  description: 'ack latency of signed Slack clicks (approve, reject, reject modal) and /adjutant commands (help, ask), Adjutant vs a bare Bolt app, at 1/10/50 concurrent; every click taking effect once; /adjutant ask → answer posted at 100k memory chunks',
  async run() {
    const databaseKind = databaseKindFromEnvironment();
    const requests = wholeNumber('BENCH_REQUESTS', 400);
    const kinds = kindsFromEnvironment();
    const askChunks = wholeNumber('BENCH_ASK_CHUNKS', 100_000, { zeroAllowed: true });
    const asks = wholeNumber('BENCH_ASKS', 50);
    const askEmbedder = process.env.BENCH_ASK_EMBEDDER ?? 'builtin';
    if (askEmbedder !== 'builtin' && askEmbedder !== 'none') throw new Error(`BENCH_ASK_EMBEDDER must be builtin or none, not ${askEmbedder}`);

    let slack: SlackFake | null = null;
    const figures: Record<string, unknown> = {};
    try {
      slack = await startSlackFake({ botToken: BOT_TOKEN, channelMembers: { [APPROVALS]: [APPROVER] } });
      if (kinds.length > 0) Object.assign(figures, await measureAcks({ slack, databaseKind, requests, kinds }));
      if (askChunks > 0) {
        figures.askAtScale = await measureAskAtScale({
          chunks: askChunks,
          asks,
          warmups: ASK_WARMUPS,
          embedder: askEmbedder,
          slackApiUrl: slack.apiUrl,
          botToken: BOT_TOKEN,
          signingSecret: SIGNING_SECRET,
          approver: APPROVER,
          approvalsChannel: APPROVALS,
          askChannel: ASK_CHANNEL,
          targetP50Ms: ASK_TARGET_P50_MS,
        });
      }
      return figures;
    } finally {
      await slack?.close();
    }
  },
};

export default benchmark;

async function measureAcks(options: { slack: SlackFake; databaseKind: DatabaseKind; requests: number; kinds: Kind[] }): Promise<Record<string, unknown>> {
  const { slack, databaseKind, requests, kinds } = options;
  const loadAtStart = round(loadavg()[0] ?? 0);
  let database: TestDatabase | null = null;
  let anthropic: AnthropicFake | null = null;
  let catcher: ResponseCatcher | null = null;
  let smtp: Awaited<ReturnType<typeof startSmtpCapture>> | null = null;
  const servers: ServerProcess[] = [];
  try {
    database = await createTestDatabase(databaseKind);
    const seeded = await seedMemory({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, chunks: ACK_MEMORY_CHUNKS, questions: ACK_QUESTIONS, label: 'slack-ack memory for the asks' });
    const questions = seeded.questions.map((words) => `what do we know about ${words}?`);
    anthropic = await startAnthropicFake({ respond: () => MODEL_ANSWER });
    catcher = await startResponseCatcher();
    smtp = await startSmtpCapture();

    // Drafts: two clicks each for approve and reject-submit at every level (warm-up and measured), a pool the Reject clicks open, spares for the breakdown.
    const levels: Level[] = [
      { load: 'paced', concurrency: 1, warmup: PACED.warmup, requests: Math.min(requests, PACED.requests), pauseMs: PACED.pauseMs },
      ...CONCURRENCY_LEVELS.map((concurrency) => ({ load: 'closed' as const, concurrency, warmup: Math.max(60, concurrency * 3), requests, pauseMs: 0 })),
    ];
    const perDecidingKind = levels.reduce((sum, level) => sum + Math.ceil(level.warmup / 2) + Math.ceil(level.requests / 2), 0);
    const pendingDrafts = (kinds.includes('approve') ? perDecidingKind : 0) + (kinds.includes('reject-submit') ? perDecidingKind : 0) + MODAL_DRAFTS + BREAKDOWN_DRAFTS;

    const common = { botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, slackApiUrl: slack.apiUrl, approver: APPROVER, channel: APPROVALS, dataDir: database.dataDir };
    const [bare, adjutant] = await Promise.all([
      startServer({ ...common, target: 'bare' }, servers),
      startServer({ ...common, target: 'adjutant', pendingDrafts, anthropicUrl: anthropic.url, smtpPort: smtp.port, embedder: 'none', ...(database.databaseUrl ? { databaseUrl: database.databaseUrl } : {}) }, servers),
    ]);
    const allDrafts = adjutant.ready.draftIds;
    if (allDrafts.length !== pendingDrafts) throw new Error(`the Adjutant server made ${allDrafts.length} pending drafts, not ${pendingDrafts}`);
    // The draft message's ts, as the server made it: from the draft's place in the list.
    const draftTs = new Map(allDrafts.map((id, index) => [id, `1700000000.${String(2 * index + 2).padStart(6, '0')}`]));
    const modalPool = allDrafts.slice(0, MODAL_DRAFTS);
    const breakdownPool = allDrafts.slice(MODAL_DRAFTS, MODAL_DRAFTS + BREAKDOWN_DRAFTS);
    const deciding = allDrafts.slice(MODAL_DRAFTS + BREAKDOWN_DRAFTS);
    const pools: Record<'approve' | 'reject-submit', string[]> = {
      approve: kinds.includes('approve') ? deciding.splice(0, perDecidingKind) : [],
      'reject-submit': kinds.includes('reject-submit') ? deciding.splice(0, perDecidingKind) : [],
    };
    const used: Record<'approve' | 'reject-submit', string[]> = { approve: [], 'reject-submit': [] };
    const sentToAdjutant: Record<Kind, number> = { approve: 0, reject: 0, 'reject-submit': 0, help: 0, ask: 0 };
    /** Commands sent to Adjutant: when, and which kind and level, for command → answer. */
    const commands = new Map<string, { at: number; kind: Kind; level: Level; measured: boolean }>();

    const targets: Target[] = [
      { name: 'bare-bolt', url: `http://127.0.0.1:${bare.ready.port}/slack/events`, server: bare },
      { name: 'adjutant', url: `http://127.0.0.1:${adjutant.ready.port}/slack/events`, server: adjutant },
    ];

    /** The request for one index of a run (drafts are taken two clicks to a draft), and the command's id for command → answer. */
    const requestFor = (kind: Kind, target: Target, drafts: string[], level: Level, phase: string, index: number): { request: LoadRequest; commandId: string | null } => {
      const interaction = (payload: Record<string, unknown>) => ({ contentType: 'application/x-www-form-urlencoded', body: new URLSearchParams({ payload: JSON.stringify(payload) }).toString() });
      const draftId = drafts[Math.floor(index / 2)] ?? '';
      switch (kind) {
        case 'approve':
        case 'reject': {
          const id = kind === 'reject' ? (modalPool[index % modalPool.length] ?? '') : draftId;
          return { request: interaction(buttonClick({ userId: APPROVER, channel: APPROVALS, messageTs: draftTs.get(id) ?? '1700000000.000002', actionId: kind === 'approve' ? ACTION_APPROVE : ACTION_REJECT, value: id })), commandId: null };
        }
        case 'reject-submit': {
          const context = { channel: APPROVALS, messageTs: draftTs.get(draftId) ?? null, draftId };
          return { request: interaction(modalSubmission({ userId: APPROVER, callbackId: VIEW_REJECT, privateMetadata: JSON.stringify(context), text: REJECT_REASON })), commandId: null };
        }
        case 'help':
        case 'ask': {
          const id = `${target.name}-${kind}-${level.load}-${level.concurrency}-${phase}-${index}`;
          const text = kind === 'help' ? 'help' : `ask ${questions[index % questions.length] ?? 'what do we know about invoices?'}`;
          const fields = slashCommand({ text, userId: APPROVER, channel: ASK_CHANNEL, responseUrl: catcher?.urlFor(id) ?? '' });
          return { request: { contentType: 'application/x-www-form-urlencoded', body: new URLSearchParams(fields).toString() }, commandId: target.name === 'adjutant' ? id : null };
        }
      }
    };
    /** One run of a kind at a level against a target, from the load thread; every answer must be a 200. */
    const runLoad = async (kind: Kind, target: Target, drafts: string[], level: Level, phase: 'warmup' | 'measured') => {
      const count = phase === 'warmup' ? level.warmup : level.requests;
      const built = Array.from({ length: count }, (_, index) => requestFor(kind, target, drafts, level, phase, index));
      const result = await runLoadOnThread({ url: target.url, signingSecret: SIGNING_SECRET, requests: built.map((entry) => entry.request), concurrency: level.concurrency, pauseMs: level.pauseMs });
      built.forEach((entry, index) => {
        const status = result.statuses[index] ?? 0;
        if (status === 0) return;
        if (status !== 200) throw new Error(`${target.name} answered ${status} to a signed ${kind} request: ${result.bodies[index] ?? ''}`);
        if (target.name === 'adjutant') sentToAdjutant[kind] += 1;
        // The load thread's clock as this thread's performance.now(), which the response catcher uses.
        if (entry.commandId) commands.set(entry.commandId, { at: (result.sentAtEpochMs[index] ?? 0) - performance.timeOrigin, kind, level, measured: phase === 'measured' });
      });
      return result;
    };

    /** Adjutant's work after the acks (sends, answers, ephemeral notes) done before the next run, so each run starts from the same quiet state. */
    const settle = async (kind: Kind) => {
      if (kind === 'approve') await smtp?.waitFor(used.approve.length, 180_000);
      if (kind === 'approve' || kind === 'reject-submit') await slack.waitFor('chat.postEphemeral', losingClicks(), 60_000);
      if (kind === 'help' || kind === 'ask') await catcher?.waitForAll([...commands.keys()], 120_000);
    };
    const losingClicks = () => sentToAdjutant.approve - used.approve.length + sentToAdjutant['reject-submit'] - used['reject-submit'].length;

    const latencyRows: Record<string, string | number>[] = [];
    const ratioRows: Record<string, string | number>[] = [];
    const serverRows: Record<string, string | number>[] = [];
    for (const level of levels) {
      const { concurrency, load, pauseMs } = level;
      for (const kind of kinds) {
        const take = (count: number) => {
          if (kind !== 'approve' && kind !== 'reject-submit') return [];
          return pools[kind].splice(0, Math.ceil(count / 2));
        };
        /** The drafts a run sent to Adjutant have been clicked (what settle and the checks expect). */
        const clicked = (drafts: string[]) => {
          if (kind === 'approve' || kind === 'reject-submit') used[kind].push(...drafts);
        };
        const warmupDrafts = take(level.warmup);
        const measuredDrafts = take(level.requests);
        const byTarget = new Map<TargetName, LatencySummary>();
        // Same level, back to back: both see the same machine load, which is what makes the ratio fair.
        for (const target of targets) {
          if (target.name === 'adjutant') clicked(warmupDrafts);
          await runLoad(kind, target, warmupDrafts, level, 'warmup');
          if (target.name === 'adjutant') await settle(kind);
          if (target.name === 'adjutant') clicked(measuredDrafts);
          await target.server.request({ type: 'timings' }, 'timings', 10_000);
          const measured = await runLoad(kind, target, measuredDrafts, level, 'measured');
          const inside = await target.server.request({ type: 'timings' }, 'timings', 10_000);
          if (target.name === 'adjutant') await settle(kind);
          const summary = summarize(measured.latenciesMs);
          byTarget.set(target.name, summary);
          latencyRows.push({ kind, load, concurrency, app: target.name, ...summary, requestsPerSecond: round((level.requests / measured.wallMs) * 1000, 0) });
          serverRows.push(serverSideRow(kind, level, target.name, summary, inside));
        }
        const baseline = byTarget.get('bare-bolt');
        const ours = byTarget.get('adjutant');
        if (baseline && ours) {
          const p50 = round(ours.p50 / baseline.p50);
          const p99 = round(ours.p99 / baseline.p99);
          const judged = load === 'closed' && TARGET_LEVELS.includes(concurrency);
          ratioRows.push({ kind, load, concurrency, bareP50: baseline.p50, adjutantP50: ours.p50, p50Ratio: p50, bareP99: baseline.p99, adjutantP99: ours.p99, p99Ratio: p99, target: judged ? (p50 <= TARGET_RATIO && p99 <= TARGET_RATIO ? 'met' : 'MISSED') : '(not judged)' });
        }
        console.log(`[slack-ack] ${kind} at ${concurrency} concurrent${load === 'paced' ? ` (paced, ${pauseMs} ms between requests)` : ''}: adjutant p50 ${ours?.p50} ms p99 ${ours?.p99} ms, bare p50 ${baseline?.p50} ms p99 ${baseline?.p99} ms (load ${round(loadavg()[0] ?? 0)})`);
      }
    }

    const checks = await exactlyOnceChecks({ adjutant, slack, smtp, catcher, used, modalPool, sentToAdjutant, losing: losingClicks(), commands });
    for (const check of checks) if (check.result !== 'ok') console.error(`[slack-ack] CHECK FAILED: ${check.check}: ${check.value} (expected ${check.expected})`);
    const breakdown = await adjutant.request({ type: 'breakdown', iterations: BREAKDOWN_ITERATIONS, pendingDraftIds: breakdownPool, decidedDraftId: used['reject-submit'][0] ?? used.approve[0] ?? null }, 'breakdown', 120_000);

    const commandRows: Record<string, string | number>[] = [];
    for (const kind of kinds.filter((candidate) => candidate === 'help' || candidate === 'ask')) {
      for (const level of levels) {
        const samples = [...commands.entries()].filter(([, sent]) => sent.kind === kind && sent.level === level && sent.measured).flatMap(([id, sent]) => {
          const answer = catcher?.answers.get(id);
          return answer ? [answer.at - sent.at] : [];
        });
        if (samples.length > 0) commandRows.push({ kind, load: level.load, concurrency: level.concurrency, ...summarize(samples) });
      }
    }

    return {
      database: adjutant.ready.database ?? databaseKind,
      requestsPerLevel: requests,
      loadAverage: { start: loadAtStart, end: round(loadavg()[0] ?? 0) },
      targets: ratioRows,
      latencyMs: latencyRows,
      insideServerMs: serverRows,
      commandToAnswerUnderLoadMs: commandRows,
      adjutantStepsAloneMs: breakdown.steps,
      checks,
    };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await catcher?.close();
    await anthropic?.close();
    await smtp?.close();
    await database?.drop();
  }
}

interface Check {
  check: string;
  value: string | number;
  expected: string | number;
  result: 'ok' | 'FAILED';
}

/** Every click took effect exactly once, every command was answered once, and the losing clicks were told. */
async function exactlyOnceChecks(input: {
  adjutant: ServerProcess;
  slack: SlackFake;
  smtp: Awaited<ReturnType<typeof startSmtpCapture>> | null;
  catcher: ResponseCatcher | null;
  used: Record<'approve' | 'reject-submit', string[]>;
  modalPool: string[];
  sentToAdjutant: Record<Kind, number>;
  losing: number;
  commands: Map<string, { kind: Kind }>;
}): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (check: string, value: string | number, expected: string | number) => checks.push({ check, value, expected, result: value === expected ? 'ok' : 'FAILED' });
  const inspect = async (ids: string[]) => (await input.adjutant.request({ type: 'inspect', draftIds: ids }, 'inspected', 60_000)).drafts;
  const count = (drafts: DraftState[], test: (draft: DraftState) => boolean) => drafts.filter(test).length;

  if (input.sentToAdjutant.approve > 0) {
    const drafts = await inspect(input.used.approve);
    const total = input.used.approve.length;
    add(`approve: drafts clicked (${input.sentToAdjutant.approve} clicks) with exactly one draft.approved entry and no draft.rejected`, count(drafts, (draft) => draft.approved === 1 && draft.rejected === 0), total);
    add('approve: those drafts sent (status sent, one reply.sent entry)', count(drafts, (draft) => draft.status === 'sent' && draft.sent === 1), total);
    const mails = input.smtp?.messages ?? [];
    add('approve: mails the SMTP capture received', mails.length, total);
    add('approve: distinct recipients of those mails', new Set(mails.map((mail) => mail.envelope.to.join(','))).size, total);
  }
  if (input.sentToAdjutant['reject-submit'] > 0) {
    const drafts = await inspect(input.used['reject-submit']);
    add(`reject-submit: drafts submitted (${input.sentToAdjutant['reject-submit']} submissions) rejected with exactly one draft.rejected entry and no draft.approved`, count(drafts, (draft) => draft.status === 'rejected' && draft.rejected === 1 && draft.approved === 0), input.used['reject-submit'].length);
  }
  if (input.sentToAdjutant.reject > 0) {
    const drafts = await inspect(input.modalPool);
    add('reject: drafts whose Reject was clicked still pending, undecided', count(drafts, (draft) => draft.status === 'pending' && draft.approved === 0 && draft.rejected === 0), input.modalPool.length);
    add('reject: modals opened (views.open)', input.slack.callsTo('views.open').length, input.sentToAdjutant.reject);
  }
  const ephemerals = input.slack.callsTo('chat.postEphemeral').map((call) => String(call.args.text));
  add('losing clicks told “This draft was already …” (ephemeral)', ephemerals.filter((text) => text.startsWith('This draft was already')).length, input.losing);
  add('ephemerals saying anything else (refusals, errors)', ephemerals.filter((text) => !text.startsWith('This draft was already')).length, 0);
  for (const kind of ['help', 'ask'] as const) {
    const ids = [...input.commands.entries()].filter(([, sent]) => sent.kind === kind).map(([id]) => id);
    if (ids.length === 0) continue;
    const answers = ids.map((id) => input.catcher?.answers.get(id));
    add(`${kind}: commands answered exactly once at their response_url`, answers.filter((answer) => answer?.count === 1).length, ids.length);
    const expected = kind === 'help' ? /answers from the team/ : /\[1\]/;
    add(`${kind}: answers that are ${kind === 'help' ? 'the help text' : 'an answer citing memory'}`, answers.filter((answer) => answer && expected.test(answer.text)).length, ids.length);
  }
  return checks;
}

/**
 * Means add up where percentiles do not: seen by the client = inside the server (`served`:
 * headers parsed → response sent) + outside (waiting to be read while the server's event loop
 * was busy, transport, the load generator). With BENCH_TRACE=1, served = the database (queries
 * the request started before its response, pool waits included) + fetch calls before the
 * response (Slack Web API) + the rest (JavaScript, and waits behind other work on the event
 * loop). `fetchMsPerRequest` is all of the server's own HTTP calls (Slack Web API, the model,
 * response_url) per request, before or after the ack; CPU per request and event-loop
 * utilization say whether the server process was busy or idle.
 */
function serverSideRow(kind: Kind, level: Level, app: TargetName, client: LatencySummary, inside: Reply<'timings'>): Record<string, string | number> {
  const served = inside.served;
  if (!served) return { kind, load: level.load, concurrency: level.concurrency, app };
  return {
    kind,
    load: level.load,
    concurrency: level.concurrency,
    app,
    servedP50: served.p50,
    servedP99: served.p99,
    clientMean: client.mean,
    outsideMean: round(client.mean - served.mean),
    servedMean: served.mean,
    ...(inside.traced
      ? {
          dbMean: round(inside.traced.dbMs),
          dbQueries: round(inside.traced.dbQueries, 1),
          fetchMean: round(inside.traced.fetchMs),
          restMean: round(served.mean - inside.traced.dbMs - inside.traced.fetchMs),
        }
      : {}),
    fetchMsPerRequest: inside.outbound ? round((inside.outbound.mean * inside.outbound.requests) / served.requests) : 0,
    cpuMsPerRequest: round(inside.cpuMs / served.requests),
    eventLoopBusy: round(inside.eventLoopUtilization),
  };
}


function databaseKindFromEnvironment(): DatabaseKind {
  const value = process.env.BENCH_DATABASE ?? 'pglite';
  if (value !== 'pglite' && value !== 'postgres') throw new Error(`BENCH_DATABASE must be pglite or postgres, not ${value}`);
  return value;
}

function kindsFromEnvironment(): Kind[] {
  const raw = process.env.BENCH_KINDS;
  if (raw === undefined || raw === '' || raw === '1') return [...KINDS];
  if (raw === 'none' || raw === '0') return [];
  const wanted = raw.split(',').map((kind) => kind.trim());
  const unknown = wanted.filter((kind) => !(KINDS as readonly string[]).includes(kind));
  if (unknown.length > 0) throw new Error(`BENCH_KINDS: unknown ${unknown.join(', ')} (kinds: ${KINDS.join(', ')}, or none)`);
  return KINDS.filter((kind) => wanted.includes(kind));
}

