import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ACTION_APPROVE, ACTION_REJECT } from '../src/channels/slack/blocks.ts';
import { buttonClick, sendSignedInteraction, startSlackFake, type SlackFake } from '../test/fakes/slack-fake.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../test/support/databases.ts';
import { fromServerSchema, type FromServer, type ServerSettings, type ToServer } from './approval-ack/protocol.ts';
import type { Benchmark } from './support/benchmark.ts';
import { round, runClosedLoop, summarize, type LatencySummary } from './support/latency.ts';

/**
 * How fast Adjutant answers a signed Approve/Reject click at /slack/events, next to a bare Bolt
 * app that only acks, both measured in this run (the ratio is the figure to judge; absolute
 * times depend on the machine). Slack gives an app 3 s; with processBeforeResponse the answer
 * waits for the whole listener, database work and the ephemeral reply included.
 *
 * BENCH_DATABASE=postgres runs Adjutant on the test PostgreSQL (bash test/services/up.sh)
 * instead of PGlite. BENCH_REQUESTS changes the measured requests per level (default 400).
 */
const BOT_TOKEN = 'xoxb-bench-bot-token';
const SIGNING_SECRET = 'bench-signing-secret-0123456789';
const APPROVER = 'U0ALICE';
const CHANNEL = 'C0APPROVALS';
const DRAFT_MESSAGE_TS = '1700000000.000002';
const CONCURRENCY_LEVELS = [1, 10, 50];
const BREAKDOWN_ITERATIONS = 200;
const SERVER_ENTRY = fileURLToPath(new URL('./approval-ack/server.ts', import.meta.url));

type TargetName = 'bare-bolt' | 'adjutant';

const benchmark: Benchmark = {
  name: 'approval-ack',
  description: 'ack latency of a signed Approve/Reject click on an already-decided draft, Adjutant vs a bare Bolt app, at 1/10/50 concurrent',
  async run() {
    const databaseKind = databaseKindFromEnvironment();
    const requests = positiveInteger('BENCH_REQUESTS', 400);
    let slack: SlackFake | null = null;
    let database: TestDatabase | null = null;
    const servers: ServerProcess[] = [];
    try {
      slack = await startSlackFake({ botToken: BOT_TOKEN, channelMembers: { [CHANNEL]: [APPROVER] } });
      database = await createTestDatabase(databaseKind);
      const common = { botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, slackApiUrl: slack.apiUrl, approver: APPROVER, channel: CHANNEL, dataDir: database.dataDir };
      const [bare, adjutant] = await Promise.all([
        startServer({ ...common, target: 'bare' }, servers),
        startServer({ ...common, target: 'adjutant', ...(database.databaseUrl ? { databaseUrl: database.databaseUrl } : {}) }, servers),
      ]);
      const draftId = adjutant.ready.draftId;
      if (!draftId) throw new Error('the Adjutant server did not report the draft it created');
      const targets: { name: TargetName; url: string; server: ServerProcess }[] = [
        { name: 'bare-bolt', url: `http://127.0.0.1:${bare.ready.port}/slack/events`, server: bare },
        { name: 'adjutant', url: `http://127.0.0.1:${adjutant.ready.port}/slack/events`, server: adjutant },
      ];

      const latencyRows: Record<string, string | number>[] = [];
      const ratioRows: Record<string, number>[] = [];
      const serverRows: Record<string, string | number>[] = [];
      let clicksToAdjutant = 0;
      for (const concurrency of CONCURRENCY_LEVELS) {
        const warmup = Math.max(60, concurrency * 3);
        const byTarget = new Map<TargetName, LatencySummary>();
        // Same level, back to back: both see the same machine load, which is what makes the ratio fair.
        for (const target of targets) {
          const send = async (index: number) => {
            const click = buttonClick({ userId: APPROVER, channel: CHANNEL, messageTs: DRAFT_MESSAGE_TS, actionId: index % 2 === 0 ? ACTION_APPROVE : ACTION_REJECT, value: draftId });
            const response = await sendSignedInteraction(target.url, SIGNING_SECRET, click);
            if (response.status !== 200) throw new Error(`${target.name} answered ${response.status} to a signed click: ${response.body.slice(0, 200)}`);
          };
          await runClosedLoop({ concurrency, requests: warmup, send });
          await target.server.request({ type: 'timings' }, 'timings', 10_000);
          const measured = await runClosedLoop({ concurrency, requests, send });
          const inside = await target.server.request({ type: 'timings' }, 'timings', 10_000);
          if (target.name === 'adjutant') clicksToAdjutant += warmup + requests;
          const summary = summarize(measured.latenciesMs);
          byTarget.set(target.name, summary);
          latencyRows.push({ concurrency, app: target.name, ...summary, requestsPerSecond: round((requests / measured.wallMs) * 1000, 0) });
          serverRows.push(serverSideRow(concurrency, target.name, summary, inside));
        }
        const baseline = byTarget.get('bare-bolt');
        const ours = byTarget.get('adjutant');
        if (baseline && ours) ratioRows.push({ concurrency, p50: round(ours.p50 / baseline.p50), p99: round(ours.p99 / baseline.p99) });
      }

      // Every click must have taken the full path, down to the ephemeral "already rejected" answer.
      const answers = slack.callsTo('chat.postEphemeral');
      if (answers.length !== clicksToAdjutant || !answers.every((call) => String(call.args.text).includes('already rejected'))) {
        throw new Error(`expected ${clicksToAdjutant} ephemeral "already rejected" answers, the Slack fake saw ${answers.length}: the clicks did not take the path this benchmark measures`);
      }
      const breakdown = await adjutant.request({ type: 'breakdown', iterations: BREAKDOWN_ITERATIONS }, 'breakdown', 60_000);

      return {
        database: adjutant.ready.database ?? databaseKind,
        requestsPerLevel: requests,
        latencyMs: latencyRows,
        ratioAdjutantToBare: ratioRows,
        insideServerMs: serverRows,
        adjutantStepsAloneMs: breakdown.steps,
        checks: { clicksToAdjutant, ephemeralAnswers: answers.length },
      };
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
      await slack?.close();
      await database?.drop();
    }
  },
};

