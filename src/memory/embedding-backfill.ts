/**
 * Gives every chunk a vector of the current model, in batches: new items, items stored while the
 * embedder was down, and everything again after a model change. A batch is embedded first and
 * written in one statement after, so an embedder that fails half-way leaves nothing half-written:
 * the same chunks are simply still waiting next time.
 */
import pgvector from 'pgvector';
import type pg from 'pg';
import type { Embedder } from '../brains/types.ts';
import { AdjutantError } from '../errors.ts';
import { makeCurrent, readModel, retireOtherModels } from './embedding-index.ts';

export interface BackfillProgress {
  model: string;
  embedded: number;
  /** Chunks still waiting after this batch. */
  remaining: number;
}

export interface EmbeddingBackfill {
  /** Embeds up to `batchSize` waiting chunks; `remaining` 0 means the current model covers everything. */
  runBatch(batchSize: number, signal?: AbortSignal): Promise<BackfillProgress>;
  /** Chunks without a vector of the current model. */
  pending(): Promise<number>;
}

export function createEmbeddingBackfill(deps: { pool: pg.Pool; embedder: Embedder }): EmbeddingBackfill {
  const { pool, embedder } = deps;
  let current: { dimensions: number } | null = null;

  async function pending(): Promise<number> {
    const result = await pool.query<{ count: string }>('SELECT count(*) FROM memory_chunks WHERE needs_embedding');
    return Number(result.rows[0]?.count ?? 0);
  }

  return {
    pending,
    async runBatch(batchSize, signal) {
      // Before choosing work, the configured model must be the current one: a change of model
      // flags every chunk again. Its dimension is known up front (built in), from the registry,
      // or from its answer to a probe (a server's model).
      if (!current) {
        const registered = await readModel(pool, embedder.model);
        const dimensions = embedder.dimensions ?? (registered?.current ? registered.dimensions : (await embedder.embed(['dimension probe'], signal ? { signal } : undefined))[0]?.length ?? 0);
        await makeCurrent(pool, embedder.model, dimensions);
        current = { dimensions };
      }
      const waiting = await pool.query<{ id: string; text: string }>(
        'SELECT id::text, text FROM memory_chunks WHERE needs_embedding ORDER BY created_at LIMIT $1',
        [batchSize],
      );
      if (waiting.rows.length === 0) {
        if (current) await retireOtherModels(pool, embedder.model);
        return { model: embedder.model, embedded: 0, remaining: 0 };
      }
      const vectors = await embedder.embed(
        waiting.rows.map((row) => row.text),
        signal ? { signal } : undefined,
      );
      if (vectors.length !== waiting.rows.length) {
        throw new AdjutantError('MODEL_OUTPUT_INVALID', `embedding model ${embedder.model} returned ${vectors.length} vectors for ${waiting.rows.length} texts`);
      }
      const dimensions = vectors[0]?.length ?? 0;
      if (vectors.some((vector) => vector.length !== dimensions || vector.some((value) => !Number.isFinite(value)))) {
        throw new AdjutantError('MODEL_OUTPUT_INVALID', `embedding model ${embedder.model} returned vectors of differing dimension or with non-numbers`);
      }
      if (dimensions !== current.dimensions) {
        // The model was replaced under the same name (re-pulled): its old vectors go, all wait again.
        await makeCurrent(pool, embedder.model, dimensions);
        current = { dimensions };
        return { model: embedder.model, embedded: 0, remaining: await pending() };
      }
      // One statement: the vectors and the flags that say they exist commit together. A chunk
      // deleted meanwhile (an edited or deleted Slack message) is skipped by the join.
      await pool.query(
        `WITH given AS (SELECT * FROM unnest($1::uuid[], $2::text[]) AS g(chunk_id, embedding)),
              stored AS (
                INSERT INTO memory_embeddings (chunk_id, model, embedding)
                SELECT given.chunk_id, $3, given.embedding::vector FROM given JOIN memory_chunks c ON c.id = given.chunk_id
                ON CONFLICT (chunk_id, model) DO UPDATE SET embedding = EXCLUDED.embedding
                RETURNING chunk_id)
         UPDATE memory_chunks SET needs_embedding = false WHERE id IN (SELECT chunk_id FROM stored)`,
        [waiting.rows.map((row) => row.id), vectors.map((vector) => pgvector.toSql(vector) as string), embedder.model],
      );
      return { model: embedder.model, embedded: waiting.rows.length, remaining: await pending() };
    },
  };
}
