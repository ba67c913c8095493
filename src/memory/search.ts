/**
 * Hybrid search in one SQL statement: PostgreSQL full text (websearch syntax, ranked) and the
 * current embedding model's HNSW index, each taking its best items under the same filters,
 * fused by reciprocal rank (score = Σ 1 / (60 + rank)).
 *
 * Full text first requires every word (precise); when that finds too few, items matching any
 * word join after them, so a question phrased in a sentence still has a text half. The user's
 * text only ever reaches PostgreSQL as a bound parameter parsed by websearch_to_tsquery, which
 * accepts any input: quotes, colons, backslashes and SQL are words, never syntax.
 *
 * Filtered vector queries rely on pgvector's iterative index scans (hnsw.iterative_scan, set per
 * connection in db/database.ts) to still return enough rows when the filter drops many.
 */
import pgvector from 'pgvector';
import type pg from 'pg';
import { modelSql, type IndexedModel } from './embedding-index.ts';
import { scopeKey } from './items.ts';
import type { ItemKind, SearchHit, SearchQuery, SourceType } from './types.ts';

/** RRF's k: dampens the difference between the top ranks (the value from the original paper). */
const RRF_K = 60;
/** Cosine distance beyond which a passage is unrelated to the question (similarity under 0.2). */
const MAX_MEANING_DISTANCE = 0.8;
/** Candidates each half contributes before fusion. */
const CANDIDATES = 40;
/** Items matching only some words are ranked from at most this many rows (bounds the cost of common words). */
const ANY_WORD_CAP = 4000;
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
    .split(/[^\p{L}\p{N}@._-]+/u)
    .map((word) => word.replace(/^[-._]+/, ''))
    .filter((word) => word !== '' && word.toLowerCase() !== 'or')
    .slice(0, 64)
    .join(' or ');
}

/** Chunks begin with their item's title (so it is searchable); the hit shows the title already. */
function withoutTitle(snippet: string, title: string): string {
  const trimmed = snippet.trimStart();
  return title !== '' && trimmed.startsWith(title) ? trimmed.slice(title.length).trimStart() : trimmed;
}

