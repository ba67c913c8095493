import { Agenda, exponential, when } from 'agenda';
import { PostgresBackend } from '@agendajs/postgres-backend';
import type pg from 'pg';
import type { z } from 'zod';
import { AdjutantError, errorMessage, isRetryable } from '../errors.ts';
import type { Logger } from '../logger.ts';

export interface JobContext {
  /** 1 on the first run, 2 on the first retry… */
  attempt: number;
  /** Keep the lock on long work (agenda's lock lifetime is 10 minutes). */
  touch(): Promise<void>;
}

export interface JobDefinition<T> {
  name: string;
  schema: z.ZodType<T>;
  run(data: T, context: JobContext): Promise<void>;
  /** Retries after the first failure (default 5, exponential from 2 s). */
  maxRetries?: number;
}

export interface JobQueue {
  define<T>(definition: JobDefinition<T>): void;
  /**
   * Enqueue once per (name, key): a step that runs twice, or an event Slack delivers twice,
   * enqueues its follow-up once. Completed jobs are kept, so the key stays taken.
   */
  enqueue<T extends Record<string, unknown>>(name: string, key: string, data: T): Promise<void>;
  start(): Promise<void>;
  /** Wait up to `graceMs` for running jobs, then release the rest for another worker. */
  stop(graceMs: number): Promise<void>;
  health(): { running: boolean };
}

export function createJobQueue(deps: { pool: pg.Pool; embedded: boolean; logger: Logger; processEveryMs?: number }): JobQueue {
  const { pool, embedded, logger } = deps;
  const backend = new PostgresBackend({
    pool,
    // On PGlite there is one connection: LISTEN/NOTIFY would hold it forever (ENVIRONMENT.md).
    disableNotifications: embedded,
    ensureSchema: true,
  });
  const agenda = new Agenda({
    backend,
    name: `adjutant-${process.pid}`,
    processEvery: deps.processEveryMs ?? (embedded ? 250 : 2000),
    // Embedded: one job at a time, so jobs never starve request-path queries on the single connection.
    maxConcurrency: embedded ? 1 : 10,
    defaultConcurrency: embedded ? 1 : 5,
  });
  agenda.on('error', (error: unknown) => logger.error({ err: error }, 'job queue error'));
  let running = false;

  return {
    define<T>(definition: JobDefinition<T>) {
      agenda.define<Record<string, unknown>>(
        definition.name,
        async (job) => {
          const attempt = (job.attrs.failCount ?? 0) + 1;
          const parsed = definition.schema.safeParse(job.attrs.data);
          if (!parsed.success) {
            // Bad job data will not get better by retrying.
            throw new AdjutantError('CONFLICT', `job ${definition.name} has invalid data: ${parsed.error.message}`, { retryable: false });
          }
          const log = logger.child({ job: definition.name, jobId: String(job.attrs._id), attempt });
          const started = Date.now();
          try {
            await definition.run(parsed.data, { attempt, touch: () => job.touch() });
            log.info({ ms: Date.now() - started }, 'job done');
          } catch (error) {
            log.warn({ err: error, retryable: isRetryable(error), ms: Date.now() - started }, 'job failed');
            throw error;
          }
        },
        {
          backoff: when(
            (context) => isRetryable(context.error),
            exponential({ delay: 2000, factor: 2, maxRetries: definition.maxRetries ?? 5, maxDelay: 5 * 60_000, jitter: 0.2 }),
          ),
        },
      );
    },
    async enqueue(name, key, data) {
      try {
        await agenda
          .create(name, { ...data, key })
          .unique({ 'data.key': key }, { insertOnly: true })
          .save();
      } catch (error) {
        throw new AdjutantError('DB_UNAVAILABLE', `could not enqueue ${name} (${key}): ${errorMessage(error)}`, { cause: error });
      }
    },
    async start() {
      await agenda.start();
      running = true;
    },
    async stop(graceMs) {
      if (!running) return;
      running = false;
      await agenda.drain({ timeout: graceMs, closeConnection: false }).catch((error: unknown) => logger.warn({ err: error }, 'drain failed'));
      // Anything still running is unlocked so another worker (or the next start) picks it up.
      await agenda.stop(false);
    },
    health() {
      return { running };
    },
  };
}
