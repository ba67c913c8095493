import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { AdjutantError } from '../errors.ts';
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
   * (see ENVIRONMENT.md). Callers use this to size job concurrency.
   */
  readonly maxConcurrency: number;
  close(): Promise<void>;
}

export async function createDatabase(options: { databaseUrl?: string; dataDir: string }): Promise<Database> {
  if (options.databaseUrl) return createPostgresDatabase(options.databaseUrl);
  return createPgliteDatabase(resolve(options.dataDir, 'pglite'));
}

async function createPostgresDatabase(connectionString: string): Promise<Database> {
  const pool = new pg.Pool({ connectionString, max: 10 });
  // An idle client losing its server (restart, failover) emits here; without a listener it crashes the process.
  pool.on('error', () => undefined);
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
  const [{ PGlite }, { vector }, { createPgConfig }, { PrismaPGlite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite-pgvector'),
    import('@electric-sql/pglite/node-postgres'),
    import('pglite-prisma-adapter'),
  ]);
  mkdirSync(directory, { recursive: true });
  let pglite: InstanceType<typeof PGlite>;
  try {
    pglite = await PGlite.create(directory, { extensions: { vector } });
  } catch (error) {
    throw new AdjutantError('DB_UNAVAILABLE', `Cannot open the embedded database in ${directory}: ${(error as Error).message}. Another Adjutant process may be using DATA_DIR, or the directory is damaged; stop the other process or point DATA_DIR elsewhere.`, { cause: error });
  }
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
    },
  };
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