export async function hybridSearch(pool: Pick<pg.Pool, 'query'>, plan: SearchPlan): Promise<SearchHit[]> {
  const { query, meaning } = plan;
  const limit = Math.min(Math.max(1, Math.trunc(query.limit ?? 10)), MAX_LIMIT);
  const values: unknown[] = [];
  const param = (value: unknown) => `$${values.push(value)}`;

  const filters: string[] = ['i.deleted_at IS NULL'];
  filters.push(query.askedIn ? `i.scope IN ('team', ${param(scopeKey({ kind: 'channel', channel: query.askedIn.channel }))})` : `i.scope = 'team'`);
  if (!query.includeHistory) filters.push('i.superseded_by IS NULL');
  if (query.kinds && query.kinds.length > 0) filters.push(`i.kind = ANY(${param(query.kinds)}::text[])`);
  if (query.after) filters.push(`i.occurred_at >= ${param(query.after)}`);
  if (query.before) filters.push(`i.occurred_at < ${param(query.before)}`);
  if (query.person && query.person.trim() !== '') {
    const person = query.person.trim().toLowerCase();
    const like = `%${person.replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
    filters.push(`(i.counterparty = ${param(person)} OR lower(i.author) LIKE ${param(like)} OR i.counterparty LIKE ${param(like)})`);
  }
  const where = filters.join(' AND ');
  const text = param(query.text);
  const anyWord = param(anyWordQuery(query.text));
  const candidates = param(CANDIDATES);

  const halves: string[] = [];
  const ctes: string[] = [
    `every_word AS (SELECT websearch_to_tsquery('english', ${text}) AS q)`,
    `any_word AS (SELECT websearch_to_tsquery('english', ${anyWord}) AS q)`,
  ];
  if (plan.text) {
    ctes.push(
      `text_all AS (
         SELECT c.item_id, max(ts_rank_cd(c.search_vector, w.q, 1)) AS r
         FROM memory_chunks c JOIN memory_items i ON i.id = c.item_id, every_word w
         WHERE c.search_vector @@ w.q AND ${where}
         GROUP BY c.item_id ORDER BY r DESC LIMIT ${candidates})`,
      `text_some AS (
         SELECT m.item_id, max(ts_rank_cd(m.search_vector, a.q, 1)) AS r
         FROM (SELECT c.item_id, c.search_vector FROM memory_chunks c JOIN memory_items i ON i.id = c.item_id, any_word a
               WHERE c.search_vector @@ a.q AND ${where} LIMIT ${ANY_WORD_CAP}) m, any_word a
         WHERE (SELECT count(*) FROM text_all) < ${candidates} AND m.item_id NOT IN (SELECT item_id FROM text_all)
         GROUP BY m.item_id ORDER BY r DESC LIMIT ${candidates})`,
      `text_hits AS (
         SELECT item_id, row_number() OVER (ORDER BY tier, r DESC) AS rank
         FROM (SELECT item_id, r, 0 AS tier FROM text_all UNION ALL SELECT item_id, r, 1 AS tier FROM text_some) t)`,
    );
    halves.push(`SELECT item_id, rank, 'text' AS half FROM text_hits`);
  }
  if (meaning) {
    const sql = modelSql(meaning.model);
    const vector = sql.cast(param(pgvector.toSql(meaning.vector)));
    ctes.push(
      `meaning_chunks AS (
         SELECT c.item_id, ${sql.column('e')} <=> ${vector} AS d
         FROM memory_embeddings e JOIN memory_chunks c ON c.id = e.chunk_id JOIN memory_items i ON i.id = c.item_id
         WHERE ${sql.predicate('e')} AND ${where}
         ORDER BY ${sql.column('e')} <=> ${vector} LIMIT ${param(CANDIDATES * 2)})`,
      `meaning_hits AS (
         SELECT item_id, row_number() OVER (ORDER BY min(d)) AS rank FROM meaning_chunks WHERE d <= ${MAX_MEANING_DISTANCE}
         GROUP BY item_id ORDER BY min(d) LIMIT ${candidates})`,
    );
    halves.push(`SELECT item_id, rank, 'meaning' AS half FROM meaning_hits`);
  }
  if (halves.length === 0) return [];

  ctes.push(
    `fused AS (
       SELECT item_id, sum(1.0 / (${RRF_K} + rank))::float8 AS score, bool_or(half = 'text') AS by_text, bool_or(half = 'meaning') AS by_meaning
       FROM (${halves.join(' UNION ALL ')}) h GROUP BY item_id ORDER BY score DESC LIMIT ${param(limit)})`,
  );
  // The snippet: the item's best-matching chunk by text, highlighted; else its first chunk.
  const sql = `WITH ${ctes.join(',\n')}
    SELECT i.id::text AS item_id, i.kind, i.title, i.source_type, i.source_ref, i.url, i.author, i.occurred_at, i.counterparty,
           i.superseded_by::text AS superseded_by, f.score, f.by_text, f.by_meaning,
           coalesce(
             (SELECT ts_headline('english', c.text, a.q, 'StartSel=«, StopSel=», MaxWords=35, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "')
              FROM memory_chunks c, any_word a WHERE c.item_id = i.id AND c.search_vector @@ a.q
              ORDER BY ts_rank_cd(c.search_vector, a.q, 1) DESC LIMIT 1),
             (SELECT left(c.text, 280) FROM memory_chunks c WHERE c.item_id = i.id ORDER BY c.position LIMIT 1),
             left(i.content, 280)) AS snippet
    FROM fused f JOIN memory_items i ON i.id = f.item_id
    ORDER BY (i.superseded_by IS NULL) DESC, f.score DESC, i.occurred_at DESC NULLS LAST`;
  const result = await pool.query<Row>(sql, values);
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
