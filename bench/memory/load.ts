import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import type { Database } from '../../src/db/database.ts';
import { makeCurrent } from '../../src/memory/embedding-index.ts';
import { round } from '../support/latency.ts';
import type { Batch, Corpus } from './corpus.ts';

/**
 * Filling the memory tables in bulk and building the model's HNSW index afterwards.
 *
 * The model is made current on the empty tables (makeCurrent registers it and creates its
 * partial HNSW index, exactly as the service does); that index is then dropped and, once every
 * row is in, recreated from its own definition (pg_indexes.indexdef), so the build is timed on its
 * own and the loading is not slowed by inserting into a graph. Everything else (primary keys, the
 * GIN full-text index, the btree indexes, the foreign keys, the generated search_vector) is in
 * place during the load, as in a live database.
 */
export interface LoadFigures {
  chunks: number;
  items: number;
  seconds: number;
  chunksPerSecond: number;
  /**
   * Time the loader waited for the database with the next batch ready. Near `seconds`: the
   * database sets the rate; near 0: generating the rows in Node does, and the rate is a floor.
   */
  waitingForDatabaseSeconds: number;
  /** VACUUM ANALYZE of the three tables after the load (not part of the rate). */
  vacuumAnalyzeSeconds: number;
}

export interface IndexBuildFigures {
  seconds: number;
  indexName: string;
  definition: string;
  settings: Record<string, string>;
  /** NOTICEs the build raised (pgvector says when the graph outgrows maintenance_work_mem). */
  notices: string[];
  indexMb: number;
}

export async function prepareModel(database: Pick<Database, 'pool'>, model: string, dimensions: number): Promise<{ indexName: string; definition: string }> {
  const { indexed } = await makeCurrent(database.pool, model, dimensions);
  if (!indexed.indexName) throw new Error(`${model} has no HNSW index at ${dimensions} dimensions`);
  const found = await database.pool.query<{ indexdef: string }>('SELECT indexdef FROM pg_indexes WHERE indexname = $1', [indexed.indexName]);
  const definition = found.rows[0]?.indexdef;
  if (!definition) throw new Error(`makeCurrent did not create ${indexed.indexName}`);
  await database.pool.query(`DROP INDEX ${indexed.indexName}`);
  return { indexName: indexed.indexName, definition };
}

const INSERT_BATCH = `
  WITH items AS (
    INSERT INTO memory_items (id, kind, title, content, source_type, source_ref, author, occurred_at, scope, counterparty, content_hash)
    SELECT id, kind, title, content, source_type, source_ref, author, occurred_at, 'team', counterparty, content_hash
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::text[], $10::text[])
      AS t(id, kind, title, content, source_type, source_ref, author, occurred_at, counterparty, content_hash)),
  chunks AS (
    INSERT INTO memory_chunks (id, item_id, position, text, needs_embedding, scope, kind, occurred_at, counterparty, author)
    SELECT c.id, c.item_id, c.position, c.text, false, 'team', i.kind, i.occurred_at, i.counterparty, lower(i.author)
    FROM unnest($11::uuid[], $12::uuid[], $13::int[], $14::text[]) AS c(id, item_id, position, text)
    JOIN unnest($1::uuid[], $2::text[], $7::text[], $8::timestamptz[], $9::text[]) AS i(id, kind, author, occurred_at, counterparty) ON i.id = c.item_id)
  INSERT INTO memory_embeddings (chunk_id, model, embedding)
  SELECT id, $16, embedding::vector FROM unnest($11::uuid[], $15::text[]) AS t(id, embedding)`;

function batchValues(batch: Batch, model: string): unknown[] {
  const { items, chunks } = batch;
  return [
    items.ids,
    items.kinds,
    items.titles,
    items.contents,
    items.sourceTypes,
    items.sourceRefs,
    items.authors,
    items.occurredAt,
    items.counterparties,
    items.contentHashes,
    chunks.ids,
    chunks.itemIds,
    chunks.positions,
    chunks.texts,
    chunks.vectors,
    model,
  ];
}

/**
 * One statement per batch (items, chunks and vectors together, as unnest()ed arrays), with the
 * next batch generated while the previous one is in flight: Node makes rows on one core while
 * PostgreSQL parses and indexes them on the other.
 */
