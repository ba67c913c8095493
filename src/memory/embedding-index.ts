/**
 * Which embedding model's vectors search may use, and their index.
 *
 * Vectors of every model live in one table with an untyped `vector` column. Each model gets a
 * partial HNSW index on `embedding::vector(<its dimension>)` restricted to `model = '<name>'`:
 * models of different dimensions coexist, an index serves only the model it was built for, and
 * a model change fills the new model's (initially empty) index while the old one still exists.
 * The planner uses a partial index only when the query repeats its predicate literally, so the
 * model name is written into the SQL as a literal: it comes from configuration and is checked
 * against a strict pattern first.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { AdjutantError } from '../errors.ts';

/** pgvector's HNSW limit for `vector`; larger models are stored and searched by exact scan. */
const MAX_INDEXED_DIMENSIONS = 2000;
/**
 * The graph's build settings. pgvector's defaults (m = 16, ef_construction = 64) leave part of a
 * clustered memory (threads, templated mail: many near-copies per topic) all but unreachable: on
 * the bench's 1M-chunk corpus 6 % of chunks are not found even by their own vector, and recall@10
 * stays at 0.90 at ef_search 100 (0.93 at 400). A wider candidate list while linking
 * (ef_construction 128) finds those links: recall@10 0.97 at ef_search 100, 0.99 at 400 (0.93
 * → 0.98 at 100k), for about twice the build time and the same index size
 * (bench/memory/hnsw-sweep.ts, 200 queries; the memory bench's own 100 give 0.936 at 100 and
 * 0.956 at 200, the service's setting in db/database.ts). m = 24 as well gained under 0.01 at 1M; m stays 16 also because an
 * existing graph keeps its m until rebuilt, while ef_construction applies to every later insert.
 * Inserts read ef_construction from the index's options, so changing it here needs a migration
 * that sets it on existing indexes (ALTER INDEX … SET) and rebuilds them.
 */
export const HNSW_BUILD_OPTIONS = 'm = 16, ef_construction = 128';
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$/;

export interface IndexedModel {
  model: string;
  dimensions: number;
  /** null: too many dimensions for HNSW; search scans exactly. */
  indexName: string | null;
}

/** The SQL pieces a query over one model's vectors needs. */
export interface ModelSql {
  /** `e.model = '<name>'`, literal, so the partial index applies. */
  predicate(alias: string): string;
  /** `<alias>.embedding::vector(N)`, the indexed expression. */
  column(alias: string): string;
  /** `$n::vector(N)` for a parameter placeholder. */
  cast(placeholder: string): string;
}

export function modelSql(model: IndexedModel): ModelSql {
  const literal = modelLiteral(model.model);
  const dims = model.dimensions;
  return {
    predicate: (alias) => `${alias}.model = ${literal}`,
    column: (alias) => `${alias}.embedding::vector(${dims})`,
    cast: (placeholder) => `${placeholder}::vector(${dims})`,
  };
}

export function modelLiteral(model: string): string {
  if (!MODEL_NAME.test(model)) {
    throw new AdjutantError('CONFIG_INVALID', `embedding model name '${model}' is not usable: expected letters, digits and . _ : / @ + - (OLLAMA_EMBED_MODEL)`);
  }
  return `'${model.replace(/'/g, "''")}'`;
}

function indexNameFor(model: string): string {
  return `memory_embeddings_hnsw_${createHash('sha256').update(model).digest('hex').slice(0, 16)}`;
}

/** A name read back from the registry goes into DDL: only names this module makes pass. */
function ownIndexName(name: string): string {
  if (!/^memory_embeddings_hnsw_[0-9a-f]{16}$/.test(name)) throw new AdjutantError('CONFLICT', `unexpected index name in embedding_models: ${name}`);
  return name;
}

