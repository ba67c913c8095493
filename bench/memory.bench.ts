import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureEmbedderRate } from './memory/embedder-rate.ts';
import { runScenario, type ScenarioFigures } from './memory/scenario.ts';
import type { Benchmark } from './support/benchmark.ts';
import { wholeNumber } from './support/env.ts';

/**
 * Team memory at scale: bulk load rate, HNSW build time, and hybrid search latency through the
 * real `createMemory(...).search()` next to a bare pgvector top-10 on the same partial index (in
 * the same run), recall@10 of the vector half against an exact scan, and filtered searches, on a
 * generated, clustered corpus of 512-dimensional chunks (the built-in model's). PostgreSQL at each
 * size, PGlite at one size, and the built-in embedder's texts/s. Needs the test services
 * (bash test/services/up.sh).
 *
 * Options (`npm run bench -- memory --sizes 100000`, or the BENCH_* variable):
 *   --sizes / BENCH_SIZES                 PostgreSQL sizes in chunks (100000,1000000), 0 for none
 *   --pglite-size / BENCH_PGLITE_SIZE     PGlite size in chunks, 0 to skip (100000)
 *   --queries / BENCH_QUERIES             unfiltered queries (200)
 *   --filtered-queries / BENCH_FILTERED_QUERIES  queries per filter (100)
 *   --exact-queries / BENCH_EXACT_QUERIES  queries of each set also answered exactly, for recall
 *                                         (100 up to 200k chunks, 50 above)
 *   --seed / BENCH_SEED                   (1)
 *   --embedder / BENCH_EMBEDDER           0 skips the built-in embedder's rate (1)
 *   --explain / BENCH_EXPLAIN             0 skips EXPLAIN ANALYZE of the slowest searches (1)
 *   --keep / BENCH_KEEP                   1 keeps the databases to look into (0)
 */
const TARGETS = {
  ratio: 4,
  p95Ms: (chunks: number) => (chunks <= 100_000 ? 20 : 50),
  recall: 0.95,
};

