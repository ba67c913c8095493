import { z } from 'zod';
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

/**
 * Runs every few seconds: embeds what waits, a few batches per run, and says how far a long
 * backfill has got. A failing embedder fails the run; the chunks wait for the next one, and
 * full-text search finds them meanwhile.
 */
export function embedMemoryJob(deps: { backfill: EmbeddingBackfill; logger: Logger; now?: () => number }, options: EmbedMemoryOptions = DEFAULT_EMBED_MEMORY): JobDefinition<Record<string, never>> {
  const now = deps.now ?? (() => Date.now());
  let announcedBackfill = false;
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
      do {
        const progress = await deps.backfill.runBatch(options.batchSize);
        embedded += progress.embedded;
        remaining = progress.remaining;
        model = progress.model;
        if (progress.embedded === 0) break;
      } while (remaining > 0 && now() - started < options.runBudgetMs);
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
