import { execFileSync } from 'node:child_process';
import { createDatabase, type Database } from '../src/db/database.ts';
import { JOB_CHANNEL } from '../src/db/job-table.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../test/support/databases.ts';
import {
  AGENDA_CHANNEL,
  createScratchTable,
  measureLatency,
  measureNoop,
  measurePipeline,
  measureSelectOne,
  type Context,
  type LatencyFigures,
  type PipelineFigures,
  type ThroughputFigures,
} from './jobs/measure.ts';
import type { Benchmark } from './support/benchmark.ts';
import { round } from './support/latency.ts';
import { wholeNumber } from './support/env.ts';

/**
 * The job queue (agenda 6 on its PostgreSQL backend, through createJobQueue with its defaults)
 * on PostgreSQL and on PGlite: no-op jobs per second, two-step pipeline chains per second (each
 * step one INSERT, the first also enqueueing the second), and enqueue-to-handler-start latency
 * with the queue idle, each next to sequential `SELECT 1` round trips per second on the same
 * pool in the same run (jobs/s ÷ SELECT 1/s is the figure to compare across machines). On
 * PGlite (one connection, no NOTIFY) workers poll every 250 ms and run one job at a time; on
 * PostgreSQL they poll every second and are meant to be woken by the enqueue's NOTIFY. The
 * latency is also measured on PostgreSQL with the same NOTIFY sent on the channel agenda listens
 * on, which shows whether the enqueue's own wakes it. Needs the test services (bash
 * test/services/up.sh).
 *
 * BENCH_JOBS (500) jobs and chains per round, BENCH_JOBS_ROUNDS (2) rounds, BENCH_SELECTS
 * (2000) SELECT 1 per round, BENCH_JOBS_ENQUEUERS (4) concurrent enqueue callers,
 * BENCH_LATENCY_SAMPLES (100), BENCH_DATABASES (postgres,pglite), BENCH_SEED (1).
 */
const LATENCY_WARMUP = 3;
const WARMUP_JOBS = 30;

const benchmark: Benchmark = {
  name: 'jobs',
  description: 'job queue throughput (no-op and two-step pipeline jobs/s) and enqueue-to-start latency on PostgreSQL and PGlite, next to SELECT 1 round trips/s on the same pool',
  async run() {
    const jobs = wholeNumber('BENCH_JOBS', 500);
    const rounds = wholeNumber('BENCH_JOBS_ROUNDS', 2);
    const selects = wholeNumber('BENCH_SELECTS', 2000);
    const enqueuers = wholeNumber('BENCH_JOBS_ENQUEUERS', 4);
    const samples = wholeNumber('BENCH_LATENCY_SAMPLES', 100);
    const seed = wholeNumber('BENCH_SEED', 1);
    const kinds = databaseKinds();
    const loadBefore = uptime();
    console.log(`load before: ${loadBefore}`);

    const summary: Record<string, unknown>[] = [];
    const latency: Record<string, unknown>[] = [];
    const details: Record<string, unknown> = {};
    const servers: Record<string, unknown> = {};
    for (const kind of kinds) {
      const measured = await measureKind(kind, { jobs, rounds, selects, enqueuers, samples, seed });
      servers[kind] = measured.server;
      details[kind] = { rounds: measured.rounds, latency: measured.latency, ...(measured.latencyAgendaChannel ? { latencyWithNotifyOnAgendaChannel: measured.latencyAgendaChannel } : {}) };
      const median = (pick: (round: RoundFigures) => number) => round(medianOf(measured.rounds.map(pick)), 4);
      summary.push({
        database: kind,
        select1PerSecond: median((r) => r.select.perSecond),
        noopJobsPerSecond: median((r) => r.noop.jobsPerSecond),
        noopRatio: ratio(median((r) => r.noop.jobsPerSecond / r.select.perSecond)),
        pipelineJobsPerSecond: median((r) => r.pipeline.jobsPerSecond),
        pipelineChainsPerSecond: median((r) => r.pipeline.chainsPerSecond),
        pipelineRatio: ratio(median((r) => r.pipeline.jobsPerSecond / r.select.perSecond)),
        noopRecordedPerSecond: median((r) => (r.noop.jobs * 1000) / r.noop.recordedMs),
      });
      const row = (database: string, figures: LatencyFigures) => {
        const { enqueuedToStartMs: start, enqueueMs } = figures;
        return { database, samples: start.requests, p50: start.p50, p95: start.p95, p99: start.p99, max: start.max, mean: start.mean, enqueueP50: enqueueMs.p50, enqueueP99: enqueueMs.p99 };
      };
      latency.push(row(kind, measured.latency));
      if (measured.latencyAgendaChannel) latency.push(row(`${kind}, + NOTIFY "${AGENDA_CHANNEL}"`, measured.latencyAgendaChannel));
    }
    const loadAfter = uptime();
    // The queue's backend listens on JOB_CHANNEL, the channel enqueue notifies (job-table.ts).
    const channels = `On PostgreSQL the enqueue's NOTIFY on "${JOB_CHANNEL}" wakes an idle worker at once; PGlite has no NOTIFY and polls every 250 ms`;
    return {
      setup: {
        jobsPerRound: jobs,
        rounds,
        selectsPerRound: selects,
        enqueuers,
        queue: 'createJobQueue defaults: postgres processEvery 1000 ms + NOTIFY on enqueue, concurrency 5 per job name, 10 in all; pglite processEvery 250 ms, no NOTIFY, 1 at a time',
        pipeline: 'chain = step1 (INSERT + enqueue step2) -> step2 (INSERT); pipelineJobsPerSecond counts both steps',
      },
      servers,
      load: { before: loadBefore, after: loadAfter },
      throughputMedianOfRounds: summary,
      ratios: 'noopRatio, pipelineRatio: jobs/s ÷ SELECT 1/s, paired within each round, median over rounds (per-round figures in the JSON details)',
      enqueuedToHandlerStartMs: latency,
      latencyNote: `from enqueue() resolving to the handler's first line (after agenda's lock, its run-start write and the wrapper's touch), queue idle, enqueues at uniformly random times over the poll interval. ${channels}`,
      details,
    };
  },
};

