import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { Database } from '../../src/db/database.ts';
import type { Logger } from '../../src/logger.ts';
import { createJobQueue, type JobQueue } from '../../src/orchestrator/job-queue.ts';
import { seededRandom } from '../../test/drills/random.ts';
import { round, runClosedLoop, summarize, type LatencySummary } from '../support/latency.ts';

/**
 * The job queue measured as the service runs it: createJobQueue on the database's own pool, with
 * its defaults (processEvery 1000 ms with NOTIFY on PostgreSQL, 250 ms polling and one job at a
 * time on PGlite). Each measurement gets a fresh, started queue defining only its own job names,
 * so no measurement's polling or leftovers reach another; it is stopped before the next starts.
 */
export interface Context {
  database: Database;
  logger: Logger;
}

const SCRATCH_TABLE = 'bench_jobs_scratch';
/** How long one measurement may wait for its jobs before it fails instead of hanging. */
const RUN_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 2000;

export async function createScratchTable(database: Database): Promise<void> {
  await database.pool.query(`CREATE TABLE IF NOT EXISTS ${SCRATCH_TABLE} (id bigserial PRIMARY KEY, chain text NOT NULL, step int NOT NULL, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
}

/** Sequential `SELECT 1` round trips on the pool the queue uses (nothing else running on it). */
export async function measureSelectOne(context: Context, queries: number): Promise<{ queries: number; perSecond: number; meanMs: number }> {
  const { pool } = context.database;
  for (let index = 0; index < Math.min(200, queries); index++) await pool.query('SELECT 1');
  const started = performance.now();
  for (let index = 0; index < queries; index++) await pool.query('SELECT 1');
  const elapsedMs = performance.now() - started;
  return { queries, perSecond: round((queries * 1000) / elapsedMs, 1), meanMs: round(elapsedMs / queries, 3) };
}

export interface ThroughputFigures {
  jobs: number;
  /** Every handler of the run has returned, from the first enqueue. */
  handlersDoneMs: number;
  /** agenda has also recorded every run as finished (last_finished_at set). */
  recordedMs: number;
  /** How long the enqueue burst itself took (the jobs start running during it). */
  enqueueMs: number;
  jobsPerSecond: number;
  /** Handler runs beyond one per job (a lock lapsing mid-run would show here). */
  extraRuns: number;
}

/**
 * No-op jobs: `jobs` distinct keys enqueued by `enqueuers` concurrent callers as fast as they
 * go into a started, idle queue whose handler does nothing; timed from the first enqueue until
 * every handler has returned.
 */
export async function measureNoop(context: Context, options: { label: string; jobs: number; enqueuers: number }): Promise<ThroughputFigures> {
  const name = 'bench.noop';
  const runs = createCounter(options.jobs);
  return withQueue(context, (queue) => {
    queue.define({ name, schema: z.object({ key: z.string() }), maxRetries: 0, run: async ({ key }) => runs.add(key) });
  }, async (queue) => {
    const started = performance.now();
    const burst = await runClosedLoop({ concurrency: options.enqueuers, requests: options.jobs, send: (index) => enqueueOrFail(queue, name, `${options.label}-${index}`) });
    await runs.done();
    const handlersDoneMs = performance.now() - started;
    await waitRecorded(context, [name], `${options.label}-%`, options.jobs);
    const recordedMs = performance.now() - started;
    return {
      jobs: options.jobs,
      handlersDoneMs: round(handlersDoneMs, 1),
      recordedMs: round(recordedMs, 1),
      enqueueMs: round(burst.wallMs, 1),
      jobsPerSecond: round((options.jobs * 1000) / handlersDoneMs, 1),
      extraRuns: runs.extra(),
    };
  });
}

export interface PipelineFigures {
  chains: number;
  handlersDoneMs: number;
  recordedMs: number;
  enqueueMs: number;
  chainsPerSecond: number;
  /** Two jobs per chain. */
  jobsPerSecond: number;
  extraRuns: number;
}

/**
 * Chains of two steps, each step what a pipeline step does besides its real work: step 1 writes
 * a row (one INSERT) and enqueues step 2 (once per key), step 2 writes its row and ends the
 * chain. `chains` first steps are enqueued as in measureNoop; timed until every second step has
 * returned.
 */
export async function measurePipeline(context: Context, options: { label: string; chains: number; enqueuers: number }): Promise<PipelineFigures> {
  const first = 'bench.step1';
  const second = 'bench.step2';
  const { pool } = context.database;
  const firstRuns = createCounter(options.chains);
  const secondRuns = createCounter(options.chains);
  const schema = z.object({ key: z.string(), chain: z.string() });
  const insert = (chain: string, step: number) => pool.query(`INSERT INTO ${SCRATCH_TABLE} (chain, step, payload) VALUES ($1, $2, $3::jsonb)`, [chain, step, JSON.stringify({ chain, step, at: Date.now() })]);
  return withQueue(context, (queue) => {
    queue.define({
      name: first,
      schema,
      maxRetries: 0,
      async run({ key, chain }) {
        await insert(chain, 1);
        await queue.enqueue(second, chain, { chain, key: chain });
        firstRuns.add(key);
      },
    });
    queue.define({
      name: second,
      schema,
      maxRetries: 0,
      async run({ key, chain }) {
        await insert(chain, 2);
        secondRuns.add(key);
      },
    });
  }, async (queue) => {
    const started = performance.now();
    const burst = await runClosedLoop({
      concurrency: options.enqueuers,
      requests: options.chains,
      send: (index) => enqueueOrFail(queue, first, `${options.label}-${index}`, { chain: `${options.label}-${index}` }),
    });
    await secondRuns.done();
    const handlersDoneMs = performance.now() - started;
    await waitRecorded(context, [first, second], `${options.label}-%`, options.chains * 2);
    const recordedMs = performance.now() - started;
    const rows = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${SCRATCH_TABLE} WHERE chain LIKE $1`, [`${options.label}-%`]);
    if ((rows.rows[0]?.n ?? 0) < options.chains * 2) throw new Error(`pipeline ${options.label}: ${rows.rows[0]?.n ?? 0} scratch rows, expected ${options.chains * 2}`);
    return {
      chains: options.chains,
      handlersDoneMs: round(handlersDoneMs, 1),
      recordedMs: round(recordedMs, 1),
      enqueueMs: round(burst.wallMs, 1),
      chainsPerSecond: round((options.chains * 1000) / handlersDoneMs, 1),
      jobsPerSecond: round((options.chains * 2 * 1000) / handlersDoneMs, 1),
      extraRuns: firstRuns.extra() + secondRuns.extra(),
    };
  });
}