const benchmark: Benchmark = {
  name: 'memory',
  description: 'memory at 100k/1M chunks: bulk load, HNSW build, hybrid search p50/p95 vs raw pgvector kNN, recall@10 vs exact, filtered searches; PostgreSQL and PGlite',
  async run() {
    const sizes = wholeNumbers('BENCH_SIZES', [100_000, 1_000_000]);
    const pgliteSize = wholeNumber('BENCH_PGLITE_SIZE', 100_000, { zeroAllowed: true, separators: true });
    const queries = wholeNumber('BENCH_QUERIES', 200, { separators: true });
    const filteredQueries = wholeNumber('BENCH_FILTERED_QUERIES', 100, { separators: true });
    const exactQueries = process.env.BENCH_EXACT_QUERIES ? wholeNumber('BENCH_EXACT_QUERIES', 100, { separators: true }) : null;
    const seed = wholeNumber('BENCH_SEED', 1, { separators: true });
    const keep = flag('BENCH_KEEP', false);
    const explain = flag('BENCH_EXPLAIN', true);
    const scenarios: ScenarioFigures[] = [];
    const plan = [...sizes.map((chunks) => ({ kind: 'postgres' as const, chunks })), ...(pgliteSize > 0 ? [{ kind: 'pglite' as const, chunks: pgliteSize }] : [])];
    for (const { kind, chunks } of plan) {
      // Exact answers cost a full scan each: 100 queries a set up to 200k chunks, 50 above.
      const exact = exactQueries ?? (chunks > 200_000 ? 50 : 100);
      const figures = await runScenario({ kind, chunks, seed, queries, filteredQueries, exactQueries: exact, keep, explain });
      scenarios.push(figures);
      // A copy of each scenario as it ends: a later one failing does not lose it.
      const copy = join(tmpdir(), `adjutant-bench-memory-${kind}-${chunks}.json`);
      writeFileSync(copy, `${JSON.stringify(figures, null, 2)}\n`);
      console.log(`[memory] ${kind} ${chunks.toLocaleString('en')}: figures also in ${copy}`);
      for (const row of targetRows(figures)) console.log(`[memory] ${kind} ${chunks.toLocaleString('en')}: ${row.target}: ${row.value} (${row.limit}) ${row.result}`);
    }
    const embedder = flag('BENCH_EMBEDDER', true) ? await measureEmbedderRate() : 'skipped';

    return {
      corpus: {
        seed,
        dimensions: 512,
        vectors: 'clustered: 64 topics → max(1000, min(5000, chunks/250)) unit centroids → items (noise 0.75) → chunks (noise 0.35), noise spectrum 1/√rank on per-cluster axes; queries = table chunks + noise 0.35',
        text: '40–120 words a chunk, Zipf (s = 1) over 113 English stop words + 3,887 pseudo-words (a content word in ~8 % to ~0.2 % of chunks), 8 % cluster topic words; queries 2–5 content words from the same distribution',
        items: '1–4 chunks an item (mean 2); email 60 %, slack_message 30 %, fact 10 %; 500 counterparties (Zipf); occurred_at over 2025; scope team',
        queries: { unfiltered: queries, perFilter: filteredQueries, answeredExactlyPerSet: exactQueries ?? '100 up to 200k chunks, 50 above' },
      },
      codeUnderTest: codeIdentity(['src/memory/search.ts', 'src/memory/memory.ts', 'src/memory/embedding-index.ts', 'src/db/database.ts']),
      load: scenarios.map((figures) => ({
        database: figures.database,
        chunks: figures.chunks,
        items: figures.items,
        loadS: figures.load.seconds,
        chunksPerS: figures.load.chunksPerSecond,
        waitingForDbS: figures.load.waitingForDatabaseSeconds,
        vacuumAnalyzeS: figures.load.vacuumAnalyzeSeconds,
        hnswBuildS: figures.index.seconds,
        buildSettings: Object.entries(figures.index.settings).map(([name, value]) => `${name}=${value}`).join(' '),
        indexMb: figures.index.indexMb,
        tablesMb: Object.values(figures.sizesMb).reduce((sum, value) => sum + value, 0),
        buildNotices: figures.index.notices.length,
        wallS: figures.wallSeconds,
        loadAvg: `${figures.loadAverage.start}→${figures.loadAverage.end}`,
        lostConnections: figures.connectionLosses,
      })),
      search: scenarios.map((figures) => ({
        database: figures.database,
        chunks: figures.chunks,
        hybridP50: figures.plain.hybridMs.p50,
        hybridP95: figures.plain.hybridMs.p95,
        meaningP95: figures.plain.meaningOnlyMs.p95,
        textP95: figures.plain.textOnlyMs.p95,
        rawKnnP50: figures.plain.rawKnnMs.p50,
        rawKnnP95: figures.plain.rawKnnMs.p95,
        ratioP95: figures.plain.ratioP95,
        rawRecall: figures.plain.rawRecallAt10,
        meaningRecall: figures.plain.meaningRecallAt10,
        meaningHits: figures.plain.meaningMeanHits,
        hybridShortOfK: figures.plain.hybridShort,
        exactScanP50: figures.plain.exactScanMs.p50,
      })),
      filtered: scenarios.flatMap((figures) =>
        figures.filtered.map((row) => ({
          database: figures.database,
          chunks: figures.chunks,
          filter: row.filter,
          selectivity: row.selectivity,
          hybridP50: row.hybridMs.p50,
          hybridP95: row.hybridMs.p95,
          meaningP95: row.meaningOnlyMs.p95,
          returnedK: `${row.hybridReturnedK}/${row.queries}`,
          minHits: row.hybridMinHits,
          lessThanKExist: `${row.fewerThanKExist}/${row.exactQueries}`,
          shortOfExact: row.hybridShortOfExact,
          meaningMeanHits: row.meaningMeanHits,
          meaningMinHits: row.meaningMinHits,
          meaningShort: row.meaningShortOfExact,
          meaningRecall: row.meaningRecallAt10,
        })),
      ),
      efSearchSweep: scenarios.flatMap((figures) => figures.plain.efSearchSweep.map((row) => ({ database: figures.database, chunks: figures.chunks, ...row }))),
      targets: scenarios.flatMap(targetRows),
      embedder,
      explained: Object.fromEntries(scenarios.map((figures) => [`${figures.database} ${figures.chunks}`, figures.explained])),
      details: scenarios,
    };
  },
};

