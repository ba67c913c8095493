import { z } from 'zod';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { EmbeddingBackfill } from '../../memory/embedding-backfill.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_EMBED_MEMORY } from '../job-names.ts';

export interface EmbedMemoryOptions {
  batchSize: number;
  /** A run stops starting batches after this long, so other jobs get their turn (PGlite runs one job at a time). */
  runBudgetMs: number;
}

export const DEFAULT_EMBED_MEMORY: EmbedMemoryOptions = { batchSize: 16, runBudgetMs: 4000 };

export type EmbedderHealth = { status: 'ok'; detail: string } | { status: 'failing'; error: string };

/**
 * Runs every few seconds: embeds what waits, a few batches per run, and says how far a long
 * backfill has got. A failing embedder (Ollama down) is said once, shown on /healthz, and tried
 * again on the next run; the passages wait, and full-text search finds them meanwhile.
 */
export function embedMemoryJob(
  deps: { backfill: EmbeddingBackfill; logger: Logger; now?: () => number; onHealth?: (health: EmbedderHealth) => void },
  options: EmbedMemoryOptions = DEFAULT_EMBED_MEMORY,
): JobDefinition<Record<string, never>> {
  const now = deps.now ?? (() => Date.now());
  let announcedBackfill = false;
  let failing = false;
  return {
    name: JOB_EMBED_MEMORY,
    schema: z.object({}).passthrough() as unknown as z.ZodType<Record<string, never>>,
    // The next scheduled run is the retry.
    maxRetries: 0,
    async run() {
      const started = now();
      let embedded = 0;
      let remaining = 0;
      let model = '';
      try {
        do {
          const progress = await deps.backfill.runBatch(options.batchSize);
          embedded += progress.embedded;
          remaining = progress.remaining;
          model = progress.model;
          if (progress.embedded === 0) break;
        } while (remaining > 0 && now() - started < options.runBudgetMs);
      } catch (error) {
        if (!failing) deps.logger.warn({ err: error }, `embedding paused: ${errorMessage(error)}; waiting passages are found by their words until it works again`);
        failing = true;
        deps.onHealth?.({ status: 'failing', error: `embedding paused: ${errorMessage(error)}` });
        return;
      }
      if (failing) deps.logger.info('embedding works again');
      failing = false;
      deps.onHealth?.({ status: 'ok', detail: remaining > 0 ? `${model}: ${remaining} passages to embed` : `${model}: up to date` });
      if (embedded === 0) {
        announcedBackfill = false;
        return;
      }
      const total = embedded + remaining;
      if (remaining > 0 && !announcedBackfill) {
        announcedBackfill = true;
        deps.logger.info({ model, remaining: total }, `embedding ${total} memory passages with ${model}; search uses words only for those until done`);
      }
      deps.logger.info({ model, embedded, remaining }, remaining > 0 ? `embedding memory: ${remaining} passages to go` : 'embedding memory: up to date');
      if (remaining === 0) announcedBackfill = false;
    },
  };
}
