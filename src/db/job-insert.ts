/**
 * SQL for a row in agenda's job table, shared by the job queue and by stores that create a job
 * in the same statement as the row it is about.
 */

/**
 * The enqueue as a CTE (`job`), for one statement that also writes the row the job is about (an
 * outbox: both commit or neither). The unique index on (name, data.key) makes a second enqueue a
 * no-op, with no error (on PGlite an error would cost the shared connection). With
 * notifications on, workers are woken the way agenda's PostgreSQL backend wakes them (its NOTIFY
 * payload), so they need not poll. `source`: a CTE the job is created once per row of (the job is
 * created only when it yields a row); null: unconditionally. `created` counts the jobs made.
 */
export function jobInsert(
  job: { name: string; key: string; data: Record<string, unknown> },
  options: { source: string | null; embedded: boolean; param: (value: unknown) => string },
): { cte: string; created: string } {
  const { param } = options;
  const values = `${param(job.name)}, ${param(JSON.stringify({ ...job.data, key: job.key }))}::jsonb, now(), 0, 'normal'`;
  const cte = `job AS (
    INSERT INTO agenda_jobs (name, data, next_run_at, priority, type)
    ${options.source ? `SELECT ${values} FROM ${options.source}` : `VALUES (${values})`}
    ON CONFLICT (name, (data->>'key')) WHERE data ? 'key' DO NOTHING
    RETURNING id, name, next_run_at
  )`;
  const notify = `pg_notify('agenda_jobs', json_build_object('jobId', id::text, 'jobName', name, 'nextRunAt', next_run_at, 'priority', 0, 'timestamp', now(), 'source', 'enqueue')::text)`;
  return { cte, created: options.embedded ? '(SELECT count(*) FROM job)' : `(SELECT count(${notify}) FROM job)` };
}
