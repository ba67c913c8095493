import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations, MIGRATIONS_DIR, readMigrations } from '../src/db/migrate.ts';
import { AdjutantError } from '../src/errors.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.ts';

interface MigrationRow {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  applied_steps_count: number;
  logs: string | null;
}

// A fresh embedded database plus every migration takes 10-20 s on a busy two-core machine.
describe.each<DatabaseKind>(['postgres', 'pglite'])('migrations on %s', { timeout: 120_000 }, (kind) => {
  let testDatabase: TestDatabase | undefined;
  let database: Database | undefined;

  async function open(): Promise<Database> {
    testDatabase = await createTestDatabase(kind);
    database = await createDatabase({ ...(testDatabase.databaseUrl ? { databaseUrl: testDatabase.databaseUrl } : {}), dataDir: testDatabase.dataDir });
    return database;
  }

  afterEach(async () => {
    await database?.close();
    await testDatabase?.drop();
    database = undefined;
    testDatabase = undefined;
  });

  it('applies every migration to a fresh database and records it as Prisma does', async () => {
    const db = await open();
    const names = readMigrations().map((migration) => migration.name);
    const first = await applyMigrations(db.pool);
    expect(first.applied).toEqual(names);

    const { rows } = await db.pool.query<MigrationRow>('SELECT * FROM "_prisma_migrations" ORDER BY started_at');
    expect(rows.map((row) => row.migration_name)).toEqual(names);
    for (const row of rows) {
      const bytes = readFileSync(join(MIGRATIONS_DIR, row.migration_name, 'migration.sql'));
      expect(row.checksum).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(row.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.rolled_back_at).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }

    // The schema is there: pgvector, the tables, the audit trigger.
    const { rows: extensions } = await db.pool.query<{ extname: string }>("SELECT extname FROM pg_extension WHERE extname = 'vector'");
    expect(extensions).toHaveLength(1);
    const { rows: tables } = await db.pool.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
    expect(tables.map((table) => table.table_name)).toEqual(
      expect.arrayContaining(['emails', 'memory_items', 'memory_chunks', 'drafts', 'audit_log', 'model_calls', 'mailbox_states', 'agenda_jobs', 'agenda_logs']),
    );
    await db.prisma.auditEntry.create({ data: { actor: 'test', action: 'x', entityType: 'email', entityId: '1' } });
    await expect(db.prisma.auditEntry.updateMany({ data: { actor: 'someone else' } })).rejects.toThrow(/append-only/);
  });

  it('applies nothing the second time', async () => {
    const db = await open();
    await applyMigrations(db.pool);
    const before = await db.pool.query<MigrationRow>('SELECT * FROM "_prisma_migrations"');
    const second = await applyMigrations(db.pool);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toEqual(readMigrations().map((migration) => migration.name));
    const after = await db.pool.query<MigrationRow>('SELECT * FROM "_prisma_migrations"');
    expect(after.rows).toEqual(before.rows);
  });

  it('rolls back a failing migration, records why, and applies it once fixed', async () => {
    const db = await open();
    const good = readMigrations();
    const broken = { name: '29990101000000_broken', sql: 'CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;', checksum: 'x'.repeat(64) };
    const error = await applyMigrations(db.pool, { migrations: [...good, broken] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AdjutantError);
    expect((error as AdjutantError).code).toBe('MIGRATION_FAILED');
    expect((error as AdjutantError).message).toContain('29990101000000_broken');
    expect((error as AdjutantError).message).toContain('no_such_table');

    const { rows: halfDone } = await db.pool.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'");
    expect(halfDone).toHaveLength(0);
    const { rows } = await db.pool.query<MigrationRow>('SELECT * FROM "_prisma_migrations" WHERE migration_name = $1', [broken.name]);
    expect(rows[0]?.finished_at).toBeNull();
    expect(rows[0]?.rolled_back_at).toBeInstanceOf(Date);
    expect(rows[0]?.logs).toContain('no_such_table');

    const fixed = { ...broken, sql: 'CREATE TABLE half_done (id int);' };
    const report = await applyMigrations(db.pool, { migrations: [...good, fixed] });
    expect(report.applied).toEqual([broken.name]);
  });
});

describe('migrations on postgres with two replicas starting at once', () => {
  it('applies each migration once (advisory lock)', async () => {
    const testDatabase = await createTestDatabase('postgres');
    const first = await createDatabase({ databaseUrl: testDatabase.databaseUrl ?? '', dataDir: testDatabase.dataDir });
    const second = await createDatabase({ databaseUrl: testDatabase.databaseUrl ?? '', dataDir: testDatabase.dataDir });
    try {
      const reports = await Promise.all([applyMigrations(first.pool), applyMigrations(second.pool)]);
      expect(reports.flatMap((report) => report.applied)).toEqual(readMigrations().map((migration) => migration.name));
      const { rows } = await first.pool.query('SELECT * FROM "_prisma_migrations"');
      expect(rows).toHaveLength(readMigrations().length);
    } finally {
      await first.close();
      await second.close();
      await testDatabase.drop();
    }
  });
});
