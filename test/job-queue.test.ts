import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { AdjutantError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { createJobQueue, type JobQueue } from '../src/orchestrator/job-queue.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
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
