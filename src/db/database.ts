import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { AdjutantError } from '../errors.ts';
import { isProcessAlive } from '../process-alive.ts';
import { PrismaClient } from './generated/client.ts';

export type { PrismaClient } from './generated/client.ts';

/**
 * The database as the rest of the service sees it: a Prisma client for our tables and a
 * `pg` pool for the things Prisma does not do (agenda, advisory locks, the migration runner).
 * Both point at the same database, PostgreSQL or embedded PGlite.
 */
export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly prisma: PrismaClient;
  readonly pool: pg.Pool;
  /**
   * PGlite is a single connection: concurrent work from jobs and requests must queue fairly
   * (one query at a time). Callers use this to size job concurrency.
   */
  readonly maxConcurrency: number;
  close(): Promise<void>;
}

/** PostgreSQL when `databaseUrl` is set (DATABASE_URL), else embedded PGlite under `dataDir` (DATA_DIR). */
export async function createDatabase(options: { databaseUrl?: string | undefined; dataDir: string }): Promise<Database> {
  if (options.databaseUrl) return createPostgresDatabase(options.databaseUrl);
  return createPgliteDatabase(resolve(options.dataDir, 'pglite'));
}

/**
 * Session settings for memory search: pgvector's iterative index scans keep a filtered vector
 * query returning enough rows (a plain HNSW scan stops after ef_search candidates, filter or
 * not), and a wider candidate list keeps recall high on large memories. `npm run bench -- memory`
 * (100 exact answers): at 1M passages recall@10 is 0.936 at ef_search 100 and 0.956 at 200, the
 * vector search alone p95 5.2 → 7.2 ms; at 100k 0.97 → 1.00, p50 2.3 → 4.3 ms, while the whole
 * hybrid search's p95 moved less than the run-to-run noise (24.0 and 22.7 ms in back-to-back runs).
 */
export const SEARCH_SETTINGS: Record<string, string> = { 'hnsw.iterative_scan': 'relaxed_order', 'hnsw.ef_search': '200' };

async function createPostgresDatabase(connectionString: string): Promise<Database> {
  const options = Object.entries(SEARCH_SETTINGS).map(([name, value]) => `-c ${name}=${value}`).join(' ');
  const pool = new pg.Pool({ connectionString, max: 10, options });
  // A client losing its server (restart, failover, a terminated backend) emits 'error': on the pool
  // when idle, on the client itself when checked out (agenda's LISTEN, the mailbox lock). Without
  // a listener that is an uncaught exception; the owner notices the dead connection on next use.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new AdjutantError('DB_UNAVAILABLE', `Cannot connect to DATABASE_URL (${describeUrl(connectionString)}): ${(error as Error).message}. Check that PostgreSQL is running and the URL, user and password are right, or unset DATABASE_URL to use the embedded database.`, { cause: error });
  }
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    kind: 'postgres',
    prisma,
    pool,
    maxConcurrency: 5,
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

async function createPgliteDatabase(directory: string): Promise<Database> {
  // Loaded lazily: the WebAssembly build is large and unused with DATABASE_URL.
  const [{ PGlite }, { vector }, { createPgConfig }, { PrismaPGlite }, { existsSync, readdirSync, renameSync }, { spawn }, { createRequire }, { pathToFileURL }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite-pgvector'),
    import('@electric-sql/pglite/node-postgres'),
    import('pglite-prisma-adapter'),
    import('node:fs'),
    import('node:child_process'),
    import('node:module'),
    import('node:url'),
  ]);
  /**
   * PGlite's memory is one WebAssembly memory that grows and never shrinks: what Postgres touches
   * once stays resident for the life of the process. Its defaults are a server's: shared_buffers
   * 128 MB, all of it touched at start (about 125 MB of an idle service), and 64 MB for each index
   * build or VACUUM. Pages not in the buffer pool are read from files the OS caches anyway. Given
   * on the command line, not in postgresql.conf: nothing is written to the data directory.
   */
  const startParams = [...PGlite.defaultStartParams, ...['shared_buffers=16MB', 'maintenance_work_mem=16MB'].flatMap((setting) => ['-c', setting])];

  /**
   * A new database is made by a short-lived child process. Made in this one, initdb leaves a
   * second WebAssembly instance and a tarball of the new directory, about 375 MB, as garbage only
   * a full GC frees, and an idle service may not run one for hours. It is made beside the target
   * and renamed over the empty directory, so a failure leaves nothing half made; then the database
   * is made here as before, which reports the real error.
   */
  async function initialiseInChildProcess(): Promise<void> {
    const staging = `${directory}.initdb-${process.pid}`;
    const script = 'const [url, dir, params] = process.argv.slice(1); const pglite = await import(url); const { PGlite } = pglite.PGlite ? pglite : pglite.default; const db = await PGlite.create(dir, { startParams: JSON.parse(params) }); await db.close();';
    try {
      rmSync(staging, { recursive: true, force: true });
      const pgliteUrl = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
      const made = await new Promise<boolean>((done) => {
        const child = spawn(process.execPath, ['--input-type=module', '--eval', script, pgliteUrl, staging, JSON.stringify(startParams)], { stdio: 'ignore' });
        child.on('error', () => done(false));
        child.on('exit', (code) => done(code === 0));
      });
      // rename() replaces an empty directory only: anything put there meanwhile makes it fail.
      if (made && existsSync(resolve(staging, 'PG_VERSION'))) renameSync(staging, directory);
    } catch {
      // Made in this process instead.
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }

  mkdirSync(directory, { recursive: true });
  const releaseLock = lockDataDirectory(directory);
  let pglite: InstanceType<typeof PGlite>;
  try {
    if (readdirSync(directory).length === 0) await initialiseInChildProcess();
    pglite = await PGlite.create(directory, { extensions: { vector }, startParams });
  } catch (error) {
    releaseLock();
    throw new AdjutantError('DB_UNAVAILABLE', `Cannot open the embedded database in ${directory}: ${(error as Error).message}. Another Adjutant process may be using DATA_DIR, or the directory is damaged; stop the other process or point DATA_DIR elsewhere.`, { cause: error });
  }
  // One session, set once (pgvector reads these when its library loads, placeholders until then).
  for (const [name, value] of Object.entries(SEARCH_SETTINGS)) await pglite.query(`SELECT set_config($1, $2, false)`, [name, value]);
  const pool = new pg.Pool({ ...createPgConfig(pglite), max: 1 });
  pool.on('error', () => undefined);
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  return {
    kind: 'pglite',
    prisma,
    pool,
    maxConcurrency: 1,
    async close() {
      await prisma.$disconnect();
      await pool.end();
      await pglite.close();
      releaseLock();
    },
  };
}

/**
 * PGlite has no server to arbitrate: two processes opening the same directory corrupt it.
 * A lock file with our pid keeps a second Adjutant (or `adjutant migrate` beside a running
 * service) out; a lock left by a dead process is taken over.
 */
function lockDataDirectory(directory: string): () => void {
  const lockFile = `${directory}.lock`;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return () => rmSync(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(lockFile, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && isProcessAlive(holder)) {
        throw new AdjutantError('DB_UNAVAILABLE', `The embedded database in ${directory} is in use by another Adjutant process (pid ${holder}). Stop it first, or set DATABASE_URL to share a PostgreSQL server between processes.`);
      }
      rmSync(lockFile, { force: true });
    }
  }
  throw new AdjutantError('DB_UNAVAILABLE', `Could not lock the embedded database in ${directory}`);
}


/** The URL without its password, for messages. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'unparseable URL';
  }
}
