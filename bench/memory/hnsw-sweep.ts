/**
 * HNSW build and search settings at scale, on a database the memory bench kept
 * (`npm run bench -- memory --keep`): for each index definition, the build time and size, then
 * raw top-10 recall against exact answers and latency at several hnsw.ef_search values, with the
 * session settings the service uses. The corpus's queries and their exact answers (brute force in
 * Node over every vector, read once) are cached in --cache, so one table serves many builds.
 *
 *   npx tsx bench/memory/hnsw-sweep.ts --url <kept database URL> --chunks 1000000 \
 *     [--queries 200] [--builds m=16:ef=64,m=16:ef=128] [--ef 40,100,200] [--keep-indexes]
 *     [--workers 1] [--mem 8GB] [--repeat 2] [--self 500]
 *
 * --builds adds indexes hnsw_exp_m<m>_ef<ef_construction> (same expression and predicate as the
 * service's) next to the one the bench built; each is measured with the others dropped in a
 * rolled-back transaction. --self: that many table vectors are searched for themselves, which
 * shows how much of the graph cannot be reached (recall that no ef_search buys back).
 * Run it under `nice` and renice the server backends building the index: they are not children.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import pgvector from 'pgvector';
import { BUILTIN_EMBEDDING_MODEL } from '../../src/brains/builtin/builtin-embedder.ts';
import { SEARCH_SETTINGS } from '../../src/db/database.ts';
import { modelLiteral } from '../../src/memory/embedding-index.ts';
import { summarize } from '../support/latency.ts';
import { Corpus } from './corpus.ts';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    chunks: { type: 'string' },
    seed: { type: 'string', default: '1' },
    queries: { type: 'string', default: '200' },
    cache: { type: 'string', default: '/tmp/hnsw-exp' },
    builds: { type: 'string', default: '' },
    ef: { type: 'string', default: '40,100,200,400' },
    'keep-indexes': { type: 'boolean', default: false },
    workers: { type: 'string', default: '1' },
    mem: { type: 'string', default: '8GB' },
    repeat: { type: 'string', default: '2' },
    self: { type: 'string', default: '500' },
  },
});
if (!args.url || !args.chunks) throw new Error('--url and --chunks are required');
const DIMS = 512;
const K = 10;
const chunks = Number(args.chunks);
const queryCount = Number(args.queries);
mkdirSync(args.cache, { recursive: true });
const literal = modelLiteral(BUILTIN_EMBEDDING_MODEL);

interface Cached {
  queries: { vector: number[]; source: string }[];
  exact?: { ids: string[]; d: number[] }[];
}
const cacheFile = join(args.cache, `queries-${chunks}-${args.seed}-${queryCount}.json`);
let cached: Cached;
if (existsSync(cacheFile)) cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as Cached;
else {
  const started = performance.now();
  const corpus = new Corpus({ chunks, seed: Number(args.seed), dimensions: DIMS, queries: queryCount, filteredQueries: 1 });
  for await (const batch of corpus.batches(5000)) void batch;
  cached = { queries: corpus.queries().plain.map((query) => ({ vector: query.vector, source: query.sourceChunkId })) };
  writeFileSync(cacheFile, JSON.stringify(cached));
  console.log(`queries generated in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

const options = Object.entries(SEARCH_SETTINGS).map(([name, value]) => `-c ${name}=${value}`).join(' ');
const pool = new pg.Pool({ connectionString: args.url, max: 2, options });

try {
  const sources = await pool.query<{ n: string }>('SELECT count(*) AS n FROM memory_embeddings WHERE chunk_id = ANY($1::uuid[])', [cached.queries.map((query) => query.source)]);
  if (Number(sources.rows[0]?.n) !== new Set(cached.queries.map((query) => query.source)).size) throw new Error('the database does not hold this corpus (query source chunks missing)');
  if (!cached.exact) {
    cached.exact = await bruteForce(pool, cached.queries.map((query) => query.vector));
    writeFileSync(cacheFile, JSON.stringify(cached));
  }
  const exact = cached.exact;
  const d1 = exact.map((answer) => answer.d[0] ?? 0);
  const d10 = exact.map((answer) => answer.d[K - 1] ?? 0);
  const d11 = exact.map((answer) => answer.d[K] ?? 0);
  const d20 = exact.map((answer) => answer.d[19] ?? 0);
  console.log(`exact: mean distance 1st ${mean(d1).toFixed(3)}, 10th ${mean(d10).toFixed(3)}, 11th ${mean(d11).toFixed(3)}, 20th ${mean(d20).toFixed(3)}; mean (11th - 10th) gap ${mean(d11.map((value, index) => value - (d10[index] ?? 0))).toFixed(4)}`);

  for (const spec of args.builds.split(',').filter(Boolean)) {
    const parsed = Object.fromEntries(spec.split(':').map((part) => part.split('=') as [string, string]));
    const m = Number(parsed.m ?? 16);
    const efc = Number(parsed.ef ?? 64);
    const name = `hnsw_exp_m${m}_ef${efc}`;
    const exists = await pool.query('SELECT 1 FROM pg_indexes WHERE indexname = $1', [name]);
    if (exists.rowCount === 0) {
      const client = await pool.connect();
      try {
        await client.query(`SET maintenance_work_mem = '${args.mem}'`);
        await client.query(`SET max_parallel_maintenance_workers = ${Number(args.workers)}`);
        client.on('notice', (notice) => console.log(`  notice: ${notice.message}`));
        const started = performance.now();
        await client.query(`CREATE INDEX ${name} ON memory_embeddings USING hnsw ((embedding::vector(${DIMS})) vector_cosine_ops) WITH (m = ${m}, ef_construction = ${efc}) WHERE model = ${literal}`);
        console.log(`${name}: built in ${((performance.now() - started) / 1000).toFixed(0)} s (workers ${args.workers}, maintenance_work_mem ${args.mem})`);
      } finally {
        client.release();
      }
    }
  }

  const indexes = (await pool.query<{ indexname: string; mb: string }>(
    `SELECT indexname, pg_relation_size(indexname::regclass) / 1048576 AS mb FROM pg_indexes WHERE tablename = 'memory_embeddings' AND indexdef LIKE '%USING hnsw%' ORDER BY indexname`,
  )).rows;
  const sample = (await pool.query<{ id: string; v: string }>(`SELECT chunk_id::text AS id, embedding::text AS v FROM memory_embeddings TABLESAMPLE SYSTEM (1) REPEATABLE (7) LIMIT ${Number(args.self)}`)).rows;
  const rawSql = `SELECT chunk_id::text AS chunk_id FROM memory_embeddings e WHERE e.model = ${literal} ORDER BY e.embedding::vector(${DIMS}) <=> $1::vector(${DIMS}) LIMIT ${K}`;
  for (const index of indexes) {
    const others = indexes.filter((other) => other.indexname !== index.indexname).map((other) => other.indexname);
    for (const ef of args.ef.split(',').map(Number)) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        // The other indexes out of the planner's way (rolled back): each is measured alone.
        for (const other of others) await client.query(`DROP INDEX ${other}`);
        await client.query(`SET LOCAL hnsw.ef_search = ${ef}`);
        const times: number[] = [];
        const recalls: number[] = [];
        for (let pass = 0; pass < Number(args.repeat); pass++) {
          for (const [at, query] of cached.queries.entries()) {
            const began = performance.now();
            const result = await client.query<{ chunk_id: string }>(rawSql, [pgvector.toSql(query.vector)]);
            const ms = performance.now() - began;
            if (pass === 0) {
              const truth = new Set((exact[at]?.ids ?? []).slice(0, K));
              recalls.push(result.rows.filter((row) => truth.has(row.chunk_id)).length / K);
            } else times.push(ms);
          }
        }
        // Each sampled vector searched for itself: one not in its own top 10 is (nearly) unreachable in the graph.
        let unreachable = 0;
        for (const row of sample) {
          const result = await client.query<{ chunk_id: string }>(rawSql, [row.v]);
          if (!result.rows.some((found) => found.chunk_id === row.id)) unreachable++;
        }
        const summary = summarize(times);
        const perfect = recalls.filter((value) => value === 1).length;
        const low = recalls.filter((value) => value < 0.5).length;
        console.log(`${index.indexname} (${index.mb} MB) ef_search ${ef}: recall@10 ${mean(recalls).toFixed(3)} (${perfect} perfect, ${low} under 0.5 of ${recalls.length}); p50 ${summary.p50} p95 ${summary.p95} ms; self not found ${unreachable} of ${sample.length}`);
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    }
  }
  if (!args['keep-indexes']) for (const index of indexes) if (index.indexname.startsWith('hnsw_exp_')) await pool.query(`DROP INDEX ${index.indexname}`);
} finally {
  await pool.end();
}

/** Exact top 20 of every query: every vector read once (binary), cosine distance in Node. */
async function bruteForce(db: pg.Pool, queries: number[][]): Promise<{ ids: string[]; d: number[] }[]> {
  const started = performance.now();
  const q = queries.map((vector) => {
    const out = Float32Array.from(vector);
    const norm = Math.sqrt(out.reduce((sum, value) => sum + value * value, 0));
    return out.map((value) => value / norm);
  });
  const best = q.map(() => ({ ids: [] as string[], d: [] as number[] }));
  const TOP = 20;
  let after = '00000000-0000-0000-0000-000000000000';
  let seen = 0;
  const vector = new Float32Array(DIMS);
  for (;;) {
    const page = await db.query<{ id: string; v: Buffer }>({
      text: `SELECT chunk_id::text AS id, vector_send(embedding) AS v FROM memory_embeddings WHERE model = ${literal} AND chunk_id > $1 ORDER BY chunk_id LIMIT 20000`,
      values: [after],
    });
    if (page.rows.length === 0) break;
    for (const row of page.rows) {
      const buffer = row.v;
      let norm = 0;
      for (let index = 0; index < DIMS; index++) {
        const value = buffer.readFloatBE(4 + index * 4);
        vector[index] = value;
        norm += value * value;
      }
      norm = Math.sqrt(norm);
      for (const [at, query] of q.entries()) {
        let dot = 0;
        for (let index = 0; index < DIMS; index++) dot += (query[index] as number) * (vector[index] as number);
        const distance = 1 - dot / norm;
        const list = best[at] as { ids: string[]; d: number[] };
        if (list.d.length === TOP && distance >= (list.d[TOP - 1] as number)) continue;
        let position = list.d.length;
        while (position > 0 && (list.d[position - 1] as number) > distance) position--;
        list.d.splice(position, 0, distance);
        list.ids.splice(position, 0, row.id);
        if (list.d.length > TOP) {
          list.d.pop();
          list.ids.pop();
        }
      }
    }
    seen += page.rows.length;
    after = page.rows[page.rows.length - 1]?.id ?? after;
    if (seen % 100_000 === 0) console.log(`exact: ${seen} vectors in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  console.log(`exact answers for ${queries.length} queries over ${seen} vectors in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return best;
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
}
