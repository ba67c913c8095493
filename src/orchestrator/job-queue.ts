import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Agenda, exponential, when } from 'agenda';
import { PostgresBackend } from '@agendajs/postgres-backend';
import type pg from 'pg';
import { z } from 'zod';
import { AdjutantError, errorMessage, isRetryable } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { isProcessAlive } from '../process-alive.ts';
import { DEAD_JOB_CONDITION, JOB_CHANNEL, jobInsert, readDeadJobs, type DeadJob, reviveDeadJob, reviveJobSet } from '../db/job-table.ts';
import { JOB_SCHEDULES_TICK, type JobData, type JobName } from './job-names.ts';
import { createScheduler, SCHEDULE_TICK_CRON, type Schedule, type ScheduledJobData } from './schedules.ts';

export type { DeadJob } from '../db/job-table.ts';
export type { JobName } from './job-names.ts';
export type { Schedule } from './schedules.ts';

export interface JobContext {
  /** 1 on the first run, 2 on the first retry… */
  attempt: number;
  /** True on the run after which no retry will follow. */
  lastAttempt: boolean;
}

export interface JobDefinition<T> {
  name: string;
  schema: z.ZodType<T>;
  run(data: T, context: JobContext): Promise<void>;
  /** Retries after the first failure (default 10: exponential from 2 s, capped at 5 min, about 20 min in all). */
  maxRetries?: number;
}

/**
 * When an enqueued job may start: at a time, or a delay after the queue's clock (`now`).
 * It starts no earlier; unset, at once.
 */
export type StartWhen = { at: Date; delayMs?: never } | { delayMs: number; at?: never };

export interface JobQueue {
  define<T>(definition: JobDefinition<T>): void;
  /**
   * Enqueue once per (name, key), atomically: a unique index decides between racing callers, so
   * a step that runs twice, or an event Slack delivers twice, enqueues its follow-up once.
   * Finished jobs are kept, so the key stays taken; a job whose retries were spent is revived
   * instead (its work never happened, and asking again is how it gets done).
   * A typed name (job-names.ts) makes `data` its job's data type; `when` delays the start.
   * Returns true when this call created the job or revived it.
   */
  enqueue<T extends JobData>(name: JobName<T>, key: string, data: NoInfer<T>, when?: StartWhen): Promise<boolean>;
  /** Jobs whose retries are spent, oldest first. */
  deadJobs(): Promise<DeadJob[]>;
  /** Run a dead job again with a fresh set of retries. */
  revive(id: string): Promise<boolean>;
  /**
   * Whether a job of this name whose data contains `match` is waiting, running, or held by a
   * worker that died (agenda hands that one over once its lock lapses): whether it will run.
   */
  isActive(name: string, match: Record<string, string>): Promise<boolean>;
  /** Marks a dead job as announced; false when it already was (announce once). */
  markAnnounced(id: string): Promise<boolean>;
  /** Run a job every `intervalMs`, once per interval however many workers run. */
  every(name: string, intervalMs: number): Promise<void>;
  /**
   * Run a job on a cron expression in a time zone: each occurrence is enqueued once, keyed by its
   * time (ISO), with `{ scheduledFor }` as data, however many workers run and across restarts.
   * Each replica registers the same schedules (as it defines the same jobs); schedules.ts says how.
   */
  schedule(name: JobName<ScheduledJobData>, schedule: Schedule): Promise<void>;
  /** What the schedule tick does every minute, by the queue's clock: tests call it instead of waiting. */
  tickSchedules(): Promise<number>;
  start(): Promise<void>;
  /** Wait up to `graceMs` for running jobs, then release the rest for another worker. */
  stop(graceMs: number): Promise<void>;
  health(): { running: boolean };
}

/**
 * How long a job's lock lasts without a heartbeat. Running jobs are touched every third of it,
 * so only a dead worker's jobs expire, and another worker (or the restarted one) takes them
 * within seconds instead of agenda's default ten minutes.
 */
export const JOB_LOCK_LIFETIME_MS = 6_000;
/**
 * On PGlite, the jobs held locked, running or about to run (see lockLimit below). A poll every
 * 250 ms locks at most this many: up to 200 jobs a second.
 */
const EMBEDDED_LOCK_AHEAD = 50;
const DEFAULT_MAX_RETRIES = 10;

