import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { BUILTIN_EMBEDDING_DIMENSIONS, BUILTIN_EMBEDDING_MODEL } from '../../src/brains/builtin/builtin-embedder.ts';
import { createDatabase, SEARCH_SETTINGS, type Database } from '../../src/db/database.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../../test/support/databases.ts';
import { round } from '../support/latency.ts';
import type { SearchQuery } from '../../src/memory/types.ts';
import { Corpus, KIND_SHARES, type Query } from './corpus.ts';
import { captureSearchSql, explain } from './explain.ts';
import { buildIndex, loadCorpus, prepareModel, tableSizesMb, type IndexBuildFigures, type LoadFigures } from './load.ts';
import { connectionLosses, createBenchMemory, filterCases, measureFiltered, measurePlain, precomputedEmbedder, type FilteredFigures, type PlainFigures } from './measure.ts';

/**
 * One database at one size: a fresh database, the corpus loaded in bulk, the HNSW index built,
 * then search measured through the real memory API against raw pgvector and an exact scan.
 */
export interface ScenarioOptions {
  kind: DatabaseKind;
  chunks: number;
  seed: number;
  queries: number;
  filteredQueries: number;
  /** Queries of each set also answered exactly, for recall. */
  exactQueries: number;
  /** Keep the database afterwards (its URL or directory is printed) to look into it by hand. */
  keep: boolean;
  /** Statements on the captured SQL to EXPLAIN (ANALYZE, BUFFERS): the slowest plain and filtered hybrid searches. */
  explain: boolean;
}

export interface ScenarioFigures {
  database: DatabaseKind;
  chunks: number;
  items: number;
  server: Record<string, string>;
  searchSettings: Record<string, string>;
  load: LoadFigures;
  index: IndexBuildFigures;
  sizesMb: Record<string, number>;
  plain: PlainFigures;
  filtered: FilteredFigures[];
  /** EXPLAIN (ANALYZE, BUFFERS) of the slowest searches' statements, by which search. */
  explained: Record<string, Record<string, string | number | boolean | null>>;
  wallSeconds: number;
  /** Connections cut by someone else during the run (each search or exact answer retried once). */
  connectionLosses: number;
  /** The machine's 1-minute load average when the scenario started and ended (it is shared). */
  loadAverage: { start: number; end: number };
  kept?: string;
}

const MODEL = BUILTIN_EMBEDDING_MODEL;
const DIMENSIONS = BUILTIN_EMBEDDING_DIMENSIONS;

/**
 * maintenance_work_mem big enough for the whole graph (pgvector needs ~3 KB a 512-d element
 * with m = 16; when it does not fit it says so and builds far slower), at least 2 GB.
 */
export function buildSettings(kind: DatabaseKind, chunks: number): Record<string, string> {
  if (kind === 'pglite') return { maintenance_work_mem: '1GB', max_parallel_maintenance_workers: '0' };
  const gigabytes = Math.max(2, Math.ceil((chunks * 3.5 * 1024) / 1024 ** 3));
  return { maintenance_work_mem: `${gigabytes}GB`, max_parallel_maintenance_workers: '1' };
}

