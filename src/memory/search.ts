/**
 * Hybrid search: a full-text half and a meaning half, each taking its best items under the same
 * filters in its own statement (the two run at once), then fused by weighted reciprocal rank in a
 * third that also makes the snippets.
 *
 * Text: the question's normalised words (PostgreSQL's english configuration, stop words gone)
 * find candidate passages through the GIN index; an item scores the sum of the inverse document
 * frequencies (as in BM25) of the words its candidates contain, so a rare word (an invoice
 * number, a supplier's name) outweighs common ones and a question phrased as a sentence still
 * matches. The work is bounded however large the memory grows: a rare word brings its passages, but
 * frequent words (told apart by the planner's word statistics) bring only the passages holding
 * two of them. Filters read the item's values copied onto each passage, so neither half looks
 * items up until the final few.
 * The user's text reaches PostgreSQL only as a bound parameter, split into words by
 * to_tsvector and websearch_to_tsquery, which accept any input: quotes, colons, backslashes and
 * SQL are words, never syntax.
 *
 * Meaning: the current embedding model's HNSW index (cosine). Filtered vector queries rely on
 * pgvector's iterative index scans (hnsw.iterative_scan, set per connection in db/database.ts)
 * to still return enough rows when the filter drops many.
 *
 * Fusion: score = Σ confidence / (k + rank). Each half's confidence in this question (the share
 * of the question's word weight its best item covers; its best passage's cosine similarity)
 * scales its votes, and a small k lets one half's clear first answer stand against items both
 * halves only half agree on. Measured on the search-quality corpus (test/search-quality.test.ts)
 * against plain RRF (k = 60): 25 against 20 of 32 questions answered in the top 5, and 24
 * against 23 of 30 held-out questions not used to choose these settings. With the near-copy rule
 * below and the embedder's whitespace fix: 27 of 32 and 28 of 30; k, the candidate count and
 * the distance cut-off sit on a plateau there. Rare words also matched as prefixes: 27 of 32 and
 * 29 of 30, the same on every load since ties in the text half go newer first (they went by
 * random item id, and the tuning figure moved between 27 and 28).
 */
import { createHash } from 'node:crypto';
import pgvector from 'pgvector';
import type pg from 'pg';
import { modelSql, type IndexedModel } from './embedding-index.ts';
import { scopeKey } from './items.ts';
import type { ItemKind, SearchHit, SearchQuery, SourceType } from './types.ts';

/** RRF's k (60 in the original paper): smaller lets a half's first answers count for more. */
const RRF_K = 10;
/** Cosine distance beyond which a passage is unrelated to the question (similarity under 0.2). */
const MAX_MEANING_DISTANCE = 0.8;
/** Candidates each half contributes before fusion. */
const CANDIDATES = 40;
/**
 * Near-duplicates (templated mail: order confirmations, remittances, dispatch notes) would fill
 * the first places with one answer in many copies. Among the fused top REPEAT_WINDOW, an item whose
 * first passage is closer than REPEAT_SIMILARITY (cosine) to REPEAT_ALLOWED higher-scored items'
 * goes after the others: a second copy stays, a third waits.
 */
const REPEAT_WINDOW = 20;
const REPEAT_SIMILARITY = 0.9;
const REPEAT_ALLOWED = 2;
/**
 * Bounds on the text half's work, which must not grow with the memory (`npm run bench -- memory`).
 * A word in more than FREQUENT_PASSAGES passages is frequent: its passages are not fetched one by
 * one; the PAIR_CAP passages holding two frequent words are (pairs among the PAIRED_WORDS least
 * frequent). Any other word brings up to WORD_CAP passages.
 */
const FREQUENT_PASSAGES = 1000;
const WORD_CAP = 300;
const PAIRED_WORDS = 6;
const PAIR_CAP = 300;
const FALLBACK_CAP = 100;
/** The smallest memory the word weights assume: in a small one every word counts as rare. */
const MIN_PASSAGES = 1000;
export const MAX_LIMIT = 50;