export default benchmark;

interface RoundFigures {
  round: number;
  select: Awaited<ReturnType<typeof measureSelectOne>>;
  noop: ThroughputFigures;
  pipeline: PipelineFigures;
}

async function measureKind(
  kind: DatabaseKind,
  options: { jobs: number; rounds: number; selects: number; enqueuers: number; samples: number; seed: number },
): Promise<{ server: Record<string, string>; rounds: RoundFigures[]; latency: LatencyFigures; latencyAgendaChannel: LatencyFigures | null }> {
  let testDatabase: TestDatabase | null = null;
  let database: Database | null = null;
  try {
    testDatabase = await createTestDatabase(kind);
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    await createScratchTable(database);
    const context: Context = { database, logger: createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'error' }) };
    const server = await serverSettings(database);
    const prefix = kind === 'postgres' ? 'pg' : 'lite';

    console.log(`${kind}: warming up`);
    await measureSelectOne(context, 200);
    await measureNoop(context, { label: `${prefix}-warm-noop`, jobs: WARMUP_JOBS, enqueuers: options.enqueuers });
    await measurePipeline(context, { label: `${prefix}-warm-pipe`, chains: WARMUP_JOBS, enqueuers: options.enqueuers });

    const rounds: RoundFigures[] = [];
    for (let index = 1; index <= options.rounds; index++) {
      const select = await measureSelectOne(context, options.selects);
      const noop = await measureNoop(context, { label: `${prefix}-r${index}-noop`, jobs: options.jobs, enqueuers: options.enqueuers });
      const pipeline = await measurePipeline(context, { label: `${prefix}-r${index}-pipe`, chains: options.jobs, enqueuers: options.enqueuers });
      rounds.push({ round: index, select, noop, pipeline });
      console.log(`${kind} round ${index}: SELECT 1 ${select.perSecond}/s, no-op ${noop.jobsPerSecond} jobs/s, pipeline ${pipeline.jobsPerSecond} jobs/s (${pipeline.chainsPerSecond} chains/s)`);
    }

    // Enqueues spread uniformly over the poll interval (createJobQueue's default processEvery), as
    // work arriving at random would be: what wakes the worker here is its poll (see latencyNote).
    const pollMs = kind === 'pglite' ? 250 : 1000;
    const latency = await measureLatency(context, { label: `${prefix}-latency`, samples: options.samples, warmup: LATENCY_WARMUP, maxGapMs: pollMs, seed: options.seed });
    console.log(`${kind} enqueue-to-start: p50 ${latency.enqueuedToStartMs.p50} ms, p95 ${latency.enqueuedToStartMs.p95} ms, p99 ${latency.enqueuedToStartMs.p99} ms`);
    // (Until the queue's backend listened on the channel enqueue notifies, a second PostgreSQL
    // row notified agenda's default channel by hand: 414 ms → 4 ms. It is fixed; one row remains.)
    const latencyAgendaChannel: LatencyFigures | null = null;
    return { server, rounds, latency, latencyAgendaChannel };
  } finally {
    await database?.close();
    await testDatabase?.drop();
  }
}

async function serverSettings(database: Database): Promise<Record<string, string>> {
  const result = await database.pool.query<{ version: string; synchronous_commit: string; fsync: string }>(
    `SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS synchronous_commit, current_setting('fsync') AS fsync`,
  );
  const row = result.rows[0];
  return { version: row?.version ?? 'unknown', synchronousCommit: row?.synchronous_commit ?? 'unknown', fsync: row?.fsync ?? 'unknown', poolMax: String(database.pool.options.max) };
}

function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return 'uptime unavailable';
  }
}

/** Three significant digits: the printed tables show two decimals, too few for ratios near 0.05. */
function ratio(value: number): string {
  return value.toPrecision(3);
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

function databaseKinds(): DatabaseKind[] {
  const raw = process.env.BENCH_DATABASES ?? 'postgres,pglite';
  const kinds = raw.split(',').map((kind) => kind.trim()).filter((kind) => kind !== '');
  for (const kind of kinds) if (kind !== 'postgres' && kind !== 'pglite') throw new Error(`BENCH_DATABASES: ${kind} is neither postgres nor pglite`);
  return kinds as DatabaseKind[];
}

