/**
 * Looking into a slow search on a database the memory bench kept (`npm run bench -- memory
 * --keep`): regenerates the bench's queries, captures the statement search.ts generates for one
 * half of each (--halves: each half is its own statement), and times it next to modified copies of
 * it (sql-variants.ts), on the same pool settings as the service, interleaved, reporting latency
 * and how far each copy's candidates differ from the real ones.
 *
 *   npx tsx bench/memory/investigate.ts --url <kept database URL> --chunks 100000 [--queries 100]
 *     [--variants a,b] [--sets plain,kinds,…] [--halves text|meaning] [--print-sql] [--explain <variant>]
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { BUILTIN_EMBEDDING_MODEL } from '../../src/brains/builtin/builtin-embedder.ts';
import { SEARCH_SETTINGS } from '../../src/db/database.ts';
import type { SearchQuery } from '../../src/memory/types.ts';
import { summarize } from '../support/latency.ts';
import { Corpus, DATE_FILTER_AFTER, type Query } from './corpus.ts';
import { captureSearchSql, explain, type CapturedSql } from './explain.ts';
import { VARIANTS } from './sql-variants.ts';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    chunks: { type: 'string' },
    seed: { type: 'string', default: '1' },
    queries: { type: 'string', default: '100' },
    'bench-queries': { type: 'string', default: '200' },
    'bench-filtered': { type: 'string', default: '100' },
    variants: { type: 'string' },
    sets: { type: 'string', default: 'plain,kinds,date,personCommon,personUncommon' },
    halves: { type: 'string', default: 'text' },
    'print-sql': { type: 'boolean', default: false },
    explain: { type: 'string' },
  },
});
if (!args.url || !args.chunks) throw new Error('--url and --chunks are required');
if (args.halves !== 'text' && args.halves !== 'meaning') throw new Error('--halves is text or meaning: each half is a statement of its own');

const corpus = new Corpus({ chunks: Number(args.chunks), seed: Number(args.seed), dimensions: 512, queries: Number(args['bench-queries']), filteredQueries: Number(args['bench-filtered']) });
console.log(`regenerating the corpus of ${args.chunks} chunks for its queries…`);
for await (const batch of corpus.batches(5000)) void batch;
const sets = corpus.queries();
const limit = Number(args.queries);
const searches: Record<string, { query: Query; search: SearchQuery }[]> = {
  plain: sets.plain.slice(0, limit).map((query) => ({ query, search: { text: query.text, limit: 10 } })),
  kinds: sets.kinds.slice(0, limit).map((query) => ({ query, search: { text: query.text, limit: 10, kinds: ['fact'] } })),
  date: sets.date.slice(0, limit).map((query) => ({ query, search: { text: query.text, limit: 10, after: DATE_FILTER_AFTER } })),
  personCommon: sets.personCommon.slice(0, limit).map((query) => ({ query, search: { text: query.text, limit: 10, person: query.person } })),
  personUncommon: sets.personUncommon.slice(0, limit).map((query) => ({ query, search: { text: query.text, limit: 10, person: query.person } })),
};

const options = Object.entries(SEARCH_SETTINGS).map(([name, value]) => `-c ${name}=${value}`).join(' ');
const pool = new pg.Pool({ connectionString: args.url, max: 2, options });
const indexName = (await pool.query<{ index_name: string }>('SELECT index_name FROM embedding_models WHERE model = $1', [BUILTIN_EMBEDDING_MODEL])).rows[0]?.index_name ?? '';
const chosen = args.variants ? args.variants.split(',') : Object.keys(VARIANTS);
for (const name of chosen) if (!VARIANTS[name]) throw new Error(`unknown variant ${name}; known: ${Object.keys(VARIANTS).join(', ')}`);

try {
  for (const set of args.sets.split(',')) {
    const list = searches[set];
    if (!list) throw new Error(`unknown set ${set}`);
    const statements: { original: CapturedSql; copies: Record<string, CapturedSql> }[] = [];
    for (const { query, search } of list) {
      const [original] = await captureSearchSql(pool, BUILTIN_EMBEDDING_MODEL, search, query.vector, args.halves);
      if (!original) throw new Error('the search ran no statement');
      statements.push({ original, copies: Object.fromEntries(chosen.map((name) => [name, VARIANTS[name]?.(original) ?? original])) });
    }
    if (args['print-sql']) {
      const first = statements[0];
      console.log(`-- ${set}, original\n${first?.original.sql}\n`);
      for (const name of chosen) console.log(`-- ${set}, ${name}\n${first?.copies[name]?.sql}\n`);
    }
    if (args.explain) {
      const first = statements[0];
      const statement = args.explain === 'original' ? first?.original : first?.copies[args.explain];
      if (statement) console.log(JSON.stringify(await explain(pool, [statement], indexName, 12), (key, value) => (key === 'plan' ? undefined : value), 2));
    }
    // 'prepared': the real statement again as a named prepared statement (planned once per connection).
    const names = ['original', 'prepared', ...chosen];
    const times: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
    const overlap: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
    const idealShare: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
    for (const pass of ['warm-up', 'measured']) {
      for (const [index, { original, copies }] of statements.entries()) {
        const results: Record<string, string[]> = {};
        for (let turn = 0; turn < names.length; turn++) {
          const name = names[(index + turn) % names.length] as string;
          const statement = name === 'original' || name === 'prepared' ? original : (copies[name] as CapturedSql);
          const began = performance.now();
          const rows = (
            name === 'prepared'
              ? await pool.query<{ item_id: string }>({ name: `s${createHash('sha1').update(statement.sql).digest('hex').slice(0, 16)}`, text: statement.sql, values: statement.values })
              : await pool.query<{ item_id: string }>(statement.sql, statement.values)
          ).rows;
          const ms = performance.now() - began;
          results[name] = rows.map((row) => row.item_id);
          if (pass === 'measured') times[name]?.push(ms);
        }
        if (pass === 'measured') {
          const reference = new Set(results.original ?? []);
          for (const name of names) overlap[name]?.push(reference.size === 0 ? 1 : (results[name] ?? []).filter((id) => reference.has(id)).length / reference.size);
          if (args.halves === 'text' && set === 'plain') {
            const ideal = await idealTextScores(pool, list[index]?.query.text ?? '', [...new Set(Object.values(results).flat())]);
            for (const name of names) idealShare[name]?.push(ideal.best === 0 ? 1 : (results[name] ?? []).slice(0, 10).reduce((sum, id) => sum + (ideal.scores.get(id) ?? 0), 0) / ideal.best);
          }
        }
      }
    }
    console.log(`\n${set} (${statements.length} searches): statement time in ms, and the share of the real top 10 each copy returns`);
    for (const name of names) {
      const summary = summarize(times[name] ?? []);
      const shared = overlap[name] ?? [];
      const ideal = idealShare[name] ?? [];
      const idealText = ideal.length > 0 ? `  ideal text score share: ${(ideal.reduce((sum, value) => sum + value, 0) / ideal.length).toFixed(3)}` : '';
      console.log(`  ${name.padEnd(28)} p50 ${String(summary.p50).padStart(8)}  p95 ${String(summary.p95).padStart(8)}  max ${String(summary.max).padStart(8)}  same top 10: ${(shared.reduce((sum, value) => sum + value, 0) / Math.max(1, shared.length)).toFixed(3)}${idealText}`);
    }
  }
} finally {
  await pool.end();
}

/**
 * A yardstick for the text half that ties cannot fool: every item scored by the IDF (from exact
 * item counts, over every posting) of the question's words it holds. Returns those scores for
 * `ids` and the sum of the ideal top 10's scores; a ranking's share of that sum says how good its
 * top 10 is, whichever of many equally good items it picked.
 */