export async function runScenario(options: ScenarioOptions): Promise<ScenarioFigures> {
  const label = `${options.kind} ${options.chunks.toLocaleString('en')}`;
  const wallStarted = performance.now();
  const loadAtStart = round(loadavg()[0] ?? 0);
  const lossesAtStart = connectionLosses.count;
  let testDatabase: TestDatabase | null = null;
  let database: Database | null = null;
  let kept: string | undefined;
  try {
    testDatabase = await createTestDatabase(options.kind);
    // Kept even when the run fails half-way: it is what there is to look into.
    if (options.keep) kept = testDatabase.databaseUrl ?? testDatabase.dataDir;
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    const server = await serverFacts(database);
    console.log(`[memory] ${label}: ${server.version}, pgvector ${server.pgvector}`);

    const { indexName, definition } = await prepareModel(database, MODEL, DIMENSIONS);
    const corpus = new Corpus({ chunks: options.chunks, seed: options.seed, dimensions: DIMENSIONS, queries: options.queries, filteredQueries: options.filteredQueries });
    const load = await loadCorpus({ database, corpus, model: MODEL, batchChunks: options.kind === 'pglite' ? 1000 : 2000, label });
    const index = await buildIndex({ database, indexName, definition, settings: buildSettings(options.kind, options.chunks), label });
    const sizesMb = await tableSizesMb(database.pool);

    const queries = corpus.queries();
    const all = [...queries.plain, ...queries.kinds, ...queries.date, ...queries.personCommon, ...queries.personUncommon];
    const memory = createBenchMemory(database, precomputedEmbedder(MODEL, DIMENSIONS, all));
    const plain = await measurePlain({ database, memory, model: MODEL, dimensions: DIMENSIONS, queries: queries.plain, sampleVectors: corpus.sampleVectors, exactQueries: options.exactQueries, indexName, label });
    console.log(
      `[memory] ${label}: hybrid p50 ${plain.figures.hybridMs.p50} ms p95 ${plain.figures.hybridMs.p95} ms; raw kNN p95 ${plain.figures.rawKnnMs.p95} ms; ratio ${plain.figures.ratioP95}; recall raw ${plain.figures.rawRecallAt10}, meaning half ${plain.figures.meaningRecallAt10}`,
    );
    // Read after searching: pgvector's settings are placeholders until its library is loaded.
    const searchSettings = await currentSettings(database, Object.keys(SEARCH_SETTINGS).concat(['hnsw.max_scan_tuples', 'hnsw.scan_mem_multiplier']));
    const filtered = await measureFiltered({ database, memory, model: MODEL, cases: filterCases(queries), exactQueries: options.exactQueries, indexName, label });

    const explained: ScenarioFigures['explained'] = {};
    if (options.explain && database.kind === 'postgres') {
      const bySpeed = [...plain.hybridSamples].sort((a, b) => b.ms - a.ms);
      const picks: { what: string; query: Query | undefined; search: SearchQuery | undefined; ms: number }[] = [
        ...[
          ['plain, slowest', bySpeed[0]],
          ['plain, 5th slowest', bySpeed[4]],
          ['plain, median', bySpeed[Math.floor(bySpeed.length / 2)]],
        ].map(([what, sample]) => {
          const picked = sample as (typeof bySpeed)[number] | undefined;
          return { what: what as string, query: picked?.query, search: picked ? { text: picked.query.text, limit: 10 } : undefined, ms: picked?.ms ?? 0 };
        }),
        ...filtered.slowest.map((slow) => ({ what: `${slow.filter}, slowest`, query: slow.query, search: slow.search, ms: slow.ms })),
      ];
      for (const { what, query, search, ms } of picks) {
        if (!query || !search) continue;
        const captured = await captureSearchSql(database.pool, MODEL, search, query.vector);
        const { plan: _plan, top, cteMs, ...summary } = await explain(database.pool, captured, indexName);
        explained[what] = {
          searchMs: round(ms),
          text: query.text,
          ...summary,
          cteMs: Object.entries(cteMs).map(([name, value]) => `${name} ${value}`).join(', '),
          ...Object.fromEntries(top.map((node, rank) => [`node${rank + 1}`, `${node.selfMs} ms self (${node.totalMs} total): ${node.node}, loops ${node.loops}, rows ${node.rows}, buffers hit ${node.sharedHit} read ${node.sharedRead}`])),
        };
      }
    }

    return {
      database: options.kind,
      chunks: load.chunks,
      items: load.items,
      server: { ...server, kindShares: JSON.stringify(KIND_SHARES) },
      searchSettings,
      load,
      index,
      sizesMb,
      plain: plain.figures,
      filtered: filtered.figures,
      explained,
      wallSeconds: round((performance.now() - wallStarted) / 1000, 1),
      connectionLosses: connectionLosses.count - lossesAtStart,
      loadAverage: { start: loadAtStart, end: round(loadavg()[0] ?? 0) },
      ...(kept ? { kept } : {}),
    };
  } finally {
    await database?.close();
    if (kept) console.log(`[memory] ${label}: database kept: ${kept}`);
    else await testDatabase?.drop();
  }
}

async function serverFacts(database: Database): Promise<Record<string, string>> {
  const version = await database.pool.query<{ version: string; pgvector: string }>(
    `SELECT current_setting('server_version') AS version, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector`,
  );
  const settings = await currentSettings(database, ['shared_buffers', 'work_mem', 'effective_cache_size', 'jit', 'random_page_cost', 'max_parallel_workers_per_gather', 'synchronous_commit']);
  return { version: `PostgreSQL ${version.rows[0]?.version ?? '?'}${database.kind === 'pglite' ? ' (PGlite)' : ''}`, pgvector: version.rows[0]?.pgvector ?? '?', ...settings };
}

async function currentSettings(database: Database, names: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const result = await database.pool.query<{ value: string | null }>('SELECT current_setting($1, true) AS value', [name]);
    out[name] = result.rows[0]?.value ?? '(unset)';
  }
  return out;
}
