import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';

/**
 * The text half of a search tells frequent words from rare ones by the planner's statistics on
 * passages' words (pg_stats, filled by ANALYZE: see search.ts). PostgreSQL's autovacuum keeps them
 * fresh; the embedded PGlite runs no autovacuum and counts no changes, so here the memory itself
 * runs ANALYZE once enough passages were written since the last one: the first 1000, then a tenth
 * of what the table held. Without statistics every word counts as rare, which is right for a small
 * memory and only slower for a large one.
 */
export interface WordStatistics {
  passagesWritten(count: number): void;
}

const FIRST_AFTER = 1000;
const GROWTH_SHARE = 0.1;

export function createWordStatistics(database: Pick<Database, 'pool' | 'kind'>, logger: Logger): WordStatistics {
  if (database.kind !== 'pglite') return { passagesWritten: () => undefined };
  let written = 0;
  let passages = 0;
  let running = false;
  return {
    passagesWritten(count) {
      written += count;
      if (running || written < Math.max(FIRST_AFTER, passages * GROWTH_SHARE)) return;
      written = 0;
      running = true;
      void (async () => {
        try {
          await database.pool.query('ANALYZE memory_chunks');
          const result = await database.pool.query<{ reltuples: number }>(`SELECT reltuples FROM pg_class WHERE oid = 'memory_chunks'::regclass`);
          passages = Math.max(0, Number(result.rows[0]?.reltuples ?? 0));
        } catch (error) {
          // Stale statistics slow searches a little; they never make them wrong.
          logger.warn({ err: error }, 'could not refresh the word statistics of memory passages');
        } finally {
          running = false;
        }
      })();
    },
  };
}
