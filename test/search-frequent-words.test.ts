import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createMemory, type Memory } from '../src/memory/memory.ts';
import type { RememberInput } from '../src/memory/types.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.ts';

/**
 * A large memory where two words are each in more than a thousand passages: the text half
 * fetches a bounded number of passages per word, so it must still find the one passage that
 * holds both (by the words' statistics: autovacuum's ANALYZE on PostgreSQL, the memory's own on
 * PGlite), and a rare word must still bring its passage whatever else the question says.
 */
const PER_WORD = 1200;

function note(ref: string, content: string): RememberInput {
  return { kind: 'note', title: '', content, sourceType: 'cli', sourceRef: ref, author: 'sam@team.example', occurredAt: new Date('2026-02-01T09:00:00Z'), actor: 'test' };
}

describe.each<DatabaseKind>(['postgres', 'pglite'])('text search over frequent words on %s', (kind) => {
  let testDatabase: TestDatabase;
  let database: Database;
  let memory: Memory;

  beforeAll(async () => {
    testDatabase = await createTestDatabase(kind);
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    memory = createMemory({ database, embedder: null, embedderOff: 'EMBEDDER is none', logger: createLogger({ level: 'silent' }) });
    const notes: RememberInput[] = [];
    for (let n = 0; n < PER_WORD; n += 1) {
      notes.push(note(`q${n}`, `Quarterly newsletter ${n} from the marketing desk.`));
      notes.push(note(`i${n}`, `Inventory adjustment ${n} for warehouse shelf ${n % 40}.`));
    }
    notes.push(note('both', 'The quarterly inventory count moves to Thursday.'));
    notes.push(note('rare', 'Marketing desk newsletter: Brightwood sent the veneer samples.'));
    for (let start = 0; start < notes.length; start += 20) await Promise.all(notes.slice(start, start + 20).map((input) => memory.remember(input)));
    // PostgreSQL: what autovacuum does within a minute of such a load. PGlite: the memory's own.
    if (kind === 'postgres') await database.pool.query('ANALYZE memory_chunks');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const stats = await database.pool.query(`SELECT 1 FROM pg_stats WHERE tablename = 'memory_chunks' AND attname = 'search_vector' AND most_common_elems IS NOT NULL`);
      if (stats.rows.length > 0) break;
      if (Date.now() > deadline) throw new Error('no word statistics on memory_chunks after 30 s');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }, 180_000);
  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  it('finds the one passage holding two frequent words', async () => {
    const result = await memory.search({ text: 'quarterly inventory', limit: 5 });
    expect(result.hits[0]?.sourceRef).toBe('both');
  });

  it('finds a rare word among frequent ones', async () => {
    const result = await memory.search({ text: 'marketing newsletter from brightwood', limit: 5 });
    expect(result.hits[0]?.sourceRef).toBe('rare');
  });

  it('still answers a question of one frequent word', async () => {
    const result = await memory.search({ text: 'inventory', limit: 10 });
    expect(result.hits).toHaveLength(10);
    for (const hit of result.hits) expect(hit.snippet.toLowerCase()).toContain('inventory');
  });
});
