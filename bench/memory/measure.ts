import { performance } from 'node:perf_hooks';
import pgvector from 'pgvector';
import type pg from 'pg';
import type { Embedder } from '../../src/brains/types.ts';
import type { Database } from '../../src/db/database.ts';
import { createLogger } from '../../src/logger.ts';
import { modelLiteral } from '../../src/memory/embedding-index.ts';
import { createMemory, type Memory } from '../../src/memory/memory.ts';
import type { SearchQuery } from '../../src/memory/types.ts';
import { round, summarize, type LatencySummary } from '../support/latency.ts';
import { cosineDistance, DATE_FILTER_AFTER, type Query, type QuerySet } from './corpus.ts';
import { hybridSearch } from '../../src/memory/search.ts';
import { searchPlan } from './explain.ts';

/**
 * Search as callers see it: `createMemory(...).search()` (its real SQL on the real pool, with the
 * session settings the service sets), next to a bare pgvector top-10 on the same partial HNSW
 * index, and recall against exact answers:
 *
 * - raw kNN: its top-10 chunks vs the exact top-10 (the same ORDER BY with index scans off);
 * - the meaning half: the items search(…, { halves: 'meaning' }) returns vs the items the very
 *   same search returns when run exactly (hybridSearch on one connection in a transaction with
 *   the HNSW index dropped, rolled back after). Whatever search.ts does after the index scan
 *   (distance cut-offs, grouping chunks into items) applies to both sides, so this measures the
 *   index and nothing else, and stays right when search.ts changes.
 */
export const K = 10;
const WARM_UP = 20;
const EF_SEARCH_SWEEP = [40, 100, 200, 400];

/**
 * The embedder port for the bench: each query text maps to the vector generated for it. The
 * search code under test asks it for the query's vector exactly as it asks a real model.
 */
export function precomputedEmbedder(model: string, dimensions: number, queries: readonly Query[]): Embedder {
  const vectors = new Map(queries.map((query) => [query.text, query.vector]));
  return {
    model,
    dimensions,
    async embed(texts) {
      return texts.map((text) => {
        const vector = vectors.get(text);
        if (!vector) throw new Error(`no precomputed vector for query '${text}'`);
        return vector;
      });
    },
  };
}

export interface PlainFigures {
  queries: number;
  hybridMs: LatencySummary;
  meaningOnlyMs: LatencySummary;
  textOnlyMs: LatencySummary;
  rawKnnMs: LatencySummary;
  /** hybrid p95 / raw kNN p95. */
  ratioP95: number;
  /** The first queries, answered exactly too for the recall figures. */
  exactQueries: number;
  /** Raw HNSW top-10 chunks vs exact top-10 chunks. */
  rawRecallAt10: number;
  /** search(…, { halves: 'meaning' }) items vs the same search run exactly. */
  meaningRecallAt10: number;
  /** Meaning-half searches that returned fewer items than the exact run of the same statement. */
  meaningShortOfExact: number;
  /** Items the meaning half returns on average (search.ts may return fewer than K by design). */
  meaningMeanHits: number;
  /** Hybrid searches that returned fewer than K hits. */
  hybridShort: number;
  /** Exact top-10 chunk query (a sequential scan): the cost an index saves. */
  exactScanMs: LatencySummary;
  /** Raw kNN recall and latency at other hnsw.ef_search values (SET LOCAL; the service sets 200, db/database.ts). */
  efSearchSweep: { efSearch: number; rawRecallAt10: number; p50: number; p95: number }[];
  /** Mean cosine distance from a query to its exact 1st and 10th neighbour and to chunks at random. */
  distances: { nearest: number; tenth: number; random: number };
}

export interface FilteredFigures {
  filter: string;
  queries: number;
  /** Share of items the filter keeps (mean over the queries). */
  selectivity: number;
  hybridMs: LatencySummary;
  meaningOnlyMs: LatencySummary;
  /** Hybrid searches returning K hits. */
  hybridReturnedK: number;
  hybridMinHits: number;
  /** Of the exactly answered queries: hybrid searches returning fewer hits than the same search run exactly (capped at K). */
  hybridShortOfExact: number;
  /** Of the exactly answered queries: those where fewer than K items qualify at all (exact run). */
  fewerThanKExist: number;
  /** The meaning half alone under the filter: how many hits (≤ K; search.ts cuts distant ones). */
  meaningMeanHits: number;
  meaningMinHits: number;
  /** Meaning-half searches that returned fewer items than the same search run exactly. */
  meaningShortOfExact: number;
  /** The first queries, answered exactly too (recall, shortfall, selectivity). */
  exactQueries: number;
  /** The filtered meaning half vs the same search run exactly. */
  meaningRecallAt10: number;
}

