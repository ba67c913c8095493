import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { AdjutantError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { JOB_SCHEDULES_TICK } from '../src/orchestrator/job-names.ts';
import { createJobQueue, type JobQueue } from '../src/orchestrator/job-queue.ts';
import { scheduledJobData } from '../src/orchestrator/schedules.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Cron schedules on the job queue with a clock the test controls: an occurrence at its local
 * time across a daylight-saving change, enqueued once with two workers on one PostgreSQL and
 * not again after a restart in the same minute, and a failed occurrence left alone.
 */
const logger = createLogger({ level: 'silent' });

async function openDatabase(kind: DatabaseKind): Promise<{ testDatabase: TestDatabase; database: Database }> {
  const testDatabase = await createTestDatabase(kind);
  const database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
  await applyMigrations(database.pool);
  return { testDatabase, database };
}

async function jobKeys(database: Database, name: string): Promise<string[]> {
  const rows = await database.pool.query<{ key: string; scheduled_for: string }>(`SELECT data->>'key' AS key, data->>'scheduledFor' AS scheduled_for FROM agenda_jobs WHERE name = $1 ORDER BY key`, [name]);
  // The key is the occurrence, and the job is told it.
  for (const row of rows.rows) expect(row.scheduled_for).toBe(row.key);
  return rows.rows.map((row) => row.key);
}

describe.each<DatabaseKind>(['postgres', 'pglite'])('job schedules (%s)', (kind) => {
  let opened: { testDatabase: TestDatabase; database: Database };
  beforeAll(async () => {
    opened = await openDatabase(kind);
  }, 60_000);
  afterAll(async () => {
    await opened?.database.close();
    await opened?.testDatabase.drop();
  });

  it('enqueues 08:00 New York time before and after the change to summer time, keyed by that time', async () => {
    const { database } = opened;
    let clock = new Date('2026-03-07T12:59:59Z');
    const queue = createJobQueue({ pool: database.pool, embedded: kind === 'pglite', logger, now: () => clock });
    await queue.schedule('test.morning', { cron: '0 8 * * *', timezone: 'America/New_York' });
    const tickAt = async (at: string) => {
      clock = new Date(at);
      return queue.tickSchedules();
    };
    // Saturday 7 March 2026, 08:00 EST = 13:00 UTC: not a second early.
    expect(await tickAt('2026-03-07T12:59:59Z')).toBe(0);
    expect(await tickAt('2026-03-07T13:00:00Z')).toBe(1);
    expect(await tickAt('2026-03-07T13:01:00Z')).toBe(0);
    // The clocks go forward on Sunday 8 March: 08:00 EDT = 12:00 UTC.
    expect(await tickAt('2026-03-08T11:59:00Z')).toBe(0);
    expect(await tickAt('2026-03-08T12:00:30Z')).toBe(1);
    // 13:00 UTC is 09:00 local now: nothing new at yesterday's UTC time.
    expect(await tickAt('2026-03-08T13:00:30Z')).toBe(0);
    expect(await jobKeys(database, 'test.morning')).toEqual(['2026-03-07T13:00:00.000Z', '2026-03-08T12:00:00.000Z']);
    // One tick job for every schedule, on the minute.
    const tick = await database.pool.query(`SELECT repeat_interval, type FROM agenda_jobs WHERE name = $1`, [JOB_SCHEDULES_TICK]);
    expect(tick.rows).toEqual([{ repeat_interval: '* * * * *', type: 'single' }]);
  });

  it('skips an occurrence more than its grace period past (downtime), and runs the one still in it', async () => {
    const { database } = opened;
    let clock = new Date('2026-06-01T09:20:00Z');
    const queue = createJobQueue({ pool: database.pool, embedded: kind === 'pglite', logger, now: () => clock });
    // 11:00 in Berlin (summer time) = 09:00 UTC; the default grace is 15 minutes.
    await queue.schedule('test.late', { cron: '0 11 * * *', timezone: 'Europe/Berlin' });
    await queue.schedule('test.later', { cron: '0 11 * * *', timezone: 'Europe/Berlin', graceMs: 30 * 60_000 });
    expect(await queue.tickSchedules()).toBe(1);
    expect(await jobKeys(database, 'test.late')).toEqual([]);
    expect(await jobKeys(database, 'test.later')).toEqual(['2026-06-01T09:00:00.000Z']);
    clock = new Date('2026-06-01T09:31:00Z');
    expect(await queue.tickSchedules()).toBe(0);
  });

  it('refuses a schedule it cannot read, naming the job and the fix', async () => {
    const queue = createJobQueue({ pool: opened.database.pool, embedded: kind === 'pglite', logger });
    await expect(queue.schedule('test.bad', { cron: '0 8 * *', timezone: 'UTC' })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/test\.bad.*"0 8 \* \*".*five fields/) });
    await expect(queue.schedule('test.bad', { cron: '0 25 * * *', timezone: 'UTC' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(queue.schedule('test.bad', { cron: '0 8 * * *', timezone: 'Mars/Olympus_Mons' })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('IANA time zone') });
    await expect(queue.schedule('test.bad', { cron: '0 8 * * *', timezone: 'UTC', graceMs: 5000 })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('at least 60000') });
    expect(await queue.tickSchedules()).toBe(0);
  });
});

