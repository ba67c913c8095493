import { connect } from 'node:net';
import { buildCorpus } from '../ingest/corpus.ts';
import { deliver, freshMailboxUser } from '../../test/support/mailbox.ts';
import { testServices } from '../../test/support/services.ts';
import type { LogRecord } from './service-process.ts';
import type { FootprintScenario, RunningService, StepOutcome } from './footprint.ts';

/**
 * The second figure: idle again after the built-in embedder has worked. The service watches a
 * fresh mailbox on the local Dovecot (bash test/services/up.sh), a few emails are delivered, and
 * once every one is remembered the log is watched for the built-in embedder loading its model
 * and then stopping its worker after idling. Until the embedder is wired into the service the
 * log never shows it, and the phase is reported as not measured, with that reason.
 */
const REMEMBER_JOB = 'email.remember';
/** The embedder's log lines (src/brains/builtin/builtin-embedder.ts). Loose on purpose: wording may still change. */
const EMBEDDER_LOADED = /built-?in embedder.*loaded/i;
const EMBEDDER_IDLE = /built-?in embedder.*(stopped|exited|left).*idl/i;

export interface EmbeddingScenarioOptions {
  emails: number;
  seed: number;
  /** From the last email remembered to the embedder's "loaded" line. */
  loadTimeoutMs: number;
  /** From "loaded" to the worker stopping after idling (its idle time is 30 s). */
  idleTimeoutMs: number;
}

export function embeddingScenario(options: EmbeddingScenarioOptions): FootprintScenario {
  let user = '';
  return {
    name: 'mailbox watched, built-in embedder',
    async prepare() {
      let services: ReturnType<typeof testServices>;
      try {
        services = testServices();
      } catch (error) {
        return { skip: (error as Error).message };
      }
      if (!(await reachable(services.imapHost, services.imapPort))) return { skip: `Dovecot is not answering on ${services.imapHost}:${services.imapPort}: run bash test/services/up.sh` };
      user = freshMailboxUser('bench-footprint');
      return { env: { IMAP_HOST: services.imapHost, IMAP_PORT: String(services.imapPort), IMAP_USER: user, IMAP_PASSWORD: services.imapPassword, IMAP_TLS: 'false' } };
    },
    steps: [
      {
        name: `built-in embedding of ${options.emails} emails`,
        run: (service) => embedSomeMail(service, user, options),
      },
    ],
  };
}

async function embedSomeMail(service: RunningService, user: string, options: EmbeddingScenarioOptions): Promise<StepOutcome> {
  await service.waitForRecord('the watcher to watch the mailbox', (record) => record.msg === 'watching mailbox', 30_000);
  const corpus = buildCorpus({ seed: options.seed, count: options.emails, idPrefix: `footprint-${Date.now()}` });
  for (const message of corpus) await deliver(user, message.raw);
  const delivered = Date.now();

  const remembered = () => new Set(service.process.records().filter((record) => record.job === REMEMBER_JOB && record.msg === 'job done').map((record) => String(record.jobId))).size;
  try {
    await service.waitForRecord(`${options.emails} emails remembered`, () => remembered() >= options.emails, 120_000);
  } catch (error) {
    return { notMeasured: `${remembered()} of ${options.emails} delivered emails were remembered (${(error as Error).message})` };
  }
  const rememberedSeconds = seconds(Date.now() - delivered);

  let loaded: LogRecord;
  try {
    loaded = await service.waitForRecord('the built-in embedder to load its model', (record) => EMBEDDER_LOADED.test(record.msg ?? ''), options.loadTimeoutMs);
  } catch {
    return {
      notMeasured: `the log never showed built-in embedding: no line matching ${EMBEDDER_LOADED} within ${options.loadTimeoutMs / 1000} s after ${options.emails} emails were remembered (the built-in embedder is not wired into the service yet, or another embedder is configured)`,
    };
  }
  const loadedAt = Date.now();
  try {
    // Done when the embedder's latest line says its worker stopped idling: a worker that idled out
    // between two batches and started again has a "loaded" line after that.
    const workerGone = () => {
      const lines = service.process.records().filter((record) => EMBEDDER_LOADED.test(record.msg ?? '') || EMBEDDER_IDLE.test(record.msg ?? ''));
      return EMBEDDER_IDLE.test(lines.at(-1)?.msg ?? '');
    };
    await service.waitForRecord('the built-in embedder worker to stop after idling', workerGone, options.idleTimeoutMs);
  } catch {
    return { notMeasured: `the built-in embedder loaded its model but its worker did not stop after idling within ${options.idleTimeoutMs / 1000} s (no line matching ${EMBEDDER_IDLE})` };
  }
  return {
    measure: true,
    detail: {
      emails: options.emails,
      secondsToRemember: rememberedSeconds,
      modelLoadMs: Number(loaded.loadMs ?? 0),
      secondsFromLoadToWorkerGone: seconds(Date.now() - loadedAt),
      workerStarts: service.process.records().filter((record) => EMBEDDER_LOADED.test(record.msg ?? '')).length,
    },
  };
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function seconds(ms: number): number {
  return Math.round(ms / 100) / 10;
}