export interface SearchPlan {
  query: SearchQuery;
  /** The current model and the query's vector: null for a text-only search. */
  meaning: { model: IndexedModel; vector: number[] } | null;
  /** false: the text half is left out (to measure the meaning half alone). */
  text: boolean;
}

interface Row {
  item_id: string;
  kind: string;
  title: string;
  source_type: string;
  source_ref: string;
  url: string | null;
  author: string | null;
  occurred_at: Date | null;
  counterparty: string | null;
  superseded_by: string | null;
  score: number;
  by_text: boolean;
  by_meaning: boolean;
  snippet: string;
}

/**
 * The query's words joined by `or`, in websearch syntax. Only letters, digits and the characters
 * that occur inside identifiers (addresses, invoice numbers) survive, and no word starts with the
 * `-` that would negate it.
 */
export function anyWordQuery(text: string): string {
  return text
    .replace(QUOTE_MARKS, ' ')
    .split(/[^\p{L}\p{N}@._-]+/u)
    // A word after a minus is one to leave out (webSearchSyntax), not one to look for.
    .filter((word) => !/^-\p{L}/u.test(word))
    .map((word) => word.replace(/^[-._]+/, ''))
    .filter((word) => word !== '' && word.toLowerCase() !== 'or')
    .slice(0, 64)
    .join(' or ');
}

