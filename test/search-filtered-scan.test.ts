import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOllamaEmbedder } from '../src/brains/ollama/ollama-embedder.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createEmbeddingBackfill } from '../src/memory/embedding-backfill.ts';
import { createMemory, type Memory } from '../src/memory/memory.ts';
import { startOllamaFake, type OllamaFake } from './fakes/ollama-fake.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';

/**
 * A filter that keeps few passages must not starve the meaning half. The HNSW index hands back
 * its best `hnsw.ef_search` (200) candidates and the filter runs on those: when none of them is
 * of the kind asked for, a plain index scan returns nothing. pgvector 0.8's iterative scan
 * (db/database.ts sets it on every connection) goes on through the graph until enough rows pass.
 * Here 3,000 chat messages sit nearer the question than any of 3,000 facts, so the facts are
 * found only by scanning on. With few passages of the kind asked for, PostgreSQL rightly sorts
 * them all by distance instead (exact, and cheap); with this many it searches the index (checked
 * below), which is the case iterative scans are for: this fails with them off.
 */
const MESSAGES = 3000;
const FACTS = 3000;
const logger = createLogger({ level: 'silent' });

describe('a filtered search by meaning on postgres', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let ollama: OllamaFake;
  let memory: Memory;

  beforeAll(async () => {
    testDatabase = await createTestDatabase('postgres');
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    ollama = await startOllamaFake({ dimension: 64 });
    const embedder = createOllamaEmbedder({ host: ollama.url, model: 'nomic-embed-text', batchSize: 256 });
    memory = createMemory({ database, embedder, logger });
    const writes: Promise<unknown>[] = [];
    for (let index = 0; index < MESSAGES; index += 1) {
      writes.push(memory.remember({ kind: 'slack_message', title: 'stool repair', content: `stool repair ${index}`, sourceType: 'slack', sourceRef: `C0SHOP/1700000000.${String(index).padStart(6, '0')}`, actor: 'test' }));
      if (writes.length === 50) await Promise.all(writes.splice(0));
    }
    for (let index = 0; index < FACTS; index += 1) {
      writes.push(memory.remember({ kind: 'fact', title: 'stool', content: `stool glue lacquer clamp batch${index}`, sourceType: 'cli', sourceRef: `fact-${index}`, actor: 'test' }));
      if (writes.length === 50) await Promise.all(writes.splice(0));
    }
    await Promise.all(writes);
    const backfill = createEmbeddingBackfill({ pool: database.pool, embedder });
    for (let round = 0; round < 100; round += 1) if ((await backfill.runBatch(256)).embedded === 0) break;
    await database.pool.query('ANALYZE memory_chunks; ANALYZE memory_embeddings');
  }, 180_000);
  afterAll(async () => {
    await ollama?.close();
    await database?.close();
    await testDatabase?.drop();
  });

  it('still returns the asked number of facts when every nearer passage is a message', async () => {
    const unfiltered = await memory.search({ text: 'stool repair', limit: 10 }, { halves: 'meaning' });
    expect(unfiltered.hits.map((hit) => hit.kind)).toEqual(Array(10).fill('slack_message'));

    const facts = await memory.search({ text: 'stool repair', kinds: ['fact'], limit: 10 }, { halves: 'meaning' });
    expect(facts.hits).toHaveLength(10);
    expect(facts.hits.every((hit) => hit.kind === 'fact')).toBe(true);
    const both = await memory.search({ text: 'stool repair', kinds: ['fact'], limit: 10 });
    expect(both.hits).toHaveLength(10);
  }, 60_000);

  it('answers that search from the HNSW index, not by sorting every vector', async () => {
    // The meaning half's own statement, as the search sends it, explained.
    const captured: { text: string; values: unknown[] }[] = [];
    const pool = {
      query: (...args: unknown[]) => {
        const [statement, values] = args as [string | { text: string; values?: unknown[] }, unknown[] | undefined];
        captured.push(typeof statement === 'string' ? { text: statement, values: values ?? [] } : { text: statement.text, values: statement.values ?? [] });
        return (database.pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
      },
    } as unknown as Database['pool'];
    const embedder = createOllamaEmbedder({ host: ollama.url, model: 'nomic-embed-text' });
    await createMemory({ database: { ...database, pool }, embedder, logger }).search({ text: 'stool repair', kinds: ['fact'], limit: 10 }, { halves: 'meaning' });
    const half = captured.find((statement) => statement.text.includes('meaning_hits'));
    expect(half).toBeDefined();
    const { rows } = await database.pool.query<{ index_name: string }>('SELECT index_name FROM embedding_models WHERE is_current');
    const plan = await database.pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${half?.text}`, half?.values);
    expect(plan.rows.map((row) => row['QUERY PLAN']).join('\n')).toContain(`Index Scan using ${rows[0]?.index_name}`);
  });
});
