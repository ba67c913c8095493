import type pg from 'pg';

/**
 * SQL on agenda's job table that the job queue shares: with stores that create a job in the same
 * statement as the row it is about, and with `adjutant status`, which reads it without a queue.
 */

/** A job that ended in failure with no retry scheduled and nobody holding it. */
export const DEAD_JOB_CONDITION = `next_run_at IS NULL AND locked_at IS NULL AND failed_at IS NOT NULL AND (last_finished_at IS NULL OR failed_at >= last_finished_at)`;

/** Runs a job again, with a fresh set of retries: at once, or at `nextRunAt` (an SQL expression). */
export function reviveJobSet(nextRunAt = 'now()'): string {
  return `next_run_at = ${nextRunAt}, fail_count = 0, failed_at = NULL, fail_reason = NULL, locked_at = NULL`;
}

/** A job that failed for good: its retries are spent. */
export interface DeadJob {
  id: string;
  name: string;
  key: string | null;
  failedAt: Date | null;
  failCount: number;
  reason: string | null;
  /** How many times it was run again after giving up (the reconciler caps this). */
  revivals: number;
  /** Whether giving up for good was announced already (announce once). */
  announced: boolean;
}

/** A job that failed and will run again: what is waiting, e.g. on a model server that is down. */
export interface RetryingJob {
  id: string;
  name: string;
  key: string | null;
  failCount: number;
  reason: string | null;
  nextRunAt: Date;
}

/** Jobs that failed at least once and are due to run again, soonest first. */
export async function readRetryingJobs(pool: Pick<pg.Pool, 'query'>, limit: number): Promise<RetryingJob[]> {
  const result = await pool.query<{ id: string; name: string; key: string | null; fail_count: number | null; fail_reason: string | null; next_run_at: Date }>(
    `SELECT id::text, name, data->>'key' AS key, fail_count, fail_reason, next_run_at
     FROM agenda_jobs WHERE next_run_at IS NOT NULL AND fail_count > 0 AND failed_at IS NOT NULL AND (last_finished_at IS NULL OR failed_at >= last_finished_at)
     ORDER BY next_run_at ASC LIMIT $1`,
    [limit],
  );
  return result.rows.map((row) => ({ id: row.id, name: row.name, key: row.key, failCount: row.fail_count ?? 0, reason: row.fail_reason, nextRunAt: row.next_run_at }));
}

/** Jobs whose retries are spent, oldest first. */
export async function readDeadJobs(pool: Pick<pg.Pool, 'query'>, limit: number): Promise<DeadJob[]> {
  const result = await pool.query<{ id: string; name: string; key: string | null; failed_at: Date | null; fail_count: number | null; fail_reason: string | null; revivals: number | null; announced: boolean }>(
    `SELECT id::text, name, data->>'key' AS key, failed_at, fail_count, fail_reason, (data->>'revivals')::int AS revivals, data ? 'announced' AS announced
     FROM agenda_jobs WHERE ${DEAD_JOB_CONDITION} ORDER BY failed_at ASC LIMIT $1`,
    [limit],
  );
  return result.rows.map((row) => ({
    id: row.id,
    name: row.name,
    key: row.key,
    failedAt: row.failed_at,
    failCount: row.fail_count ?? 0,
    reason: row.fail_reason,
    revivals: row.revivals ?? 0,
    announced: row.announced,
  }));
}

/** The NOTIFY channel that wakes job workers (the queue's backend listens on it). */
export const JOB_CHANNEL = 'agenda_jobs';

/**
 * The enqueue as a CTE (`job`), for one statement that also writes the row the job is about (an
 * outbox: both commit or neither). The unique index on (name, data.key) makes a second enqueue a
 * no-op, with no error (on PGlite an error would cost the shared connection). With
 * notifications on, workers are woken the way agenda's PostgreSQL backend wakes them (its NOTIFY
 * payload), so they need not poll. `source`: a CTE the job is created once per row of (the job is
 * created only when it yields a row); null: unconditionally. `created` counts the jobs made.
 * `runAt`: the job starts no earlier (agenda leaves a job alone until its next_run_at); unset: now.
 */
export function jobInsert(
  job: { name: string; key: string; data: Record<string, unknown>; runAt?: Date | null },
  options: { source: string | null; embedded: boolean; param: (value: unknown) => string },
): { cte: string; created: string } {
  const { param } = options;
  const nextRunAt = job.runAt ? `${param(job.runAt.toISOString())}::timestamptz` : 'now()';
  const values = `${param(job.name)}, ${param(JSON.stringify({ ...job.data, key: job.key }))}::jsonb, ${nextRunAt}, 0, 'normal'`;
  const cte = `job AS (
    INSERT INTO agenda_jobs (name, data, next_run_at, priority, type)
    ${options.source ? `SELECT ${values} FROM ${options.source}` : `VALUES (${values})`}
    ON CONFLICT (name, (data->>'key')) WHERE data ? 'key' DO NOTHING
    RETURNING id, name, next_run_at
  )`;
  const notify = `pg_notify('${JOB_CHANNEL}', json_build_object('jobId', id::text, 'jobName', name, 'nextRunAt', next_run_at, 'priority', 0, 'timestamp', now(), 'source', 'enqueue')::text)`;
  return { cte, created: options.embedded ? '(SELECT count(*) FROM job)' : `(SELECT count(${notify}) FROM job)` };
}

/** Run a dead job again with a fresh set of retries; false when it is not dead (or not there). */
export async function reviveDeadJob(pool: Pick<pg.Pool, 'query'>, id: string): Promise<boolean> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return false;
  const result = await pool.query(
    `UPDATE agenda_jobs SET ${reviveJobSet()},
       data = data - 'announced' || jsonb_build_object('revivals', COALESCE((data->>'revivals')::int, 0) + 1)
     WHERE id = $1::uuid AND ${DEAD_JOB_CONDITION}`,
    [id],
  );
  return (result.rowCount ?? 0) > 0;
}
