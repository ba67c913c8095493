import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { AdjutantError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { createJobQueue, type JobQueue } from '../src/orchestrator/job-queue.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.ts';
import { waitUntil } from './support/wait.ts';

/** The job queue on real PostgreSQL: one job per key under concurrency, and failed work that can be asked for again. */
describe('job queue', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let queue: JobQueue;
  let failuresLeft = 0;
  const runs: string[] = [];

  beforeAll(async () => {
    testDatabase = await createTestDatabase('postgres');
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    queue = createJobQueue({ pool: database.pool, embedded: false, logger: createLogger({ level: 'silent' }), processEveryMs: 200 });
    queue.define({
      name: 'test.flaky',
      schema: z.object({ item: z.string() }),
      maxRetries: 1,
      async run({ item }) {
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          throw new AdjutantError('DB_UNAVAILABLE', 'simulated outage');
        }
        runs.push(item);
      },
    });
    await queue.start();
  });

  afterAll(async () => {
    await queue?.stop(500);
    await database?.close();
    await testDatabase?.drop();
  });

  it('creates one job for one key however many callers race to enqueue it', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => queue.enqueue('test.other', 'same-key', { item: 'x' })));
    expect(results.filter(Boolean)).toHaveLength(1);
    const rows = await database.pool.query(`SELECT count(*)::int AS n FROM agenda_jobs WHERE name = 'test.other' AND data->>'key' = 'same-key'`);
    expect(rows.rows[0]?.n).toBe(1);
  });

  it('refuses to enqueue data its job’s schema refuses, naming the field, and stores nothing', async () => {
    await expect(queue.enqueue('test.flaky', 'bad-1', { item: 42 })).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('item:') });
    const rows = await database.pool.query(`SELECT count(*)::int AS n FROM agenda_jobs WHERE data->>'key' = 'bad-1'`);
    expect(rows.rows[0]?.n).toBe(0);
  });

  it('runs a job whose retries were spent again when it is enqueued again, and lists it while it is dead', async () => {
    failuresLeft = 2; // the first run and its one retry fail: an outage longer than the backoff
    await queue.enqueue('test.flaky', 'email-1', { item: 'email-1' });
    const dead = await waitUntil('the job to give up', async () => (await queue.deadJobs()).find((job) => job.key === 'email-1'), 20_000);
    expect(dead.reason).toContain('simulated outage');
    expect(runs).not.toContain('email-1');

    // The same item arriving again (an IMAP re-delivery, the reconciler) revives the job.
    expect(await queue.enqueue('test.flaky', 'email-1', { item: 'email-1' })).toBe(true);
    await waitUntil('the revived job to run', () => runs.includes('email-1'));
    expect(await queue.deadJobs()).toHaveLength(0);
    // Done now: enqueueing again does nothing.
    expect(await queue.enqueue('test.flaky', 'email-1', { item: 'email-1' })).toBe(false);
  });
  it('takes over at once the jobs a stopped process on this host held, instead of waiting out their locks', async () => {
    const deadHolder = `adjutant-${hostname()}-999999-dead00`;
    await database.pool.query(
      // As agenda leaves a job it was running: locked, its next run cleared when the run started.
      `INSERT INTO agenda_jobs (name, data, next_run_at, locked_at, last_run_at, last_modified_by) VALUES ('test.flaky', $1::jsonb, NULL, now(), now(), $2)`,
      [JSON.stringify({ item: 'held-by-dead', key: 'held-by-dead' }), deadHolder],
    );
    const restarted = createJobQueue({ pool: database.pool, embedded: false, logger: createLogger({ level: 'silent' }), processEveryMs: 200 });
    restarted.define({ name: 'test.flaky', schema: z.object({ item: z.string() }), run: async ({ item }) => void runs.push(item) });
    const started = Date.now();
    await restarted.start();
    try {
      await waitUntil('the held job to run', () => runs.includes('held-by-dead'), 5000);
      // Well inside the 6 s lock lifetime it would otherwise wait out.
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      await restarted.stop(500);
    }
  });
  it('lets several workers start on one database at the same moment, and still keeps updated_at current', async () => {
    // Each start used to recreate agenda's trigger and race on the catalog ("tuple concurrently updated").
    const workers = Array.from({ length: 6 }, () => createJobQueue({ pool: database.pool, embedded: false, logger: createLogger({ level: 'silent' }), processEveryMs: 200 }));
    await Promise.all(workers.map((worker) => worker.start()));
    await Promise.all(workers.map((worker) => worker.stop(100)));

    await database.pool.query(`INSERT INTO agenda_jobs (name, data, updated_at) VALUES ('test.touch', '{"key": "touch"}', now() - interval '1 day')`);
    await database.pool.query(`UPDATE agenda_jobs SET priority = 1 WHERE name = 'test.touch'`);
    const touched = await database.pool.query<{ fresh: boolean }>(`SELECT updated_at > now() - interval '1 minute' AS fresh FROM agenda_jobs WHERE name = 'test.touch'`);
    expect(touched.rows[0]?.fresh).toBe(true);
  });
});

