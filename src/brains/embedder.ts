import { embedderChoice, type Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { createBuiltinEmbedder } from './builtin/builtin-embedder.ts';
import { createOllamaEmbedder } from './ollama/ollama-embedder.ts';
import type { Embedder } from './types.ts';

/** The embedder EMBEDDER chooses (null: none, full-text search only). */
export function createConfiguredEmbedder(config: Pick<Config, 'EMBEDDER' | 'OLLAMA_HOST' | 'OLLAMA_EMBED_MODEL'>, logger: Logger, options: { idleMs?: number } = {}): Embedder | null {
  const choice = embedderChoice(config);
  if (choice === 'ollama' && config.OLLAMA_HOST) return createOllamaEmbedder({ host: config.OLLAMA_HOST, model: config.OLLAMA_EMBED_MODEL });
  if (choice === 'builtin') return createBuiltinEmbedder({ logger, ...options });
  return null;
}