export default benchmark;

interface TargetRow {
  database: string;
  chunks: number;
  target: string;
  value: number | string;
  limit: string;
  result: 'PASS' | 'FAIL';
}

function targetRows(figures: ScenarioFigures): TargetRow[] {
  const { database, chunks, plain } = figures;
  const p95Limit = TARGETS.p95Ms(chunks);
  const row = (target: string, value: number | string, limit: string, pass: boolean): TargetRow => ({ database, chunks, target, value, limit, result: pass ? 'PASS' : 'FAIL' });
  return [
    row('hybrid p95 / raw kNN p95', plain.ratioP95, `≤ ${TARGETS.ratio}`, plain.ratioP95 <= TARGETS.ratio),
    row('hybrid p95 ms', plain.hybridMs.p95, `< ${p95Limit}`, plain.hybridMs.p95 < p95Limit),
    row('raw kNN recall@10', plain.rawRecallAt10, `≥ ${TARGETS.recall}`, plain.rawRecallAt10 >= TARGETS.recall),
    row('meaning half recall@10', plain.meaningRecallAt10, `≥ ${TARGETS.recall}`, plain.meaningRecallAt10 >= TARGETS.recall),
    ...figures.filtered.flatMap((filtered) => [
      row(`${filtered.filter}: hybrid p95 ms`, filtered.hybridMs.p95, `< ${p95Limit}`, filtered.hybridMs.p95 < p95Limit),
      row(
        `${filtered.filter}: hybrid returned 10 hits, or all that exist`,
        `${filtered.exactQueries - filtered.hybridShortOfExact}/${filtered.exactQueries}`,
        `all (${filtered.fewerThanKExist} have < 10)`,
        filtered.hybridShortOfExact === 0,
      ),
      row(`${filtered.filter}: meaning half as many hits as exact`, `${filtered.queries - filtered.meaningShortOfExact}/${filtered.queries}`, 'all', filtered.meaningShortOfExact === 0),
      row(`${filtered.filter}: meaning half recall@10`, filtered.meaningRecallAt10, `≥ ${TARGETS.recall}`, filtered.meaningRecallAt10 >= TARGETS.recall),
    ]),
  ];
}

/** Which version of the code under test was measured: other work may be changing it. */
function codeIdentity(files: string[]): Record<string, string> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  const head = git('rev-parse', '--short', 'HEAD') ?? 'unknown';
  return Object.fromEntries(
    files.map((file) => {
      const hash = createHash('sha256').update(readFileSync(join(root, file))).digest('hex').slice(0, 12);
      const changed = git('diff', '--quiet', 'HEAD', '--', file) === null;
      return [file, `sha256 ${hash}${changed ? `, changed since HEAD ${head}` : ` (HEAD ${head})`}`];
    }),
  );
}


function wholeNumbers(variable: string, fallback: number[]): number[] {
  const raw = process.env[variable];
  if (raw === undefined || raw === '') return fallback;
  // 0 or none: no PostgreSQL scenario (to measure PGlite alone).
  if (/^(0|none)$/i.test(raw.trim())) return [];
  const values = raw.split(',').map((part) => Number(part.trim().replace(/_/g, '').replace(/k$/i, '000').replace(/m$/i, '000000')));
  if (values.some((value) => !Number.isInteger(value) || value < 1000)) throw new Error(`${variable} must be sizes in chunks (≥ 1000) separated by commas, not ${raw}`);
  return values;
}

function flag(variable: string, fallback: boolean): boolean {
  const raw = process.env[variable];
  if (raw === undefined || raw === '') return fallback;
  return !['0', 'false', 'no', 'off'].includes(raw.toLowerCase());
}