export interface LatencyFigures {
  samples: number;
  gapMs: string;
  /** From enqueue() resolving to the handler's first line (agenda's lock, its run-start write and the wrapper's touch included). */
  enqueuedToStartMs: LatencySummary;
  /** The same from the moment enqueue() was called. */
  enqueueCallToStartMs: LatencySummary;
  /** enqueue() alone. */
  enqueueMs: LatencySummary;
}

/**
 * One job at a time into an idle, started queue: each sample waits for the previous job's
 * handler to return, then a random gap (so enqueues fall at every phase of the poll interval),
 * then enqueues and records when the handler starts.
 */
export async function measureLatency(
  context: Context,
  options: { label: string; samples: number; warmup: number; maxGapMs: number; seed: number; notifyAgendaChannel?: boolean },
): Promise<LatencyFigures> {
  const name = 'bench.latency';
  const random = seededRandom(options.seed, `jobs-latency-${options.label}`);
  const startedAt = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  return withQueue(context, (queue) => {
    queue.define({
      name,
      schema: z.object({ key: z.string() }),
      maxRetries: 0,
      async run({ key }) {
        startedAt.set(key, performance.now());
        waiting.get(key)?.();
      },
    });
  }, async (queue) => {
    const toStart: number[] = [];
    const callToStart: number[] = [];
    const enqueue: number[] = [];
    for (let index = 0; index < options.warmup + options.samples; index++) {
      await sleep(random.between(0, options.maxGapMs));
      const key = `${options.label}-${index}`;
      const ran = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`latency sample ${key}: the handler did not start within 10 s`)), 10_000);
        waiting.set(key, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      const called = performance.now();
      await enqueueOrFail(queue, name, key);
      if (options.notifyAgendaChannel) await notifyAgendaChannel(context, name, key);
      const enqueued = performance.now();
      await ran;
      waiting.delete(key);
      const start = startedAt.get(key) ?? Number.NaN;
      if (index < options.warmup) continue;
      toStart.push(start - enqueued);
      callToStart.push(start - called);
      enqueue.push(enqueued - called);
    }
    return {
      samples: options.samples,
      gapMs: `0-${options.maxGapMs}`,
      enqueuedToStartMs: summarize(toStart),
      enqueueCallToStartMs: summarize(callToStart),
      enqueueMs: summarize(enqueue),
    };
  });
}