describe('job schedules with several workers (postgres)', () => {
  let opened: { testDatabase: TestDatabase; database: Database };
  // 09:15 in Kolkata (UTC+05:30) on Monday 23 November 2026, ten seconds in.
  const clock = new Date('2026-11-23T03:45:10Z');
  const runs: string[] = [];
  let failures = 0;

  function worker(): JobQueue {
    const queue = createJobQueue({ pool: opened.database.pool, embedded: false, logger, processEveryMs: 100, now: () => clock });
    queue.define({ name: 'test.report', schema: scheduledJobData, run: async ({ scheduledFor }) => void runs.push(scheduledFor) });
    queue.define({
      name: 'test.broken',
      schema: scheduledJobData,
      maxRetries: 0,
      async run() {
        failures += 1;
        throw new AdjutantError('CONFLICT', 'simulated bug', { retryable: false });
      },
    });
    return queue;
  }

  beforeAll(async () => {
    opened = await openDatabase('postgres');
  });
  afterAll(async () => {
    await opened?.database.close();
    await opened?.testDatabase.drop();
  });

  it('runs an occurrence once with two workers ticking in the same minute, and not again after a restart in that minute', async () => {
    const workers = [worker(), worker()];
    for (const queue of workers) await queue.schedule('test.report', { cron: '15 9 * * 1-5', timezone: 'Asia/Kolkata' });
    const created = await Promise.all(workers.map((queue) => queue.tickSchedules()));
    expect(created.reduce((sum, count) => sum + count, 0)).toBe(1);
    await Promise.all(workers.map((queue) => queue.start()));
    try {
      await waitUntil('the occurrence to run', () => runs.length > 0, 5000);
    } finally {
      await Promise.all(workers.map((queue) => queue.stop(1000)));
    }

    // A restart in the same minute: a new process ticks again and finds the key taken.
    const restarted = worker();
    await restarted.schedule('test.report', { cron: '15 9 * * 1-5', timezone: 'Asia/Kolkata' });
    await restarted.start();
    try {
      expect(await restarted.tickSchedules()).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 600));
    } finally {
      await restarted.stop(1000);
    }
    expect(runs).toEqual(['2026-11-23T03:45:00.000Z']);
    expect(await jobKeys(opened.database, 'test.report')).toEqual(['2026-11-23T03:45:00.000Z']);
  });

  it('leaves an occurrence that gave up alone: the next tick in its grace period does not run it again', async () => {
    const queue = worker();
    await queue.schedule('test.broken', { cron: '15 9 * * *', timezone: 'Asia/Kolkata' });
    await queue.start();
    try {
      expect(await queue.tickSchedules()).toBe(1);
      await waitUntil('the occurrence to give up', async () => (await queue.deadJobs()).find((job) => job.name === 'test.broken'), 5000);
      expect(await queue.tickSchedules()).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(failures).toBe(1);
      // Asked for by hand, it runs again (`adjutant jobs retry`).
      const [dead] = (await queue.deadJobs()).filter((job) => job.name === 'test.broken');
      expect(await queue.revive(dead?.id ?? '')).toBe(true);
      await waitUntil('the revived occurrence to run', () => failures === 2, 5000);
    } finally {
      await queue.stop(1000);
    }
  });
});