export default benchmark;

/**
 * Means add up where percentiles do not: seen by the client = inside the server + outside
 * (transport, scheduling, the load generator); inside = the Slack Web API call + the rest
 * (Bolt, our code, the database). CPU per click and event-loop utilization say whether the
 * server process was busy (then waits show up in whichever step yields to the event loop) or idle.
 */
function serverSideRow(concurrency: number, app: TargetName, client: LatencySummary, inside: Reply<'timings'>): Record<string, string | number> {
  const served = inside.served;
  if (!served) return { concurrency, app };
  const slackCallPerClick = inside.outbound ? (inside.outbound.mean * inside.outbound.requests) / served.requests : 0;
  return {
    concurrency,
    app,
    servedP50: served.p50,
    servedP99: served.p99,
    clientMean: client.mean,
    outsideMean: round(client.mean - served.mean),
    servedMean: served.mean,
    slackCallMean: round(slackCallPerClick),
    restMean: round(served.mean - slackCallPerClick),
    cpuMsPerClick: round(inside.cpuMs / served.requests),
    eventLoopBusy: round(inside.eventLoopUtilization),
  };
}

type Reply<T extends FromServer['type']> = Extract<FromServer, { type: T }>;

interface ServerProcess {
  ready: Reply<'ready'>;
  request<T extends FromServer['type']>(message: ToServer, expect: T, timeoutMs: number): Promise<Reply<T>>;
  stop(): Promise<void>;
}

/** Fork the server process (it inherits tsx from this one) and wait until it listens. */
async function startServer(settings: ServerSettings, started: ServerProcess[]): Promise<ServerProcess> {
  const child = fork(SERVER_ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const request = <T extends FromServer['type']>(message: ToServer, expect: T, timeoutMs: number) => exchange(child, settings.target, message, expect, timeoutMs);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await request({ type: 'stop' }, 'stopped', 15_000).catch(() => child.kill('SIGKILL'));
    await exited;
  };
  const partial: ServerProcess = { ready: { type: 'ready', port: 0, draftId: null, database: null }, request, stop };
  started.push(partial);
  partial.ready = await request({ type: 'start', settings }, 'ready', 90_000);
  return partial;
}

function exchange<T extends FromServer['type']>(child: ChildProcess, name: string, message: ToServer, expect: T, timeoutMs: number): Promise<Reply<T>> {
  return new Promise((resolve, reject) => {
    const done = (settle: () => void) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      settle();
    };
    const onMessage = (raw: unknown) => {
      const parsed = fromServerSchema.safeParse(raw);
      if (!parsed.success) return done(() => reject(new Error(`${name} server sent an unreadable message: ${JSON.stringify(raw)}`)));
      const reply = parsed.data;
      if (reply.type === 'failed') return done(() => reject(new Error(`${name} server failed: ${reply.error}`)));
      if (reply.type === expect) done(() => resolve(reply as Reply<T>));
    };
    const onExit = (code: number | null) => done(() => reject(new Error(`${name} server exited (code ${code}) before answering ${message.type}`)));
    const timer = setTimeout(() => done(() => reject(new Error(`${name} server did not answer ${message.type} within ${timeoutMs} ms`))), timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message);
  });
}

function databaseKindFromEnvironment(): DatabaseKind {
  const value = process.env.BENCH_DATABASE ?? 'pglite';
  if (value !== 'pglite' && value !== 'postgres') throw new Error(`BENCH_DATABASE must be pglite or postgres, not ${value}`);
  return value;
}

function positiveInteger(variable: string, fallback: number): number {
  const raw = process.env[variable];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${variable} must be a positive whole number, not ${raw}`);
  return value;
}