export async function loadCorpus(options: { database: Pick<Database, 'pool'>; corpus: Corpus; model: string; batchChunks: number; label: string; progressEveryMs?: number }): Promise<LoadFigures> {
  const { database, corpus, model, label } = options;
  const total = corpus.options.chunks;
  const started = performance.now();
  let loaded = 0;
  let items = 0;
  let lastReport = started;
  let inFlight: Promise<unknown> = Promise.resolve();
  let waiting = 0;
  for await (const batch of corpus.batches(options.batchChunks)) {
    const waitStarted = performance.now();
    await inFlight;
    waiting += performance.now() - waitStarted;
    const size = batch.chunks.ids.length;
    const itemCount = batch.items.ids.length;
    inFlight = database.pool.query(INSERT_BATCH, batchValues(batch, model)).then(() => {
      loaded += size;
      items += itemCount;
      const now = performance.now();
      if (now - lastReport >= (options.progressEveryMs ?? 10_000) || loaded === total) {
        lastReport = now;
        const seconds = (now - started) / 1000;
        console.log(`[memory] ${label}: loaded ${loaded.toLocaleString('en')} / ${total.toLocaleString('en')} chunks (${items.toLocaleString('en')} items) in ${seconds.toFixed(0)} s, ${Math.round(loaded / seconds)} chunks/s`);
      }
    });
  }
  const lastWait = performance.now();
  await inFlight;
  waiting += performance.now() - lastWait;
  const seconds = (performance.now() - started) / 1000;

  const vacuumStarted = performance.now();
  for (const table of ['memory_items', 'memory_chunks', 'memory_embeddings']) await database.pool.query(`VACUUM ANALYZE ${table}`);
  const vacuumAnalyzeSeconds = (performance.now() - vacuumStarted) / 1000;
  return {
    chunks: loaded,
    items,
    seconds: round(seconds, 1),
    chunksPerSecond: Math.round(loaded / seconds),
    waitingForDatabaseSeconds: round(waiting / 1000, 1),
    vacuumAnalyzeSeconds: round(vacuumAnalyzeSeconds, 1),
  };
}

/**
 * CREATE INDEX from the definition makeCurrent used, on one session with the build settings.
 * PostgreSQL's progress view is polled from another session to print how far the build is;
 * PGlite runs the build on this thread, so there it is silent until done.
 */
export async function buildIndex(options: {
  database: Pick<Database, 'pool' | 'kind'>;
  indexName: string;
  definition: string;
  settings: Record<string, string>;
  label: string;
}): Promise<IndexBuildFigures> {
  const { database, indexName, definition, settings, label } = options;
  const client = await database.pool.connect();
  const notices: string[] = [];
  const onNotice = (notice: { message?: string }) => notices.push(notice.message ?? String(notice));
  client.on('notice', onNotice);
  let poller: NodeJS.Timeout | null = null;
  try {
    for (const [name, value] of Object.entries(settings)) await client.query(`SELECT set_config($1, $2, false)`, [name, value]);
    const effective: Record<string, string> = {};
    for (const name of Object.keys(settings)) effective[name] = (await client.query<{ value: string }>('SELECT current_setting($1) AS value', [name])).rows[0]?.value ?? '?';
    const started = performance.now();
    if (database.kind === 'postgres') {
      console.log(`[memory] ${label}: building ${indexName} (${Object.entries(effective).map(([name, value]) => `${name}=${value}`).join(', ')})`);
      poller = setInterval(() => {
        database.pool
          .query<{ phase: string; tuples_done: string; tuples_total: string }>('SELECT phase, tuples_done, tuples_total FROM pg_stat_progress_create_index WHERE relid = $1::regclass', ['memory_embeddings'])
          .then((result) => {
            const row = result.rows[0];
            const seconds = ((performance.now() - started) / 1000).toFixed(0);
            if (row) console.log(`[memory] ${label}: index build ${seconds} s: ${row.phase}, ${Number(row.tuples_done).toLocaleString('en')} tuples${Number(row.tuples_total) > 0 ? ` of ${Number(row.tuples_total).toLocaleString('en')}` : ''}`);
          })
          .catch(() => undefined);
      }, 30_000);
    } else {
      console.log(`[memory] ${label}: building ${indexName} in PGlite (no progress until it finishes)`);
    }
    await client.query(definition);
    const seconds = (performance.now() - started) / 1000;
    for (const name of Object.keys(settings)) if (/^[a-z_.]+$/.test(name)) await client.query(`RESET ${name}`);
    const size = await client.query<{ bytes: string }>('SELECT pg_relation_size($1::regclass) AS bytes', [indexName]);
    console.log(`[memory] ${label}: index built in ${seconds.toFixed(1)} s`);
    return { seconds: round(seconds, 1), indexName, definition, settings: effective, notices, indexMb: Math.round(Number(size.rows[0]?.bytes ?? 0) / 1024 / 1024) };
  } finally {
    if (poller) clearInterval(poller);
    client.off('notice', onNotice);
    client.release();
  }
}

export async function tableSizesMb(pool: Pick<pg.Pool, 'query'>): Promise<Record<string, number>> {
  const result = await pool.query<{ name: string; bytes: string }>(
    `SELECT relname AS name, pg_total_relation_size(oid) AS bytes FROM pg_class WHERE relname IN ('memory_items', 'memory_chunks', 'memory_embeddings') ORDER BY relname`,
  );
  return Object.fromEntries(result.rows.map((row) => [row.name, Math.round(Number(row.bytes) / 1024 / 1024)]));
}
