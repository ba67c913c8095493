import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BUILTIN_EMBEDDING_DIMENSIONS,
  BUILTIN_EMBEDDING_MODEL,
  createBuiltinEmbedder,
  truncateForEmbedding,
  type BuiltinEmbedder,
} from '../src/brains/builtin/builtin-embedder.ts';
import { AdjutantError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';

const logger = createLogger({ level: 'silent' });

const SENTENCES = [
  'The invoice for the March delivery is still open.',
  'Could you confirm the shipment date with the warehouse?',
  'Our team meets on Tuesday to review the quarterly budget.',
  'The customer asked whether the contract renewal includes support.',
  'Please send the signed order form before Friday.',
  'The office will be closed for maintenance next week.',
  'We moved the onboarding call to Thursday afternoon.',
  'The report shows fewer tickets than last quarter.',
];

/** About `words` words of plain English, different for each `seed`. */
function prose(words: number, seed: number): string {
  const parts: string[] = [`Note ${seed}.`];
  for (let index = seed; parts.join(' ').split(' ').length < words; index += 3) parts.push(SENTENCES[index % SENTENCES.length] as string);
  return parts.join(' ');
}

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  a.forEach((value, index) => {
    const other = b[index] ?? 0;
    dot += value * other;
    normA += value * value;
    normB += other * other;
  });
  return dot / Math.sqrt(normA * normB);
}

async function rejection(promise: Promise<unknown>): Promise<AdjutantError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AdjutantError);
  return error as AdjutantError;
}

/** What the worker says when asked to try every route to the network with its guards in place. */
async function checkNetwork(worker: Worker): Promise<{ route: string; refused: boolean; message: string }[]> {
  return new Promise((resolve) => {
    const onMessage = (message: { type?: string; results?: { route: string; refused: boolean; message: string }[] }): void => {
      if (message.type !== 'network-check') return;
      worker.off('message', onMessage);
      resolve(message.results ?? []);
    };
    worker.on('message', onMessage);
    worker.postMessage({ type: 'check-network' });
  });
}

describe('built-in embedder', () => {
  let embedder: BuiltinEmbedder;
  const workers: Worker[] = [];

  beforeAll(() => {
    embedder = createBuiltinEmbedder({ logger, onWorkerStart: (worker) => workers.push(worker) });
  });
  afterAll(async () => {
    await embedder.close();
  });

  it('starts its worker on the first call and puts related texts closer than unrelated ones', async () => {
    expect(embedder.model).toBe(BUILTIN_EMBEDDING_MODEL);
    expect(embedder.dimensions).toBe(512);
    expect(embedder.state().workerRunning).toBe(false);

    const [invoice, reminder, lunch] = await embedder.embed(['invoice for the chairs is overdue', 'payment reminder for furniture order', 'team lunch on friday at noon']);

    expect(embedder.state()).toMatchObject({ workerRunning: true, workerStarts: 1 });
    for (const vector of [invoice, reminder, lunch]) expect(vector).toHaveLength(BUILTIN_EMBEDDING_DIMENSIONS);
    const related = cosine(invoice!, reminder!);
    const unrelated = cosine(invoice!, lunch!);
    expect(related).toBeGreaterThan(unrelated + 0.15);
    // The model lives in the worker only: this process never loaded tfjs.
    expect(Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes('@energetic-ai'))).toEqual([]);
  });

  it('reads line breaks and tabs as spaces, as a passage\'s title and paragraphs are written', async () => {
    // The model's tokenizer marks a word's start only after a space; a newline would become an
    // unknown token and change the vector of the same words.
    const [spaced, broken] = await embedder.embed(['Invoice overdue Hello Jonas, the invoice for the chairs is late.', 'Invoice overdue\n\nHello Jonas,\r\n\tthe invoice for the chairs is late.']);
    expect(cosine(spaced!, broken!)).toBeGreaterThan(0.9999);
  });

  it('keeps one vector per text, in order, across batches and concurrent calls', async () => {
    const texts = Array.from({ length: 40 }, (_, index) => `${index}: ${prose(20, index)}`);
    texts[5] = '';
    const [all, [first], [middle], [empty], [last]] = await Promise.all([
      embedder.embed(texts),
      embedder.embed([texts[0]!]),
      embedder.embed([texts[17]!]),
      embedder.embed(['']),
      embedder.embed([texts[39]!]),
    ]);

    expect(all).toHaveLength(40);
    expect(cosine(all[0]!, first!)).toBeGreaterThan(0.9999);
    expect(cosine(all[17]!, middle!)).toBeGreaterThan(0.9999);
    expect(cosine(all[5]!, empty!)).toBeGreaterThan(0.9999);
    expect(cosine(all[39]!, last!)).toBeGreaterThan(0.9999);
    expect(cosine(all[17]!, all[18]!)).toBeLessThan(0.9999);
    await expect(embedder.embed([])).resolves.toEqual([]);
  });

  it('cuts a long text at a word boundary before encoding it', async () => {
    const long = prose(8000, 1);
    const cut = truncateForEmbedding(long, 2000);
    expect(cut.length).toBeLessThanOrEqual(2000);
    expect(cut.length).toBeGreaterThan(1900);
    expect(long.startsWith(cut)).toBe(true);
    expect(long.charAt(cut.length)).toMatch(/\s/);
    expect(truncateForEmbedding('x'.repeat(3000), 2000)).toHaveLength(2000);
    expect(truncateForEmbedding('short', 2000)).toBe('short');

    const started = Date.now();
    const [fromLong, fromCut] = await embedder.embed([long, cut]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(cosine(fromLong!, fromCut!)).toBeGreaterThan(0.9999);
  });

  it('never tries the network, and its worker refuses every route to it', async () => {
    await embedder.embed(['loaded and used']);
    expect(embedder.state().networkAttempts).toBe(0);

    const worker = workers.at(-1)!;
    const results = await checkNetwork(worker);

    expect(results.map((result) => result.route)).toEqual(expect.arrayContaining(['fetch', 'tfjs util.fetch', 'node-fetch', 'https.get', 'net.connect', 'dns.lookup']));
    for (const result of results) {
      expect(result, result.route).toMatchObject({ refused: true, message: expect.stringContaining('no network access') as unknown });
    }
    // Each refusal reached the main thread: an attempt by the library would not go unnoticed.
    await vi.waitFor(() => expect(embedder.state().networkAttempts).toBe(results.length));
  });

  it('rejects an aborted call promptly and serves the next one', async () => {
    await expect(embedder.embed(['x'], { signal: AbortSignal.abort() })).rejects.toThrow(/cancelled/);

    const controller = new AbortController();
    const pending = embedder.embed(
      Array.from({ length: 48 }, (_, index) => prose(100, index)),
      { signal: controller.signal },
    );
    await vi.waitFor(() => expect(embedder.state().batchInFlight).toBe(true), { interval: 2 });
    const aborted = Date.now();
    controller.abort();
    const error = await rejection(pending);
    expect(Date.now() - aborted).toBeLessThan(250);
    expect(error.message).toMatch(/cancelled/);

    await expect(embedder.embed(['after the abort'])).resolves.toHaveLength(1);
    expect(embedder.state().queuedBatches).toBe(0);
  });
});

