import { BUILTIN_EMBEDDING_DIMENSIONS, BUILTIN_EMBEDDING_MODEL } from '../../src/brains/builtin/builtin-embedder.ts';
import { createDatabase } from '../../src/db/database.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { Corpus } from '../memory/corpus.ts';
import { buildIndex, loadCorpus, prepareModel, type IndexBuildFigures, type LoadFigures } from '../memory/load.ts';
import { buildSettings } from '../memory/scenario.ts';

/**
 * Team memory for the asks to search: the memory benchmark's generated corpus (clustered
 * 512-dimensional vectors stored for the built-in embedder, Zipf-distributed words, scope team),
 * bulk-loaded with its loader and the HNSW index built after, in the database the service will
 * then open. Returns questions drawn from the corpus's own words, so full-text search finds hits.
 */
export async function seedMemory(options: { databaseUrl?: string | undefined; dataDir: string; chunks: number; questions: number; label: string }): Promise<{ questions: string[]; load: LoadFigures; index: IndexBuildFigures }> {
  const database = await createDatabase({ databaseUrl: options.databaseUrl, dataDir: options.dataDir });
  try {
    await applyMigrations(database.pool);
    const { indexName, definition } = await prepareModel(database, BUILTIN_EMBEDDING_MODEL, BUILTIN_EMBEDDING_DIMENSIONS);
    const corpus = new Corpus({ chunks: options.chunks, seed: 1, dimensions: BUILTIN_EMBEDDING_DIMENSIONS, queries: options.questions, filteredQueries: 0 });
    const load = await loadCorpus({ database, corpus, model: BUILTIN_EMBEDDING_MODEL, batchChunks: database.kind === 'pglite' ? 1000 : 2000, label: options.label, progressEveryMs: 15_000 });
    const index = await buildIndex({ database, indexName, definition, settings: buildSettings(database.kind, options.chunks), label: options.label });
    return { questions: corpus.queries().plain.map((query) => query.text), load, index };
  } finally {
    await database.close();
  }
}
