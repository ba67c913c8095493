/**
 * Runs email-forward-parser, which recognises inline forwards from the common mail clients in
 * two dozen locales, in a worker thread with a time limit.
 *
 * Why a worker: without the optional RE2 engine (a native module we do not install) the
 * library's regular expressions backtrack, and crafted text (a "From:" followed by a long run of
 * blank lines) keeps one busy for minutes. On the main thread that would stop the mailbox
 * watcher, Slack and every job with it; a worker can be terminated, a regular expression
 * cannot. One worker is kept and reused, and replaced after a time-out. Calls run one at a time.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { AdjutantError } from '../../errors.ts';

/** Far above any real forward (a few milliseconds); a message that needs longer is hostile. */
export const INLINE_FORWARD_TIME_LIMIT_MS = 3000;
/** Loading the library and building its expressions; generous for a busy machine. */
const START_TIME_LIMIT_MS = 20_000;

// The worker is plain JavaScript evaluated as a script: no TypeScript loader, nothing but the library.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.libraryUrl).then(
  ({ default: EmailForwardParser }) => {
    const parser = new EmailForwardParser();
    parentPort.on('message', ({ body, subject }) => {
      try {
        parentPort.postMessage({ ok: true, result: parser.read(body, subject) });
      } catch (error) {
        parentPort.postMessage({ ok: false, error: String(error && error.message ? error.message : error) });
      }
    });
    parentPort.postMessage({ ready: true });
  },
  (error) => parentPort.postMessage({ ok: false, error: 'cannot load email-forward-parser: ' + String(error) }),
);
`;

const mailbox = z.object({ address: z.string().nullish(), name: z.string().nullish() });
const mailboxes = z.union([mailbox, z.array(mailbox)]).nullish();

/** What the library returns, checked as it crosses the thread boundary. */
const libraryResult = z.object({
  forwarded: z.boolean(),
  /** The text above the forwarded block. */
  message: z.string().nullish(),
  email: z.object({
    body: z.string().nullish(),
    from: mailbox.nullish(),
    to: mailboxes,
    cc: mailboxes,
    subject: z.string().nullish(),
    date: z.string().nullish(),
  }),
});
export type InlineForwardResult = z.infer<typeof libraryResult>;

const reply = z.union([
  z.object({ ready: z.literal(true) }),
  z.object({ ok: z.literal(true), result: libraryResult }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);

let starting: Promise<Worker> | null = null;
let active: Worker | null = null;
let queue: Promise<unknown> = Promise.resolve();

/**
 * The library's `read(body, subject)`. Throws MAIL_PARSE_FAILED when it does not finish within
 * the time limit or fails; the caller then treats the message as not a forward.
 */
export function readInlineForward(body: string, subject: string | null, options: { timeLimitMs?: number } = {}): Promise<InlineForwardResult> {
  const run = queue.then(() => readOnce(body, subject, options.timeLimitMs ?? INLINE_FORWARD_TIME_LIMIT_MS));
  queue = run.catch(() => undefined);
  return run;
}

async function readOnce(body: string, subject: string | null, timeLimitMs: number): Promise<InlineForwardResult> {
  const worker = await startedWorker();
  return new Promise<InlineForwardResult>((resolve, reject) => {
    const finish = (outcome: { result: InlineForwardResult } | { error: AdjutantError }): void => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      if ('result' in outcome) resolve(outcome.result);
      else reject(outcome.error);
    };
    const onMessage = (message: unknown): void => {
      const parsed = reply.safeParse(message);
      if (parsed.success && 'ok' in parsed.data && parsed.data.ok) finish({ result: parsed.data.result });
      else finish({ error: new AdjutantError('MAIL_PARSE_FAILED', `email-forward-parser failed: ${parsed.success && 'error' in parsed.data ? parsed.data.error : 'unexpected answer'}`) });
    };
    const onError = (error: Error): void => {
      discard(worker);
      finish({ error: new AdjutantError('MAIL_PARSE_FAILED', `email-forward-parser failed: ${error.message}`, { cause: error }) });
    };
    const onExit = (): void => {
      discard(worker);
      finish({ error: new AdjutantError('MAIL_PARSE_FAILED', 'email-forward-parser stopped unexpectedly') });
    };
    const timer = setTimeout(() => {
      discard(worker);
      finish({ error: new AdjutantError('MAIL_PARSE_FAILED', `email-forward-parser did not finish within ${timeLimitMs} ms; the text is not read as a forward`) });
    }, timeLimitMs);
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    worker.postMessage({ body, subject });
  });
}

function startedWorker(): Promise<Worker> {
  starting ??= startWorker().catch((error: unknown) => {
    // Forgotten, so the next call tries again.
    starting = null;
    throw error;
  });
  return starting;
}

function startWorker(): Promise<Worker> {
  const libraryUrl = pathToFileURL(createRequire(import.meta.url).resolve('email-forward-parser')).href;
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { libraryUrl },
    // Not the parent's flags (tsx's loader, inspector): the worker runs one plain library.
    execArgv: [],
    resourceLimits: { maxOldGenerationSizeMb: 512 },
  });
  // An idle reader must not keep the process alive; a call in flight has its own timer.
  worker.unref();
  return new Promise<Worker>((resolve, reject) => {
    // Listeners are removed one by one: Worker keeps internal ones (removeAllListeners breaks it).
    const settle = (): void => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
    };
    const fail = (message: string): void => {
      settle();
      void worker.terminate();
      reject(new AdjutantError('MAIL_PARSE_FAILED', message));
    };
    const onMessage = (message: unknown): void => {
      const parsed = reply.safeParse(message);
      if (parsed.success && 'ready' in parsed.data) {
        settle();
        active = worker;
        // A worker that dies while idle is replaced on the next call.
        worker.on('error', () => discard(worker));
        worker.on('exit', () => discard(worker));
        resolve(worker);
      } else {
        fail(`email-forward-parser did not start: ${parsed.success && 'error' in parsed.data ? parsed.data.error : 'unexpected answer'}`);
      }
    };
    const onError = (error: Error): void => fail(`email-forward-parser did not start: ${error.message}`);
    const timer = setTimeout(() => fail(`email-forward-parser did not start within ${START_TIME_LIMIT_MS} ms`), START_TIME_LIMIT_MS);
    worker.on('message', onMessage);
    worker.on('error', onError);
  });
}

/** Stops a worker that is stuck or broken; the next call starts a fresh one. */
function discard(worker: Worker): void {
  if (active === worker) {
    active = null;
    starting = null;
  }
  void worker.terminate();
}
