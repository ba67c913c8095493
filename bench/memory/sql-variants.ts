import type { CapturedSql } from './explain.ts';

/**
 * Modified copies of the statement search.ts generates, to measure a proposed change before
 * making it in src/. Each takes the captured statement and rewrites one part, failing loudly when
 * that part is no longer there (search.ts changed).
 */
type Variant = (statement: CapturedSql) => CapturedSql;

function rewrite(statement: CapturedSql, pattern: RegExp, replacement: (...groups: string[]) => string, what: string): CapturedSql {
  if (!pattern.test(statement.sql)) throw new Error(`the statement has no ${what} to rewrite: search.ts changed`);
  return { sql: statement.sql.replace(pattern, (...match: string[]) => replacement(...match)), values: statement.values };
}

/** `SELECT DISTINCT c.item_id FROM … WHERE … LIMIT n) p`: each word's items, under the filters. */
const POSTINGS = /SELECT DISTINCT c\.item_id FROM memory_chunks c JOIN memory_items i ON i\.id = c\.item_id\s+WHERE (c\.search_vector @@ t\.q AND [^\n]*?) LIMIT (\d+)\) p\)/;

/**
 * The cap applied to chunk rows before DISTINCT. As written, DISTINCT sits under LIMIT, so every
 * chunk holding the word is fetched (and its item looked up) before the first 2000 are kept: the
 * cap bounds the output, not the work.
 */
function capRowsFirst(cap?: number): Variant {
  return (statement) =>
    rewrite(statement, POSTINGS, (_all, where, limit) => `SELECT DISTINCT s.item_id FROM (SELECT c.item_id FROM memory_chunks c JOIN memory_items i ON i.id = c.item_id WHERE ${where} LIMIT ${cap ?? limit}) s) p)`, 'postings CTE');
}

/**
 * Without a caller's filter (kinds, person, dates, a channel), postings come from memory_chunks
 * alone and the standing filters (scope, deleted, superseded) are applied to the few items that
 * rank; no memory_items lookup for every chunk holding a word.
 */
const noItemJoin: Variant = (statement) => {
  const capped = capRowsFirst()(statement);
  return rewrite(
    capped,
    /SELECT DISTINCT s\.item_id FROM \(SELECT c\.item_id FROM memory_chunks c JOIN memory_items i ON i\.id = c\.item_id WHERE c\.search_vector @@ t\.q AND i\.deleted_at IS NULL AND i\.scope = 'team' AND i\.superseded_by IS NULL LIMIT (\d+)\) s\) p\)/,
    (_all, limit) => `SELECT DISTINCT s.item_id FROM (SELECT c.item_id FROM memory_chunks c WHERE c.search_vector @@ t.q LIMIT ${limit}) s) p)`,
    'unfiltered postings CTE',
  );
};

/**
 * A person given as a full address matched by equality (counterparty, or lower(author) with an
 * expression index), which the planner can estimate and use an index for, instead of
 * `LIKE '%…%'`, which it can do neither with.
 */
const personEquality: Variant = (statement) =>
  rewrite(statement, /\(i\.counterparty = (\$\d+) OR lower\(i\.author\) LIKE \$\d+ OR i\.counterparty LIKE \$\d+\)/g, (_all, person) => `(i.counterparty = ${person} OR lower(i.author) = ${person})`, 'person filter');

/** A lexeme as a one-word tsquery literal, quoted as search.ts quotes it. */
const quoted = (column: string) => `('''' || replace(replace(${column}, '\\', '\\\\'), '''', '''''') || '''')`;

/**
 * The text half with its work bounded by what it returns rather than by how common the words
 * are: candidate chunks are those holding at least two of the question's words (one tsquery of
 * pairwise ANDs, which GIN evaluates inside the index, so only matching rows are fetched from
 * the heap), plus the first few hundred holding the rarest word; each candidate is scored by the
 * words it holds, weighed by an IDF from the column's statistics (pg_stats.most_common_elems,
 * kept by ANALYZE; a word not among them is rarer than the rarest listed) instead of by counting
 * every posting. Everything from `text_hits` on is the real statement's.
 */
function textPairs(options: { cap: number; rarestCap: number }): Variant {
  return (statement) => {
    const found = /terms AS \(([\s\S]*?)\),\npostings AS \([\s\S]*?WHERE c\.search_vector @@ t\.q AND ([^\n]*?) LIMIT \d+\) p\),\nweights AS \([\s\S]*?\),\ntext_scores AS \([\s\S]*?\),\ntext_hits AS/.exec(statement.sql);
    if (!found) throw new Error('the statement has no terms/postings/weights/text_scores CTEs to rewrite: search.ts changed');
    const [whole, termsBody, filters] = found;
    const replacement = `terms AS (${termsBody}),
stats AS (
  SELECT e.elem, e.freq FROM pg_stats s CROSS JOIN LATERAL unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS e(elem, freq)
  WHERE s.schemaname = current_schema() AND s.tablename = 'memory_chunks' AND s.attname = 'search_vector'),
total AS (SELECT greatest((SELECT reltuples FROM pg_class WHERE oid = 'memory_chunks'::regclass), 1000) AS n),
weights AS (
  SELECT t.lexeme, t.q, f.freq, ln(1 + (1 - f.freq + 0.5 / total.n) / (f.freq + 0.5 / total.n)) AS idf, row_number() OVER (ORDER BY f.freq, t.lexeme) AS rarity
  FROM terms t CROSS JOIN total
  CROSS JOIN LATERAL (SELECT coalesce((SELECT s.freq FROM stats s WHERE s.elem = t.lexeme), (SELECT min(freq) / 2 FROM stats WHERE elem IS NOT NULL), 0.0001) AS freq) f),
pairs AS (
  SELECT string_agg('(' || ${quoted('a.lexeme')} || ' & ' || ${quoted('b.lexeme')} || ')', ' | ')::tsquery AS q
  FROM terms a JOIN terms b ON a.lexeme < b.lexeme),
candidates AS (
  (SELECT c.item_id, c.search_vector FROM memory_chunks c JOIN memory_items i ON i.id = c.item_id, pairs p
   WHERE p.q IS NOT NULL AND c.search_vector @@ p.q AND ${filters} LIMIT ${options.cap})
  UNION ALL
  (SELECT c.item_id, c.search_vector FROM memory_chunks c JOIN memory_items i ON i.id = c.item_id, weights w
   WHERE w.rarity = 1 AND c.search_vector @@ w.q AND ${filters} LIMIT ${options.rarestCap})),
postings AS (SELECT DISTINCT w.lexeme, c.item_id FROM candidates c JOIN weights w ON c.search_vector @@ w.q),
text_scores AS (
  SELECT p.item_id, sum(w.idf) AS score FROM postings p JOIN weights w USING (lexeme) GROUP BY p.item_id),
text_hits AS`;
    return { sql: statement.sql.replace(whole, replacement), values: statement.values };
  };
}

export const VARIANTS: Record<string, Variant> = {
  'text-pairs': textPairs({ cap: 2000, rarestCap: 300 }),
  'text-pairs-1000-100': textPairs({ cap: 1000, rarestCap: 100 }),
  'postings-cap-rows': capRowsFirst(),
  'postings-cap-rows-500': capRowsFirst(500),
  'postings-no-item-join': noItemJoin,
  'person-equality': personEquality,
  'person-equality+cap-rows': (statement) => capRowsFirst()(personEquality(statement)),
};