/** The registered model, when it has vectors search can use. */
export async function readModel(pool: Pick<pg.Pool, 'query'>, model: string): Promise<(IndexedModel & { current: boolean }) | null> {
  const result = await pool.query<{ model: string; dimensions: number; index_name: string | null; is_current: boolean }>(
    'SELECT model, dimensions, index_name, is_current FROM embedding_models WHERE model = $1',
    [model],
  );
  const row = result.rows[0];
  return row ? { model: row.model, dimensions: row.dimensions, indexName: row.index_name, current: row.is_current } : null;
}

/**
 * Makes `model` the current one: registers it with its dimension, creates its index, and when it
 * was not current before flags every chunk that lacks its vector, so the backfill re-embeds them.
 * Returns whether the current model changed. A model that now answers with another dimension
 * (re-pulled under the same name) loses its old vectors.
 */
export async function makeCurrent(pool: pg.Pool, model: string, dimensions: number): Promise<{ changed: boolean; indexed: IndexedModel }> {
  const literal = modelLiteral(model);
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > 16000) {
    throw new AdjutantError('MODEL_OUTPUT_INVALID', `embedding model '${model}' returned vectors of ${dimensions} dimensions`);
  }
  const indexName = dimensions <= MAX_INDEXED_DIMENSIONS ? indexNameFor(model) : null;
  const existing = await pool.query<{ dimensions: number; index_name: string | null; is_current: boolean }>(
    'SELECT dimensions, index_name, is_current FROM embedding_models WHERE model = $1',
    [model],
  );
  const row = existing.rows[0];
  if (row && row.is_current && row.dimensions === dimensions && row.index_name === indexName) {
    return { changed: false, indexed: { model, dimensions, indexName } };
  }
  if (row && row.dimensions !== dimensions) {
    await pool.query('DELETE FROM memory_embeddings WHERE model = $1', [model]);
    if (row.index_name) await pool.query(`DROP INDEX IF EXISTS ${ownIndexName(row.index_name)}`);
  }
  await pool.query(
    `INSERT INTO embedding_models (model, dimensions) VALUES ($1, $2)
     ON CONFLICT (model) DO UPDATE SET dimensions = EXCLUDED.dimensions`,
    [model, dimensions],
  );
  if (indexName) {
    // IF NOT EXISTS: two replicas starting together both get here; the index is the same.
    await pool.query(
      `CREATE INDEX IF NOT EXISTS ${indexName} ON memory_embeddings USING hnsw ((embedding::vector(${dimensions})) vector_cosine_ops) WITH (${HNSW_BUILD_OPTIONS}) WHERE model = ${literal}`,
    );
  }
  // The flag moves in two steps (the unique index admits one current model at any moment); a
  // crash between them leaves no current model, which the next start repairs.
  await pool.query('UPDATE embedding_models SET is_current = false WHERE is_current AND model <> $1', [model]);
  // One statement: the model becomes current and every chunk's need is recomputed together.
  await pool.query(
    `WITH made AS (UPDATE embedding_models SET is_current = true, index_name = $2, became_current_at = now() WHERE model = $1 RETURNING 1)
     UPDATE memory_chunks c SET needs_embedding = NOT EXISTS (SELECT 1 FROM memory_embeddings e WHERE e.chunk_id = c.id AND e.model = $1)`,
    [model, indexName],
  );
  return { changed: true, indexed: { model, dimensions, indexName } };
}

/** Once the current model has every vector: the others' vectors and indexes are dropped. */
export async function retireOtherModels(pool: pg.Pool, current: string): Promise<string[]> {
  const others = await pool.query<{ model: string; index_name: string | null }>(
    'SELECT model, index_name FROM embedding_models WHERE model <> $1',
    [current],
  );
  for (const other of others.rows) {
    if (other.index_name) await pool.query(`DROP INDEX IF EXISTS ${ownIndexName(other.index_name)}`);
    // The vectors go with the model row (ON DELETE CASCADE).
    await pool.query('DELETE FROM embedding_models WHERE model = $1', [other.model]);
  }
  return others.rows.map((other) => other.model);
}