export function createJobQueue(deps: {
  pool: pg.Pool;
  embedded: boolean;
  logger: Logger;
  processEveryMs?: number;
  lockLifetimeMs?: number;
  /** The clock delays and schedules are reckoned by (agenda itself runs on the real one). */
  now?: () => Date;
}): JobQueue {
  const { pool, embedded, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const lockLifetime = deps.lockLifetimeMs ?? JOB_LOCK_LIFETIME_MS;
  const backend = new PostgresBackend({
    pool,
    // On PGlite there is one connection: LISTEN/NOTIFY would hold it forever.
    disableNotifications: embedded,
    // The channel our own enqueue notifies on (job-table.ts). Unset, the backend listens on
    // agenda's default ("agenda:jobs") and our notifications woke nobody: a job waited for the
    // next poll (p50 414 ms, bench jobs) instead of about 4 ms.
    channelName: JOB_CHANNEL,
    // Our migrations own agenda's tables, indexes and trigger: the backend recreating its trigger
    // on every connect raced with other processes connecting at the same moment.
    ensureSchema: false,
  });
  const workerName = `adjutant-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const agenda = new Agenda({
    backend,
    // Unique per process, across hosts: it is what a job's lock records as its holder.
    name: workerName,
    processEvery: deps.processEveryMs ?? (embedded ? 250 : 1000),
    defaultLockLifetime: lockLifetime,
    // Embedded: one job at a time, so jobs never starve request-path queries on the single connection.
    maxConcurrency: embedded ? 1 : 10,
    defaultConcurrency: embedded ? 1 : 5,
    // Embedded: how many jobs this process holds locked, running or about to run. Unbounded
    // (agenda's default), a backlog (a burst of approvals) was locked whole at every poll; what
    // waited behind the one running job past its lock's lifetime was dropped unrun and locked
    // again at a later poll, one query each, so PGlite's one connection spent its time relocking
    // and sent about one reply a second. On PostgreSQL the bound is left off: there NOTIFY locks
    // each new job at once, and a bound made new jobs wait for the next poll (no-op job
    // throughput 0.018 → 0.011 of SELECT 1, two-step chains 0.018 → 0.005, `npm run bench -- jobs`).
    ...(embedded ? { lockLimit: EMBEDDED_LOCK_AHEAD } : {}),
  });
  agenda.on('error', (error: unknown) => logger.error({ err: error }, 'job queue error'));
  let running = false;
  /** The schemas of the jobs this process defines: enqueueing checks data against them. */
  const schemas = new Map<string, z.ZodType<unknown>>();

  /** Creates the job unless its key is taken; with `revive`, runs a taken key's dead job again. */
  async function insert(job: { name: string; key: string; data: JobData; runAt: Date | null }, revive: boolean): Promise<boolean> {
    const { name, key } = job;
    // Data a job would refuse is refused here, where the caller can see the mistake, rather
    // than stored and failed later by a worker.
    const parsed = schemas.get(name)?.safeParse(job.data);
    if (parsed && !parsed.success) {
      throw new AdjutantError('CONFLICT', `job ${name} (${key}) was given data its schema refuses: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(data)'}: ${issue.message}`).join('; ')}`, { retryable: false });
    }
    try {
      // One statement: the unique index on (name, data.key) makes a second enqueue, however
      // close in time, a no-op instead of a duplicate job (and no error: on PGlite an error
      // would cost the shared connection). With notifications on, workers are woken the way
      // agenda's PostgreSQL backend wakes them (its NOTIFY payload), so they need not poll.
      const values: unknown[] = [];
      const statement = jobInsert(job, { source: null, embedded, param: (value) => `$${values.push(value)}` });
      const inserted = await pool.query<{ created: number }>(`WITH ${statement.cte} SELECT ${statement.created} AS created`, values);
      if (Number(inserted.rows[0]?.created ?? 0) > 0) return true;
      if (!revive) return false;
      // The key is taken. A job whose retries were spent is run again: its work never happened.
      const revived = await pool.query(
        `UPDATE agenda_jobs SET ${reviveJobSet(job.runAt ? '$3::timestamptz' : 'now()')} WHERE name = $1 AND data ? 'key' AND data->>'key' = $2 AND ${DEAD_JOB_CONDITION}`,
        job.runAt ? [name, key, job.runAt.toISOString()] : [name, key],
      );
      if ((revived.rowCount ?? 0) === 0) return false;
      logger.info({ job: name, key }, 'revived a job whose retries were spent');
      return true;
    } catch (error) {
      throw new AdjutantError('DB_UNAVAILABLE', `could not enqueue ${name} (${key}): ${errorMessage(error)}`, { cause: error });
    }
  }

  /** When a job asked to start at `when` may start; null: at once (the database's now()). */
  function startAt(name: string, when: StartWhen | undefined): Date | null {
    if (!when) return null;
    const at = when.at ?? new Date(now().getTime() + (when.delayMs ?? Number.NaN));
    if (Number.isNaN(at.getTime()) || (when.delayMs !== undefined && !(when.delayMs >= 0))) {
      throw new AdjutantError('CONFLICT', `job ${name} was asked to start at ${JSON.stringify(when)}: give { at: a valid Date } or { delayMs: a number of milliseconds ≥ 0 }`, { retryable: false });
    }
    return at;
  }

  // A failed occurrence is not revived by the next tick: within its grace it would run again every minute.
  const scheduler = createScheduler({ now, enqueueOnce: (name, key, data) => insert({ name, key, data, runAt: null }, false) });
  let tickScheduled = false;

  const queue: JobQueue = {
    define<T>(definition: JobDefinition<T>) {
      schemas.set(definition.name, definition.schema);
      const maxRetries = definition.maxRetries ?? DEFAULT_MAX_RETRIES;
      agenda.define<Record<string, unknown>>(
        definition.name,
        async (job) => {
          const attempt = (job.attrs.failCount ?? 0) + 1;
          const parsed = definition.schema.safeParse(job.attrs.data);
          if (!parsed.success) {
            // Bad job data will not get better by retrying.
            throw new AdjutantError('CONFLICT', `job ${definition.name} has invalid data: ${parsed.error.message}`, { retryable: false });
          }
          const log = logger.child({ job: definition.name, jobId: String(job.attrs._id), attempt });
          const started = Date.now();
          // The heartbeat that keeps the lock: a job still running is never taken by another
          // worker. The first beat is now: a job can wait in this process's queue for most of its
          // lock's lifetime, and another worker must not find that lock lapsing as work begins.
          await job.touch();
          const heartbeat = setInterval(() => {
            job.touch().catch((error: unknown) => log.warn({ err: error }, 'could not renew the job lock'));
          }, Math.max(1000, Math.floor(lockLifetime / 3)));
          try {
            await definition.run(parsed.data, { attempt, lastAttempt: attempt > maxRetries });
            log.info({ ms: Date.now() - started }, 'job done');
          } catch (error) {
            log.warn({ err: error, retryable: isRetryable(error), ms: Date.now() - started }, 'job failed');
            throw error;
          } finally {
            clearInterval(heartbeat);
          }
        },
        {
          lockLifetime,
          backoff: when(
            (context) => isRetryable(context.error),
            exponential({ delay: 2000, factor: 2, maxRetries, maxDelay: 5 * 60_000, jitter: 0.2 }),
          ),
        },
      );
    },
    async enqueue(name, key, data, when) {
      return insert({ name, key, data, runAt: startAt(name, when) }, true);
    },
    deadJobs() {
      return readDeadJobs(pool, 200);
    },
    revive(id) {
      return reviveDeadJob(pool, id);
    },
    async isActive(name, match) {
      const result = await pool.query(
        `SELECT 1 FROM agenda_jobs WHERE name = $1 AND data @> $2::jsonb AND (next_run_at IS NOT NULL OR locked_at IS NOT NULL)`,
        [name, JSON.stringify(match)],
      );
      return (result.rowCount ?? 0) > 0;
    },
    async markAnnounced(id) {
      const result = await pool.query(`UPDATE agenda_jobs SET data = data || '{"announced": true}'::jsonb WHERE id = $1::uuid AND NOT (data ? 'announced')`, [id]);
      return (result.rowCount ?? 0) > 0;
    },
    async every(name, intervalMs) {
      await agenda.every(`${Math.max(1, Math.round(intervalMs / 1000))} seconds`, name, {}, { skipImmediate: false });
    },
    async schedule(name, schedule) {
      scheduler.add(name, schedule);
      if (tickScheduled) return;
      // One tick job for all schedules (agenda keeps one row per repeating name, whoever saves it).
      await agenda.every(SCHEDULE_TICK_CRON, JOB_SCHEDULES_TICK, {});
      tickScheduled = true;
    },
    tickSchedules() {
      return scheduler.tick();
    },
    async start() {
      await releaseJobsOfDeadLocalWorkers(pool, workerName, logger);
      await agenda.start();
      running = true;
    },
    async stop(graceMs) {
      if (!running) return;
      running = false;
      await agenda.drain({ timeout: graceMs, closeConnection: false }).catch((error: unknown) => logger.warn({ err: error }, 'drain failed'));
      // Anything still running is unlocked so another worker (or the next start) picks it up.
      await agenda.stop(false);
    },
    health() {
      return { running };
    },
  };
  queue.define({
    name: JOB_SCHEDULES_TICK,
    schema: z.record(z.string(), z.unknown()),
    async run() {
      await scheduler.tick();
    },
  });
  return queue;
}