const QUOTE_MARKS = /["“”„]/g;

/**
 * The web-search syntax a person may type, as search engines take it: "a quoted phrase" must
 * appear as written, and a word after a minus (-oak) must not appear at all. The rest of the
 * question is matched word by word as usual. Both parts reach PostgreSQL's
 * websearch_to_tsquery as bound data, which parses any text without error (an unbalanced quote
 * or a stray minus is just a word).
 */
export function webSearchSyntax(text: string): { phrases: string[]; excluded: string[] } {
  const phrases = [...text.matchAll(/["“”„]([^"“”„]+)["“”„]/g)].map((match) => (match[1] ?? '').trim()).filter((phrase) => /[\p{L}\p{N}]/u.test(phrase));
  const outside = text.replace(/["“”„][^"“”„]*["“”„]/g, ' ');
  const excluded = [...outside.matchAll(/(?:^|\s)-(\p{L}[\p{L}\p{N}@._-]*)/gu)].map((match) => match[1] ?? '');
  return { phrases, excluded };
}

/** A passage this short is shown whole in its snippet. */
const SHORT_PASSAGE_CHARS = 300;

/**
 * Chunks begin with their item's title (so it is searchable); the hit shows the title already.
 * The snippet's copy may carry highlight marks on the title's words.
 */
function withoutTitle(snippet: string, title: string): string {
  const trimmed = snippet.trimStart();
  if (title === '') return trimmed;
  let at = 0;
  let matched = 0;
  while (at < trimmed.length && matched < title.length) {
    const character = trimmed[at];
    if (character === '«' || character === '»') at += 1;
    else if (character === title[matched]) {
      at += 1;
      matched += 1;
    } else return trimmed;
  }
  while (trimmed[at] === '»') at += 1;
  // "wifi password: oak-1234" under the title "wifi password": the rest, without its colon.
  return trimmed.slice(at).replace(/^\s*[:–—-]\s*/, '').trimStart();
}

/** One statement's text and its bound values, each placeholder numbered as it is added. */
function statement() {
  const values: unknown[] = [];
  return { values, param: (value: unknown) => `$${values.push(value)}` };
}

/** Filters on the passages' copies of their item's values (a deleted item has no passages left). */
function passageFilters(query: SearchQuery, param: (value: unknown) => string): string {
  const filters: string[] = [query.askedIn ? `c.scope IN ('team', ${param(scopeKey({ kind: 'channel', channel: query.askedIn.channel }))})` : `c.scope = 'team'`];
  if (!query.includeHistory) filters.push('NOT c.superseded');
  if (query.kinds && query.kinds.length > 0) filters.push(`c.kind = ANY(${param(query.kinds)}::text[])`);
  if (query.after) filters.push(`c.occurred_at >= ${param(query.after)}`);
  if (query.before) filters.push(`c.occurred_at < ${param(query.before)}`);
  // Phrases and left-out words hold for the whole item: a phrase in any of its passages, a
  // left-out word in none (an item's other passage could hold it). A phrase of stop words only
  // parses to an empty query, which would match nothing: it is ignored, as the search engines do.
  const { phrases, excluded } = webSearchSyntax(query.text);
  if (phrases.length > 0) {
    const phrase = `websearch_to_tsquery('english', ${param(phrases.map((text) => `"${text}"`).join(' '))})`;
    filters.push(`(numnode(${phrase}) = 0 OR EXISTS (SELECT 1 FROM memory_chunks x WHERE x.item_id = c.item_id AND x.search_vector @@ ${phrase}))`);
  }
  if (excluded.length > 0) {
    filters.push(`NOT EXISTS (SELECT 1 FROM memory_chunks x WHERE x.item_id = c.item_id AND x.search_vector @@ websearch_to_tsquery('english', ${param(excluded.join(' or '))}))`);
  }
  if (query.person && query.person.trim() !== '') {
    const person = query.person.trim().toLowerCase();
    if (person.includes('@')) {
      // An address: that counterparty's or author's passages, found through their indexes.
      const address = param(person);
      filters.push(`(c.counterparty = ${address} OR c.author = ${address})`);
    } else {
      // Part of a name or a domain: matched anywhere in either (no index serves it).
      const like = param(`%${person.replace(/[\\%_]/g, (character) => `\\${character}`)}%`);
      filters.push(`(c.author LIKE ${like} OR c.counterparty LIKE ${like})`);
    }
  }
  return filters.join(' AND ');
}

/** A half's vote for an item: its rank there, and the half's confidence in this question. */
interface Vote {
  item_id: string;
  rank: string;
  weight: number;
}

/**
 * Statements are named (prepared once per connection: parsing and analysis are not repeated).
 * PostgreSQL still plans each run for its values (pg_prepared_statements shows custom plans only:
 * about 2 ms at 100k passages); a generic plan measured about 1 ms faster at p95, but rare_hits and
 * pair_hits take rows under a LIMIT with no ORDER BY, so a different plan may pick different
 * passages: forcing one needs the search-quality tests' say.
 */
function run<R extends pg.QueryResultRow>(pool: Pick<pg.Pool, 'query'>, text: string, values: unknown[]) {
  return pool.query<R>({ name: `memory_search_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text, values });
}

/** The text half: its best items by the weight of the question words they hold. */
async function textVotes(pool: Pick<pg.Pool, 'query'>, query: SearchQuery): Promise<Vote[]> {
  const { values, param } = statement();
  const where = passageFilters(query, param);
  const anyWord = param(anyWordQuery(query.text));
  const sql = `WITH
      -- Passages now: the count at the last ANALYZE scaled by how the table grew since (as the
      -- planner estimates it), since the statistics can be old.
      total AS (
         SELECT greatest(CASE WHEN relpages > 0 THEN reltuples / relpages * (pg_relation_size(oid) / current_setting('block_size')::float8) ELSE reltuples END, ${MIN_PASSAGES})::float8 AS n
         FROM pg_class WHERE oid = 'memory_chunks'::regclass),
      -- The planner's statistics on the passages' words: ANALYZE keeps the share of passages
      -- holding each of the most common words; a word not kept is rarer than all of those (or
      -- the statistics are not there yet). Read once (MATERIALIZED): inlined, the pg_stats view
      -- and the conversion of its ~1,000 words to text[] ran again for every question word.
      common AS MATERIALIZED (
         SELECT most_common_elems::text::text[] AS words, most_common_elem_freqs AS shares FROM pg_stats
         WHERE schemaname = current_schema() AND tablename = 'memory_chunks' AND attname = 'search_vector'),
      -- The question's distinct normalised words (stop words gone), each made a one-word query,
      -- with its passages by the statistics (null: not among the common words). A rare word of
      -- three or more letters also matches as a prefix, for the forms and compounds its stem
      -- misses ('pay' finds payment and payable, 'metal' metalwork); a frequent word matches
      -- exactly, since its prefix would bring more passages still, and a shorter stem or one
      -- with digits ('us', an invoice number) would mostly find unrelated words. The quoting
      -- doubles quotes and backslashes, so a word is only ever a word. (OFFSET 0: the
      -- statistics are looked up once a word, not again for its query.)
      terms AS (
         SELECT w.lexeme, (w.quoted || CASE WHEN coalesce(w.passages, 0) <= ${FREQUENT_PASSAGES} AND w.lexeme ~ '^[[:alpha:]]{3,}$' THEN ':*' ELSE '' END)::tsquery AS q, w.passages
         FROM (SELECT w.lexeme, '''' || replace(replace(w.lexeme, '\\', '\\\\'), '''', '''''') || '''' AS quoted,
                      (SELECT s.shares[array_position(s.words, w.lexeme)] * (SELECT n FROM total) FROM common s) AS passages
               FROM (SELECT DISTINCT lexeme FROM unnest(tsvector_to_array(to_tsvector('english', ${anyWord}))) AS lexeme LIMIT 32) w OFFSET 0) w),
      -- Candidate passages, each set a bounded amount of work however large the memory grows:
      -- - a word in few passages brings them all (up to WORD_CAP);
      -- - frequent words bring the passages holding at least two of them, the only ones their
      --   small weights can lift to the top;
      -- - when those are too few (one frequent word, or frequent words never together), some
      --   passages of each frequent word.
      rare_hits AS (
         SELECT c.id, c.item_id, c.occurred_at, c.search_vector FROM terms t CROSS JOIN LATERAL (
           SELECT c.id, c.item_id, c.occurred_at, c.search_vector FROM memory_chunks c
           WHERE c.search_vector @@ t.q AND ${where} LIMIT ${WORD_CAP}) c
         WHERE coalesce(t.passages, 0) <= ${FREQUENT_PASSAGES}),
      frequent AS (
         SELECT q, row_number() OVER (ORDER BY passages, lexeme) AS r FROM terms WHERE passages > ${FREQUENT_PASSAGES}),
      pair_query AS (
         SELECT string_agg('(' || a.q::text || ' & ' || b.q::text || ')', ' | ')::tsquery AS q
         FROM frequent a JOIN frequent b ON a.r < b.r WHERE b.r <= ${PAIRED_WORDS}),
      pair_hits AS (
         SELECT c.id, c.item_id, c.occurred_at, c.search_vector FROM pair_query p, memory_chunks c
         WHERE p.q IS NOT NULL AND c.search_vector @@ p.q AND ${where} LIMIT ${PAIR_CAP}),
      fallback_hits AS (
         SELECT c.id, c.item_id, c.occurred_at, c.search_vector FROM frequent f CROSS JOIN LATERAL (
           SELECT c.id, c.item_id, c.occurred_at, c.search_vector FROM memory_chunks c
           WHERE c.search_vector @@ f.q AND ${where} LIMIT ${FALLBACK_CAP}) c
         WHERE (SELECT count(*) FROM rare_hits) + (SELECT count(*) FROM pair_hits) < ${CANDIDATES}),
      matches AS (
         SELECT DISTINCT c.id, c.item_id, c.occurred_at, t.lexeme
         FROM (SELECT * FROM rare_hits UNION ALL SELECT * FROM pair_hits UNION ALL SELECT * FROM fallback_hits) c
         JOIN terms t ON c.search_vector @@ t.q),
      -- Inverse document frequency as in BM25: a word in few passages says more than one in many.
      -- Its passages by the statistics, else the candidates holding it (all of them, for a rare word).
      weights AS (
         SELECT t.lexeme, ln(1 + (n.n - d.passages + 0.5) / (d.passages + 0.5)) AS idf
         FROM terms t CROSS JOIN total n CROSS JOIN LATERAL (
           SELECT least(greatest(t.passages, (SELECT count(*) FROM matches m WHERE m.lexeme = t.lexeme), 1), n.n) AS passages) d),
      -- An item scores the weight of every question word found in any of its candidate passages.
      text_scores AS (
         SELECT m.item_id, sum(w.idf) AS score, max(m.occurred_at) AS occurred_at
         FROM (SELECT DISTINCT item_id, occurred_at, lexeme FROM matches) m JOIN weights w USING (lexeme) GROUP BY m.item_id),
      -- Items holding the same words tie (common with short questions); the newer goes first, so
      -- which of them get a vote is the same on every load (item ids are random).
      text_hits AS (
         SELECT item_id, row_number() OVER (ORDER BY score DESC, occurred_at DESC NULLS LAST, item_id) AS rank FROM text_scores
         ORDER BY score DESC, occurred_at DESC NULLS LAST, item_id LIMIT ${param(CANDIDATES)})
    -- The half's confidence in this question: how much of the question's word weight its best item covers.
    SELECT item_id::text, rank, coalesce((SELECT max(score) FROM text_scores) / nullif((SELECT sum(idf) FROM weights), 0), 0)::float8 AS weight FROM text_hits`;
  return (await run<Vote>(pool, sql, values)).rows;
}

/** The meaning half: the items of the passages nearest the question's vector. */
async function meaningVotes(pool: Pick<pg.Pool, 'query'>, query: SearchQuery, meaning: NonNullable<SearchPlan['meaning']>): Promise<Vote[]> {
  const { values, param } = statement();
  const where = passageFilters(query, param);
  const model = modelSql(meaning.model);
  const vector = model.cast(param(pgvector.toSql(meaning.vector)));
  const sql = `WITH
      meaning_chunks AS (
         SELECT c.item_id, ${model.column('e')} <=> ${vector} AS d
         FROM memory_embeddings e JOIN memory_chunks c ON c.id = e.chunk_id
         WHERE ${model.predicate('e')} AND ${where}
         ORDER BY ${model.column('e')} <=> ${vector} LIMIT ${param(CANDIDATES * 2)}),
      meaning_hits AS (
         SELECT item_id, row_number() OVER (ORDER BY min(d)) AS rank FROM meaning_chunks
         WHERE d <= ${MAX_MEANING_DISTANCE}
         GROUP BY item_id ORDER BY min(d) LIMIT ${param(CANDIDATES)})
    -- The half's confidence: how close its best passage is (cosine similarity).
    SELECT item_id::text, rank, (1 - (SELECT min(d) FROM meaning_chunks))::float8 AS weight FROM meaning_hits`;
  return (await run<Vote>(pool, sql, values)).rows;
}

export async function hybridSearch(pool: Pick<pg.Pool, 'query'>, plan: SearchPlan): Promise<SearchHit[]> {
  const { query, meaning } = plan;
  const limit = Math.min(Math.max(1, Math.trunc(query.limit ?? 10)), MAX_LIMIT);
  // The halves are separate statements run at once, each on its own connection when the pool has
  // two (PostgreSQL plans and runs them in two backends), so a search takes about the slower
  // half's time rather than both; the fusion and snippets follow in a third statement.
  const [textHits, meaningHits] = await Promise.all([
    plan.text ? textVotes(pool, query) : [],
    meaning ? meaningVotes(pool, query, meaning) : [],
  ]);
  const votes = [...textHits.map((vote) => ({ ...vote, half: 'text' })), ...meaningHits.map((vote) => ({ ...vote, half: 'meaning' }))];
  if (votes.length === 0) return [];

  const { values, param } = statement();
  const ctes: string[] = [
    `any_word AS (SELECT websearch_to_tsquery('english', ${param(anyWordQuery(query.text))}) AS q)`,
    `votes AS (
       SELECT * FROM unnest(${param(votes.map((vote) => vote.item_id))}::uuid[], ${param(votes.map((vote) => vote.rank))}::int8[],
                            ${param(votes.map((vote) => vote.half))}::text[], ${param(votes.map((vote) => vote.weight))}::float8[]) AS v(item_id, rank, half, weight))`,
    `fused AS (
       SELECT item_id, sum(weight / (${RRF_K} + rank))::float8 AS score, bool_or(half = 'text') AS by_text, bool_or(half = 'meaning') AS by_meaning
       FROM votes GROUP BY item_id ORDER BY score DESC, item_id LIMIT ${param(meaning ? Math.max(limit, REPEAT_WINDOW) : limit)})`,
  ];
  if (meaning) {
    // Each fused item's first passage vector (by the item's first chunk, then that chunk's vector:
    // two index lookups an item), and whether enough higher-scored items are near-copies of it.
    const model = modelSql(meaning.model);
    ctes.push(
      `fused_vectors AS (
         SELECT f.*, (SELECT ${model.column('e')} FROM memory_embeddings e WHERE ${model.predicate('e')}
                      AND e.chunk_id = (SELECT c.id FROM memory_chunks c WHERE c.item_id = f.item_id ORDER BY c.position LIMIT 1)) AS v
         FROM fused f)`,
      `ranked AS (
         SELECT f.item_id, f.score, f.by_text, f.by_meaning,
                (SELECT count(*) FROM fused_vectors g
                 WHERE (g.score, g.item_id) > (f.score, f.item_id) AND (g.v <=> f.v) < ${1 - REPEAT_SIMILARITY}) >= ${REPEAT_ALLOWED} AS repeat
         FROM fused_vectors f)`,
      // The answer's items, chosen before their snippets are made.
      `chosen AS (
         SELECT r.* FROM ranked r JOIN memory_items i ON i.id = r.item_id
         ORDER BY (i.superseded_by IS NULL) DESC, r.repeat, r.score DESC, i.occurred_at DESC NULLS LAST LIMIT ${param(limit)})`,
    );
  }
  // The snippet: the item's best-matching chunk by text, highlighted (a short one whole: the
  // fragments of a short passage are just its matched words); else its first chunk.
  const sql = `WITH ${ctes.join(',\n')}
    SELECT i.id::text AS item_id, i.kind, i.title, i.source_type, i.source_ref, i.url, i.author, i.occurred_at, i.counterparty,
           i.superseded_by::text AS superseded_by, f.score, f.by_text, f.by_meaning,
           coalesce(
             (SELECT CASE WHEN length(c.text) <= ${SHORT_PASSAGE_CHARS} THEN ts_headline('english', c.text, a.q, 'StartSel=«, StopSel=», HighlightAll=true')
                     ELSE ts_headline('english', c.text, a.q, 'StartSel=«, StopSel=», MaxWords=35, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "') END
              FROM memory_chunks c, any_word a WHERE c.item_id = i.id AND c.search_vector @@ a.q
              ORDER BY ts_rank_cd(c.search_vector, a.q, 1) DESC LIMIT 1),
             (SELECT left(c.text, 280) FROM memory_chunks c WHERE c.item_id = i.id ORDER BY c.position LIMIT 1),
             left(i.content, 280)) AS snippet
    FROM ${meaning ? 'chosen' : 'fused'} f JOIN memory_items i ON i.id = f.item_id
    ORDER BY (i.superseded_by IS NULL) DESC, ${meaning ? 'f.repeat, ' : ''}f.score DESC, i.occurred_at DESC NULLS LAST`;
  const result = await run<Row>(pool, sql, values);
  return result.rows.map((row) => ({
    itemId: row.item_id,
    kind: row.kind as ItemKind,
    title: row.title,
    sourceType: row.source_type as SourceType,
    sourceRef: row.source_ref,
    url: row.url,
    author: row.author,
    occurredAt: row.occurred_at,
    counterparty: row.counterparty,
    supersededBy: row.superseded_by,
    score: row.score,
    matchedBy: [...(row.by_text ? (['text'] as const) : []), ...(row.by_meaning ? (['meaning'] as const) : [])],
    snippet: withoutTitle(row.snippet, row.title),
  }));
}