describe('built-in embedder worker lifecycle', () => {
  it('stops the worker after idleMs with nothing to do and starts a fresh one on the next call', async () => {
    const embedder = createBuiltinEmbedder({ logger, idleMs: 200 });
    try {
      await embedder.embed(['first']);
      expect(embedder.state().workerRunning).toBe(true);
      await vi.waitFor(() => expect(embedder.state().workerRunning).toBe(false), { timeout: 5000, interval: 20 });

      await expect(embedder.embed(['second'])).resolves.toHaveLength(1);
      expect(embedder.state()).toMatchObject({ workerRunning: true, workerStarts: 2, networkAttempts: 0 });
    } finally {
      await embedder.close();
    }
    expect(embedder.state().workerRunning).toBe(false);
  });

  it('rejects the call in flight when the worker dies, then recovers with a fresh worker', async () => {
    const workers: Worker[] = [];
    const embedder = createBuiltinEmbedder({ logger, onWorkerStart: (worker) => workers.push(worker) });
    try {
      const pending = embedder.embed(Array.from({ length: 16 }, (_, index) => prose(200, index)));
      await vi.waitFor(() => expect(embedder.state().batchInFlight).toBe(true), { interval: 2, timeout: 20_000 });
      await workers[0]!.terminate();

      const error = await rejection(pending);
      expect(error.code).toBe('MODEL_UNAVAILABLE');
      expect(error.retryable).toBe(true);
      expect(error.message).toMatch(/worker thread stopped unexpectedly/);
      expect(error.message).toMatch(/next call starts a fresh worker/);

      await expect(embedder.embed(['back again'])).resolves.toHaveLength(1);
      expect(embedder.state().workerStarts).toBe(2);
    } finally {
      await embedder.close();
    }
  });

  it('rejects a call waiting when the embedder is closed', async () => {
    const embedder = createBuiltinEmbedder({ logger });
    const pending = embedder.embed(['never finished']);
    await embedder.close();
    expect((await rejection(pending)).message).toMatch(/closed/);
    await expect(embedder.embed(['after close'])).resolves.toHaveLength(1);
    await embedder.close();
  });
});
