import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuiltinEmbedder } from '../src/brains/builtin/builtin-embedder.ts';
import type { Embedder } from '../src/brains/types.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createEmbeddingBackfill } from '../src/memory/embedding-backfill.ts';
import { createMemory, type Memory } from '../src/memory/memory.ts';
import type { SearchQuery } from '../src/memory/types.ts';
import { heldOutQuestions } from './fixtures/memory/held-out-questions.ts';
import { corpusItems, corpusQuestions, type CorpusQuestion } from './fixtures/memory/search-corpus.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.ts';

/**
 * Search quality on a corpus written for the purpose (a furniture workshop's mail, Slack and
 * facts) with questions phrased unlike the items: 32 questions the ranking settings were chosen
 * on, and 30 held out to check that the choice generalises. The built-in embedder is the real
 * one; its vectors are remembered between the two databases only to halve the test's time.
 *
 * The floors asserted guard against regressions: 80% of each set in the top 5, and 90% of all 62
 * questions (measured: 27 of 32 tuning, 84%; 29 of 30 held-out, 97%; 56 of 62, 90.3%). The
 * product's goal is 90% of each set, not reached on the tuning set with the built-in model: its
 * misses need knowledge the items do not hold, such as that a customer is a restaurant or that
 * the Makers Fair is the autumn show.
 */
const TOP5_FLOOR = 0.8;
const TOP5_FLOOR_ALL = 0.9;
const builtin = createBuiltinEmbedder({ idleMs: 10_000 });
const vectors = new Map<string, number[]>();
const sharedEmbedder: Embedder = {
  model: builtin.model,
  dimensions: builtin.dimensions,
  async embed(texts) {
    const missing = [...new Set(texts.filter((text) => !vectors.has(text)))];
    if (missing.length > 0) {
      const computed = await builtin.embed(missing);
      missing.forEach((text, index) => vectors.set(text, computed[index] ?? []));
    }
    return texts.map((text) => vectors.get(text) ?? []);
  },
};

function queryFor(question: CorpusQuestion): SearchQuery {
  const filters = question.filters ?? {};
  return {
    text: question.question,
    limit: 5,
    ...(filters.kind ? { kinds: [filters.kind] } : {}),
    ...(filters.counterparty ? { person: filters.counterparty } : {}),
    ...(filters.after ? { after: new Date(filters.after) } : {}),
    ...(filters.before ? { before: new Date(filters.before) } : {}),
    ...(filters.channel ? { askedIn: { channel: filters.channel } } : {}),
  };
}

afterAll(async () => {
  await builtin.close();
});

describe.each<DatabaseKind>(['postgres', 'pglite'])('search quality on %s', (kind) => {
  let testDatabase: TestDatabase;
  let database: Database;
  let memory: Memory;
  /** Answers found in the top 5, by question set, for the check over all questions. */
  const foundBySet = new Map<string, { found: number; total: number }>();

  beforeAll(async () => {
    testDatabase = await createTestDatabase(kind);
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    memory = createMemory({ database, embedder: sharedEmbedder, logger: createLogger({ level: 'silent' }) });
    // Facts in the order they were said, so later ones supersede earlier ones.
    const ordered = [...corpusItems].sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
    for (const item of ordered) {
      const occurredAt = new Date(item.occurredAt);
      const scope = item.private && item.channel ? { kind: 'channel' as const, channel: item.channel } : { kind: 'team' as const };
      if (item.kind === 'fact') {
        await memory.storeFact({ subject: item.subject ?? item.title, statement: item.content, saidBy: item.author, sourceType: 'slack', sourceRef: item.sourceRef, occurredAt, scope, actor: 'test' });
      } else {
        await memory.remember({
          kind: item.kind,
          title: item.title,
          content: item.content,
          sourceType: item.kind === 'email' ? 'email' : 'slack',
          sourceRef: item.sourceRef,
          author: item.author,
          counterparty: item.counterparty ?? null,
          occurredAt,
          scope,
          actor: 'test',
        });
      }
    }
    const backfill = createEmbeddingBackfill({ pool: database.pool, embedder: sharedEmbedder });
    while ((await backfill.runBatch(64)).embedded > 0);
    // The word statistics a running service has (autovacuum's ANALYZE on PostgreSQL), taken now
    // so the text half's word weights do not depend on whether autovacuum got there first.
    await database.pool.query('ANALYZE memory_chunks');
  }, 240_000);
  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  it.each([
    ['the tuning questions', corpusQuestions],
    ['the held-out questions', heldOutQuestions],
  ] as const)('finds the answer in the top 5 for %s, and hybrid beats either half alone', async (label, questions) => {
    const found = { both: 0, text: 0, meaning: 0 };
    const missed: string[] = [];
    for (const question of questions) {
      for (const halves of ['both', 'text', 'meaning'] as const) {
        const response = await memory.search(queryFor(question), { halves });
        const hit = response.hits.some((result) => question.expected.includes(result.sourceRef));
        if (hit) found[halves] += 1;
        else if (halves === 'both') missed.push(question.question);
      }
    }
    const total = questions.length;
    foundBySet.set(label, { found: found.both, total });
    const rate = (count: number) => Math.round((count / total) * 1000) / 1000;
    // Printed for the closing note and for whoever tunes ranking next.
    console.info(`[search-quality ${kind}, ${label}] top-5 hit rate over ${total} questions: hybrid ${rate(found.both)}, text ${rate(found.text)}, meaning ${rate(found.meaning)}; hybrid missed: ${missed.join(' | ')}`);
    expect(found.both / total).toBeGreaterThanOrEqual(TOP5_FLOOR);
    expect(found.both).toBeGreaterThan(found.text);
    expect(found.both).toBeGreaterThan(found.meaning);
  }, 120_000);

  it('finds the answer in the top 5 for 90% of all the questions', () => {
    expect([...foundBySet.keys()]).toEqual(['the tuning questions', 'the held-out questions']);
    const sets = [...foundBySet.values()];
    const found = sets.reduce((sum, set) => sum + set.found, 0);
    const total = sets.reduce((sum, set) => sum + set.total, 0);
    expect(found / total).toBeGreaterThanOrEqual(TOP5_FLOOR_ALL);
  });

  it('keeps private channel items out of other channels\' answers', async () => {
    const privateRefs = new Set(corpusItems.filter((item) => item.private).map((item) => item.sourceRef));
    for (const question of [...corpusQuestions, ...heldOutQuestions]) {
      const response = await memory.search({ ...queryFor(question), askedIn: { channel: 'C0GENERAL' }, limit: 20 });
      expect(response.hits.filter((hit) => privateRefs.has(hit.sourceRef))).toEqual([]);
    }
  }, 60_000);
});