/** Jobs that wait: a job asked to start at a time, or after a delay by the queue's clock, starts no earlier. */
describe.each<DatabaseKind>(['postgres', 'pglite'])('jobs that wait (%s)', (kind) => {
  let testDatabase: TestDatabase;
  let database: Database;
  let queue: JobQueue;
  /** The queue's clock: real time, moved by the test where the clock decides. */
  let clockOffsetMs = 0;
  const started = new Map<string, number>();

  beforeAll(async () => {
    testDatabase = await createTestDatabase(kind);
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    queue = createJobQueue({ pool: database.pool, embedded: kind === 'pglite', logger: createLogger({ level: 'silent' }), processEveryMs: 200, now: () => new Date(Date.now() + clockOffsetMs) });
    queue.define({ name: 'test.later', schema: z.object({ item: z.string() }), run: async ({ item }) => void started.set(item, Date.now()) });
    await queue.start();
  }, 60_000);

  afterAll(async () => {
    await queue?.stop(500);
    await database?.close();
    await testDatabase?.drop();
  });

  const nextRunAt = async (key: string) =>
    (await database.pool.query<{ next_run_at: Date | null }>(`SELECT next_run_at FROM agenda_jobs WHERE name = 'test.later' AND data->>'key' = $1`, [key])).rows[0]?.next_run_at;

  it('does not start a job before its time, starts it once the time comes, and keeps one job per key', async () => {
    const at = new Date(Date.now() + 1200);
    expect(await queue.enqueue('test.later', 'at-1', { item: 'at-1' }, { at })).toBe(true);
    // The same key asked for sooner: still the one job, at its time.
    expect(await queue.enqueue('test.later', 'at-1', { item: 'at-1' })).toBe(false);
    expect((await nextRunAt('at-1'))?.getTime()).toBe(at.getTime());

    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(started.has('at-1')).toBe(false);
    const ranAt = await waitUntil('the job to start', () => started.get('at-1'), 5000);
    expect(ranAt).toBeGreaterThanOrEqual(at.getTime());
    expect(ranAt - at.getTime()).toBeLessThan(2000);
  });

  it('reckons a delay by the queue’s clock, and refuses a delay that is no time', async () => {
    // The queue's clock an hour ahead: a delay of a second means an hour from now in real time.
    clockOffsetMs = 3_600_000;
    const enqueuedAt = Date.now();
    await queue.enqueue('test.later', 'delay-ahead', { item: 'delay-ahead' }, { delayMs: 1000 });
    const ahead = (await nextRunAt('delay-ahead'))?.getTime() ?? 0;
    expect(ahead - enqueuedAt).toBeGreaterThanOrEqual(3_601_000);
    expect(ahead - enqueuedAt).toBeLessThan(3_601_000 + 1000);
    // A minute behind: a 30 s delay is over already, and the job starts at once.
    clockOffsetMs = -60_000;
    await queue.enqueue('test.later', 'delay-behind', { item: 'delay-behind' }, { delayMs: 30_000 });
    await waitUntil('the job whose delay is over to start', () => started.has('delay-behind'), 5000);
    expect(started.has('delay-ahead')).toBe(false);
    clockOffsetMs = 0;

    await expect(queue.enqueue('test.later', 'delay-bad', { item: 'delay-bad' }, { delayMs: -5 })).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('delayMs') });
    await expect(queue.enqueue('test.later', 'delay-bad', { item: 'delay-bad' }, { at: new Date('not a date') })).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await nextRunAt('delay-bad')).toBeUndefined();
  });
});