async function idealTextScores(pool: pg.Pool, text: string, ids: string[]): Promise<{ scores: Map<string, number>; best: number }> {
  const result = await pool.query<{ item_id: string; score: number; chosen: boolean }>(
    `WITH terms AS (
       SELECT lexeme, ('''' || replace(replace(lexeme, '\\', '\\\\'), '''', '''''') || '''')::tsquery AS q
       FROM (SELECT DISTINCT lexeme FROM unnest(tsvector_to_array(to_tsvector('english', $1))) AS lexeme) t),
     total AS (SELECT count(*)::float8 AS n FROM memory_items),
     idf AS (
       SELECT t.lexeme, t.q, ln(1 + (total.n - d.n + 0.5) / (d.n + 0.5)) AS idf
       FROM terms t CROSS JOIN total CROSS JOIN LATERAL (SELECT count(DISTINCT c.item_id)::float8 AS n FROM memory_chunks c WHERE c.search_vector @@ t.q) d),
     scores AS (
       SELECT item_id, sum(idf) AS score FROM (SELECT DISTINCT c.item_id, w.lexeme, w.idf FROM idf w JOIN memory_chunks c ON c.search_vector @@ w.q) s GROUP BY item_id)
     (SELECT item_id::text, score, false AS chosen FROM scores ORDER BY score DESC LIMIT 10)
     UNION ALL
     (SELECT item_id::text, score, true AS chosen FROM scores WHERE item_id = ANY($2::uuid[]))`,
    [text, ids],
  );
  const best = result.rows.filter((row) => !row.chosen).reduce((sum, row) => sum + Number(row.score), 0);
  return { scores: new Map(result.rows.filter((row) => row.chosen).map((row) => [row.item_id, Number(row.score)])), best };
}