type Mode = 'raw' | 'hybrid' | 'meaning' | 'text';

export async function measurePlain(options: {
  database: Pick<Database, 'pool' | 'prisma' | 'kind'>;
  memory: Memory;
  model: string;
  dimensions: number;
  queries: readonly Query[];
  sampleVectors: readonly ArrayLike<number>[];
  /** Queries whose answers are also computed exactly, for recall (the first ones). */
  exactQueries: number;
  /** The model's HNSW index, dropped (and the drop rolled back) to answer search.ts's statements exactly. */
  indexName: string;
  label: string;
}): Promise<{ figures: PlainFigures; hybridSamples: { query: Query; ms: number }[] }> {
  const { database, memory, model, dimensions, queries, label } = options;
  const exactCount = Math.min(queries.length, options.exactQueries);
  const rawSql = `SELECT chunk_id::text AS chunk_id FROM memory_embeddings e WHERE e.model = ${modelLiteral(model)} ORDER BY e.embedding::vector(${dimensions}) <=> $1::vector(${dimensions}) LIMIT ${K}`;
  const modes: Mode[] = ['raw', 'hybrid', 'meaning', 'text'];
  const samples: Record<Mode, number[]> = { raw: [], hybrid: [], meaning: [], text: [] };
  const rawResults: string[][] = [];
  const meaningResults: string[][] = [];
  const hybridHits: number[] = [];
  const run = (mode: Mode, query: Query) => retryingOnce(() => runOnce(mode, query));
  const runOnce = async (mode: Mode, query: Query) => {
    if (mode === 'raw') return (await database.pool.query<{ chunk_id: string }>(rawSql, [pgvector.toSql(query.vector)])).rows.map((row) => row.chunk_id);
    const response = await memory.search({ text: query.text, limit: K }, { halves: mode === 'hybrid' ? 'both' : mode });
    if (mode !== 'text' && response.mode === 'text') throw new Error(`search fell back to full text only: ${response.notice}`);
    return response.hits.map((hit) => hit.itemId);
  };
  for (const pass of ['warm-up', 'measured'] as const) {
    const started = performance.now();
    // Warming up on a few queries: connections, plans and pages; the data is in the OS cache already.
    const list = pass === 'warm-up' ? queries.slice(0, WARM_UP) : queries;
    for (const [index, query] of list.entries()) {
      // The order of the four rotates, so none is always the one that finds the caches warm.
      for (let turn = 0; turn < modes.length; turn++) {
        const mode = modes[(index + turn) % modes.length] as Mode;
        const began = performance.now();
        const ids = await run(mode, query);
        const ms = performance.now() - began;
        if (pass === 'warm-up') continue;
        samples[mode].push(ms);
        if (mode === 'raw') rawResults[index] = ids;
        if (mode === 'meaning') meaningResults[index] = ids;
        if (mode === 'hybrid') hybridHits[index] = ids.length;
      }
    }
    console.log(`[memory] ${label}: ${pass} pass of ${list.length} queries × ${modes.length} modes in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }

  // Exact answers: the same statements with index scans off, inside a transaction on one client.
  const exactMs: number[] = [];
  const exactChunks: { id: string; d: number }[][] = [];
  let rawRecall = 0;
  let meaningRecall = 0;
  let meaningShort = 0;
  const efSweep: Record<number, { ms: number[]; recall: number }> = Object.fromEntries(EF_SEARCH_SWEEP.map((ef) => [ef, { ms: [], recall: 0 }]));
  {
    for (const [index, query] of queries.slice(0, exactCount).entries()) {
      const began = performance.now();
      const chunks = await exactly(
        database.pool,
        async (client) =>
          (
            await client.query<{ chunk_id: string; d: number }>(
              `SELECT chunk_id::text AS chunk_id, e.embedding::vector(${dimensions}) <=> $1::vector(${dimensions}) AS d FROM memory_embeddings e
               WHERE e.model = ${modelLiteral(model)} ORDER BY e.embedding::vector(${dimensions}) <=> $1::vector(${dimensions}) LIMIT ${K}`,
              [pgvector.toSql(query.vector)],
            )
          ).rows,
        { indexScans: 'off' },
      );
      exactMs.push(performance.now() - began);
      exactChunks.push(chunks.map((row) => ({ id: String(row.chunk_id), d: Number(row.d) })));
      const exactTop = new Set(chunks.map((row) => String(row.chunk_id)));
      rawRecall += (rawResults[index] ?? []).filter((id) => exactTop.has(id)).length / Math.max(1, exactTop.size);
      const meaningPlan = await searchPlan(database.pool, model, { text: query.text, limit: K }, query.vector, 'meaning');
      const exactItems = (await exactly(database.pool, (client) => hybridSearch(client, meaningPlan), { withoutIndex: options.indexName })).map((hit) => hit.itemId);
      const got = meaningResults[index] ?? [];
      if (got.length < exactItems.length) meaningShort++;
      meaningRecall += exactItems.length === 0 ? 1 : got.filter((id) => exactItems.includes(id)).length / exactItems.length;
      // The raw kNN again at other candidate-list sizes: what recall and latency ef_search buys.
      for (const ef of EF_SEARCH_SWEEP) {
        const { rows, ms } = await retryingOnce(async () => {
          const client = await database.pool.connect();
          let broken = false;
          try {
            await client.query('BEGIN');
            await client.query(`SET LOCAL hnsw.ef_search = ${ef}`);
            const started = performance.now();
            const result = await client.query<{ chunk_id: string }>(rawSql, [pgvector.toSql(query.vector)]);
            const elapsed = performance.now() - started;
            await client.query('COMMIT');
            return { rows: result.rows, ms: elapsed };
          } catch (error) {
            broken = true;
            throw error;
          } finally {
            client.release(broken);
          }
        });
        const sweep = efSweep[ef];
        sweep?.ms.push(ms);
        if (sweep) sweep.recall += rows.filter((row) => exactTop.has(row.chunk_id)).length / Math.max(1, exactTop.size);
      }
      if ((index + 1) % 25 === 0) console.log(`[memory] ${label}: exact answers for ${index + 1} / ${exactCount} queries`);
    }
  }
  const distances = {
    nearest: round(mean(exactChunks.map((answer) => answer[0]?.d ?? Number.NaN)), 3),
    tenth: round(mean(exactChunks.map((answer) => answer[K - 1]?.d ?? Number.NaN)), 3),
    random: round(mean(queries.flatMap((query) => options.sampleVectors.slice(0, 64).map((vector) => cosineDistance(query.vector, vector)))), 3),
  };
  const hybridMs = summarize(samples.hybrid);
  const rawKnnMs = summarize(samples.raw);
  return {
    figures: {
      queries: queries.length,
      hybridMs,
      meaningOnlyMs: summarize(samples.meaning),
      textOnlyMs: summarize(samples.text),
      rawKnnMs,
      ratioP95: round(hybridMs.p95 / rawKnnMs.p95),
      exactQueries: exactCount,
      rawRecallAt10: round(rawRecall / exactCount, 3),
      meaningRecallAt10: round(meaningRecall / exactCount, 3),
      meaningShortOfExact: meaningShort,
      meaningMeanHits: round(mean(meaningResults.map((ids) => ids.length)), 1),
      hybridShort: hybridHits.filter((hits) => hits < K).length,
      exactScanMs: summarize(exactMs),
      efSearchSweep: EF_SEARCH_SWEEP.map((ef) => ({ efSearch: ef, rawRecallAt10: round((efSweep[ef]?.recall ?? 0) / exactCount, 3), ...pick(summarize(efSweep[ef]?.ms ?? []), 'p50', 'p95') })),
      distances,
    },
    hybridSamples: queries.map((query, index) => ({ query, ms: samples.hybrid[index] ?? 0 })),
  };
}

export interface FilterCase {
  filter: string;
  queries: readonly Query[];
  /** The search filter for a query, and its SQL restriction on memory_items `i` (to measure its selectivity). */
  toQuery(query: Query): { filter: Omit<SearchQuery, 'text'>; where: string; params: unknown[] };
}

export async function measureFiltered(options: { database: Pick<Database, 'pool'>; memory: Memory; model: string; cases: readonly FilterCase[]; exactQueries: number; indexName: string; label: string }): Promise<{ figures: FilteredFigures[]; slowest: { filter: string; query: Query; search: SearchQuery; ms: number }[] }> {
  const { database, memory, model, label } = options;
  const figures: FilteredFigures[] = [];
  const slowest: { filter: string; query: Query; search: SearchQuery; ms: number }[] = [];
  for (const filterCase of options.cases) {
    const hybrid: number[] = [];
    const meaning: number[] = [];
    const hybridHits: number[] = [];
    const meaningHits: string[][] = [];
    let worst = { ms: -1, index: 0 };
    for (const pass of ['warm-up', 'measured'] as const) {
      for (const [index, query] of (pass === 'warm-up' ? filterCase.queries.slice(0, WARM_UP / 2) : filterCase.queries).entries()) {
        const search: SearchQuery = { text: query.text, limit: K, ...filterCase.toQuery(query).filter };
        const order: ('both' | 'meaning')[] = index % 2 === 0 ? ['both', 'meaning'] : ['meaning', 'both'];
        for (const halves of order) {
          const began = performance.now();
          const response = await retryingOnce(() => memory.search(search, { halves }));
          const ms = performance.now() - began;
          if (pass === 'warm-up') continue;
          if (halves === 'both') {
            hybrid.push(ms);
            hybridHits.push(response.hits.length);
            if (ms > worst.ms) worst = { ms, index };
          } else {
            meaning.push(ms);
            meaningHits[index] = response.hits.map((hit) => hit.itemId);
          }
        }
      }
    }
    // Exact: the filtered meaning half's search again with the HNSW index dropped.
    let recall = 0;
    let shortOfExact = 0;
    let hybridShortOfExact = 0;
    let fewerThanKExist = 0;
    let selectivity = 0;
    const shares = new Map<string, number>();
    const exactCount = Math.min(filterCase.queries.length, options.exactQueries);
    {
      for (const [index, query] of filterCase.queries.slice(0, exactCount).entries()) {
        const restriction = filterCase.toQuery(query);
        const search: SearchQuery = { text: query.text, limit: K, ...restriction.filter };
        const withoutIndex = { withoutIndex: options.indexName };
        const meaningPlan = await searchPlan(database.pool, model, search, query.vector, 'meaning');
        const exactItems = (await exactly(database.pool, (client) => hybridSearch(client, meaningPlan), withoutIndex)).map((hit) => hit.itemId);
        const got = meaningHits[index] ?? [];
        if (got.length < exactItems.length) shortOfExact++;
        // How many hits exist at all: the whole hybrid search run exactly. Fewer than K means
        // fewer than K items match the filter and either half's relevance cut, not a miss.
        const hybridPlan = await searchPlan(database.pool, model, search, query.vector, 'both');
        const exactHybrid = await exactly(database.pool, (client) => hybridSearch(client, hybridPlan), withoutIndex);
        if ((hybridHits[index] ?? 0) < Math.min(K, exactHybrid.length)) hybridShortOfExact++;
        if (exactHybrid.length < K) fewerThanKExist++;
        recall += exactItems.length === 0 ? 1 : got.filter((id) => exactItems.includes(id)).length / exactItems.length;
        const key = JSON.stringify(restriction.params);
        if (!shares.has(key)) {
          const share = await retryingOnce(() => database.pool.query<{ share: number }>(`SELECT (count(*) FILTER (WHERE ${restriction.where}))::float8 / count(*) AS share FROM memory_items i`, restriction.params));
          shares.set(key, Number(share.rows[0]?.share ?? 0));
        }
        selectivity += shares.get(key) ?? 0;
      }
    }
    const count = filterCase.queries.length;
    const worstQuery = filterCase.queries[worst.index];
    if (worstQuery) slowest.push({ filter: filterCase.filter, query: worstQuery, search: { text: worstQuery.text, limit: K, ...filterCase.toQuery(worstQuery).filter }, ms: worst.ms });
    const row: FilteredFigures = {
      filter: filterCase.filter,
      queries: count,
      selectivity: round(selectivity / exactCount, 4),
      hybridMs: summarize(hybrid),
      meaningOnlyMs: summarize(meaning),
      hybridReturnedK: hybridHits.filter((hits) => hits >= K).length,
      hybridMinHits: Math.min(...hybridHits),
      hybridShortOfExact,
      fewerThanKExist,
      meaningMeanHits: round(mean(meaningHits.map((hits) => hits.length)), 1),
      meaningMinHits: Math.min(...meaningHits.map((hits) => hits.length)),
      meaningShortOfExact: shortOfExact,
      exactQueries: exactCount,
      meaningRecallAt10: round(recall / exactCount, 3),
    };
    console.log(`[memory] ${label}: filter ${row.filter}: hybrid p95 ${row.hybridMs.p95} ms, ${row.hybridReturnedK}/${count} returned ${K}, meaning recall ${row.meaningRecallAt10}`);
    figures.push(row);
  }
  return { figures, slowest };
}

export function filterCases(queries: QuerySet): FilterCase[] {
  return [
    { filter: 'kinds=[fact]', queries: queries.kinds, toQuery: () => ({ filter: { kinds: ['fact'] }, where: `i.kind = 'fact'`, params: [] }) },
    { filter: `after=${DATE_FILTER_AFTER.toISOString().slice(0, 10)}`, queries: queries.date, toQuery: () => ({ filter: { after: DATE_FILTER_AFTER }, where: 'i.occurred_at >= $1', params: [DATE_FILTER_AFTER] }) },
    ...(
      [
        ['person (1-3 % of items)', queries.personCommon],
        ['person (0.2-0.6 % of items)', queries.personUncommon],
      ] as const
    ).map(([filter, list]) => ({
      filter,
      queries: list,
      toQuery: (query: Query) => {
        const person = (query as Query & { person: string }).person;
        // The same match as search.ts for an address: that counterparty or author.
        return { filter: { person }, where: '(i.counterparty = $1 OR lower(i.author) = $1)', params: [person] };
      },
    })),
  ];
}

export function createBenchMemory(database: Pick<Database, 'pool' | 'prisma' | 'kind'>, embedder: Embedder): Memory {
  return createMemory({ database, embedder, logger: createLogger({ level: 'error' }) });
}

/**
 * How a statement is answered exactly, inside a transaction on one client: with index scans off
 * (the raw top-10), or with the model's HNSW index dropped for the transaction and the drop rolled
 * back (search.ts's statements: their joins keep their btree indexes, so the planner still picks
 * sane join plans, and only the vector order is computed by a full scan).
 */
type Exact = { indexScans: 'off' } | { withoutIndex: string };

async function exactly<T>(pool: Pick<pg.Pool, 'connect'>, work: (client: pg.PoolClient) => Promise<T>, how: Exact): Promise<T> {
  return retryingOnce(async () => {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      try {
        if ('indexScans' in how) await client.query('SET LOCAL enable_indexscan = off');
        else await client.query(`DROP INDEX ${how.withoutIndex}`);
        return await work(client);
      } finally {
        await client.query('ROLLBACK');
      }
    } catch (error) {
      broken = true;
      throw error;
    } finally {
      client.release(broken);
    }
  });
}

/** Connections the bench saw cut (the test server is shared: other suites terminate backends). */
export const connectionLosses = { count: 0 };

/** One more try after a lost connection; any other error, or a second loss, ends the run. */
export async function retryingOnce<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!/terminat|Connection|ECONNRESET/i.test(String((error as Error).message))) throw error;
    connectionLosses.count++;
    console.log(`[memory] connection lost (${(error as Error).message}); trying once more`);
    return work();
  }
}

function pick<T extends object, Key extends keyof T>(value: T, ...keys: Key[]): Pick<T, Key> {
  return Object.fromEntries(keys.map((key) => [key, value[key]])) as Pick<T, Key>;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}