/**
 * The wake-up agenda's PostgreSQL backend listens for: its channel is `agenda:jobs` (agenda's
 * BaseNotificationChannel default; PostgresBackend passes its channelName, unset, through),
 * while the enqueue's own NOTIFY (src/db/job-table.ts) goes to `agenda_jobs`, which nobody
 * listens on. Sent as a second statement after the enqueue, with the enqueue's payload, to show
 * what enqueue-to-start would be with the channel names agreeing (one round trip pessimistic).
 */
export const AGENDA_CHANNEL = 'agenda:jobs';

async function notifyAgendaChannel(context: Context, name: string, key: string): Promise<void> {
  await context.database.pool.query(
    `SELECT count(pg_notify($3, json_build_object('jobId', id::text, 'jobName', name, 'nextRunAt', next_run_at, 'priority', 0, 'timestamp', now(), 'source', 'bench')::text))
     FROM agenda_jobs WHERE name = $1 AND data->>'key' = $2`,
    [name, key, AGENDA_CHANNEL],
  );
}

async function withQueue<T>(context: Context, define: (queue: JobQueue) => void, body: (queue: JobQueue) => Promise<T>): Promise<T> {
  const queue = createJobQueue({ pool: context.database.pool, embedded: context.database.kind === 'pglite', logger: context.logger });
  define(queue);
  await queue.start();
  try {
    return await body(queue);
  } finally {
    await queue.stop(STOP_GRACE_MS);
  }
}

async function enqueueOrFail(queue: JobQueue, name: string, key: string, data: Record<string, unknown> = {}): Promise<void> {
  if (!(await queue.enqueue(name, key, { ...data, key }))) throw new Error(`${name} ${key} was not enqueued: the key is taken (a leftover of an earlier run?)`);
}

/** Handler runs: `done()` resolves once `target` distinct keys have run, and fails after RUN_TIMEOUT_MS. */
function createCounter(target: number): { add(key: string): void; extra(): number; done(): Promise<void> } {
  const seen = new Set<string>();
  let total = 0;
  let finish = (): void => undefined;
  return {
    add(key) {
      total++;
      seen.add(key);
      if (seen.size === target) finish();
    },
    extra: () => total - seen.size,
    done: () =>
      new Promise<void>((resolve, reject) => {
        if (seen.size >= target) return resolve();
        const timer = setTimeout(() => reject(new Error(`only ${seen.size} of ${target} jobs ran within ${RUN_TIMEOUT_MS / 1000} s`)), RUN_TIMEOUT_MS);
        finish = () => {
          clearTimeout(timer);
          resolve();
        };
      }),
  };
}

/** Polls (only once the handlers are done, so it does not compete with them) until agenda has recorded every run. */
async function waitRecorded(context: Context, names: string[], keyPattern: string, expected: number): Promise<void> {
  const deadline = performance.now() + RUN_TIMEOUT_MS;
  for (;;) {
    const result = await context.database.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM agenda_jobs WHERE name = ANY($1::text[]) AND data->>'key' LIKE $2 AND last_finished_at IS NOT NULL`,
      [names, keyPattern],
    );
    if ((result.rows[0]?.n ?? 0) >= expected) return;
    if (performance.now() > deadline) throw new Error(`agenda recorded ${result.rows[0]?.n ?? 0} of ${expected} runs as finished within ${RUN_TIMEOUT_MS / 1000} s`);
    await sleep(5);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