/**
 * A restarted process would otherwise wait out the lock lifetime of the jobs its previous
 * incarnation held. Workers on this host can be checked directly: a holder named for this host
 * whose process is gone (or whose pid is now ours: a restarted container) is dead, so its locks
 * are released at once. Holders on other hosts are left to lock expiry.
 */
async function releaseJobsOfDeadLocalWorkers(pool: pg.Pool, me: string, logger: Logger): Promise<void> {
  const prefix = `adjutant-${hostname()}-`;
  const holders = await pool.query<{ holder: string }>(
    `SELECT DISTINCT last_modified_by AS holder FROM agenda_jobs WHERE locked_at IS NOT NULL AND starts_with(last_modified_by, $1) AND last_modified_by <> $2`,
    [prefix, me],
  );
  const dead = holders.rows
    .map((row) => row.holder)
    .filter((holder) => {
      const pid = Number(holder.slice(prefix.length).split('-')[0]);
      return Number.isInteger(pid) && (pid === process.pid || !isProcessAlive(pid));
    });
  if (dead.length === 0) return;
  // agenda clears next_run_at when a run starts: a job killed mid-run needs one again, or,
  // unlocked, it would never be picked up.
  const released = await pool.query(
    `UPDATE agenda_jobs SET locked_at = NULL, next_run_at = COALESCE(next_run_at, now()) WHERE locked_at IS NOT NULL AND last_modified_by = ANY($1::text[])`,
    [dead],
  );
  logger.info({ released: released.rowCount, holders: dead }, 'released the jobs of stopped workers on this host');
}
