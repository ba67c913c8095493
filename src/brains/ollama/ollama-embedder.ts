import { z } from 'zod';
import { AdjutantError } from '../../errors.ts';
import type { Embedder } from '../types.ts';
import { ollamaClientFor, toOllamaError } from './ollama-chat-model.ts';

export interface OllamaEmbedderOptions {
  /** e.g. http://127.0.0.1:11434 (OLLAMA_HOST). */
  host: string;
  /** e.g. nomic-embed-text. */
  model: string;
  timeoutMs?: number;
  /** Texts per /api/embed request; keeps one large ingest from becoming one huge request. */
  batchSize?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const DEFAULT_BATCH_SIZE = 32;

const embedResponseSchema = z.object({
  embeddings: z.array(z.array(z.number())),
});

export function createOllamaEmbedder(options: OllamaEmbedderOptions): Embedder {
  const { host, model } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);

  async function embedBatch(texts: string[], signal: AbortSignal | undefined): Promise<number[][]> {
    const client = ollamaClientFor(host, timeoutMs, signal);
    let response: unknown;
    try {
      // /api/embed (batch input); the older /api/embeddings takes one prompt per call.
      response = await client.embed({ model, input: texts });
    } catch (error) {
      throw toOllamaError(error, { host, model, timeoutMs, signal });
    }
    const parsed = embedResponseSchema.safeParse(response);
    if (!parsed.success || parsed.data.embeddings.length !== texts.length) {
      throw new AdjutantError(
        'MODEL_OUTPUT_INVALID',
        `Ollama model '${model}' at ${host} did not return one embedding per text: check that it is an embedding model`,
        parsed.success ? {} : { cause: parsed.error },
      );
    }
    return parsed.data.embeddings;
  }

  return {
    model,
    async embed(texts: string[], callOptions?: { signal?: AbortSignal }): Promise<number[][]> {
      const vectors: number[][] = [];
      for (let start = 0; start < texts.length; start += batchSize) {
        vectors.push(...(await embedBatch(texts.slice(start, start + batchSize), callOptions?.signal)));
      }
      // A vector column has one dimension; a mixed answer would fail later, far from the cause.
      const dimension = vectors[0]?.length;
      if (vectors.some((vector) => vector.length !== dimension || vector.length === 0)) {
        throw new AdjutantError(
          'MODEL_OUTPUT_INVALID',
          `Ollama model '${model}' at ${host} returned embeddings of differing or zero dimension`,
        );
      }
      return vectors;
    },
  };
}
