import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createAnthropicChatModel } from '../src/brains/anthropic/anthropic-chat-model.ts';
import { createOllamaChatModel } from '../src/brains/ollama/ollama-chat-model.ts';
import { createOllamaEmbedder } from '../src/brains/ollama/ollama-embedder.ts';
import { costUsd } from '../src/brains/pricing.ts';
import { createModelRouter } from '../src/brains/router.ts';
import type { CallLedger, ChatRequest, ModelCallRecord } from '../src/brains/types.ts';
import { AdjutantError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { startOllamaFake, type OllamaFake } from './fakes/ollama-fake.ts';

const API_KEY = 'sk-ant-test-key';
const CLOUD_MODEL = 'claude-sonnet-4-6';
const LOCAL_MODEL = 'llama3.2';
const logger = createLogger({ level: 'silent' });

const servedFor = { kind: 'email', id: 'email-under-test' } as const;

const request: ChatRequest = {
  system: 'You are Adjutant, an operations assistant.',
  messages: [{ role: 'user', content: 'Summarise the invoice thread please' }],
  maxTokens: 200,
};

async function expectAdjutantError(promise: Promise<unknown>): Promise<AdjutantError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AdjutantError);
  return error as AdjutantError;
}

/** A port nothing listens on: bind one, then let it go. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** An HTTP server that accepts requests and never answers them. */
async function startSilentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createHttpServer(() => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function cosine(a: number[], b: number[]): number {
  return a.reduce((sum, value, index) => sum + value * (b[index] ?? 0), 0);
}

let anthropic: AnthropicFake;
let ollama: OllamaFake;

beforeEach(async () => {
  anthropic = await startAnthropicFake({ apiKey: API_KEY });
  ollama = await startOllamaFake();
});

afterEach(async () => {
  await Promise.all([anthropic.close(), ollama.close()]);
});

describe('anthropic chat model', () => {
  it('sends the system prompt and maps text, tokens and stop reason', async () => {
    anthropic.respondWith(() => 'Here is the summary.');
    const model = createAnthropicChatModel({ apiKey: API_KEY, baseURL: anthropic.url, model: CLOUD_MODEL });

    const result = await model.chat(request);

    expect(result).toMatchObject({
      text: 'Here is the summary.',
      provider: 'anthropic',
      model: CLOUD_MODEL,
      inputTokens: 11,
      outputTokens: 4,
      stopReason: 'end',
    });
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(anthropic.requests).toHaveLength(1);
    const sent = anthropic.requests[0];
    expect(sent?.path).toBe('/v1/messages');
    expect(sent?.body).toMatchObject({
      model: CLOUD_MODEL,
      max_tokens: 200,
      system: request.system,
      messages: [{ role: 'user', content: 'Summarise the invoice thread please' }],
    });
  });

  it('maps max_tokens and joins text blocks', async () => {
    anthropic.respondWith(() => ({ text: 'Cut off mid', stopReason: 'max_tokens' }));
    const model = createAnthropicChatModel({ apiKey: API_KEY, baseURL: anthropic.url, model: CLOUD_MODEL });
    const result = await model.chat(request);
    expect(result.stopReason).toBe('max_tokens');
    expect(result.text).toBe('Cut off mid');
  });

  it('lets the SDK retry a 529 and succeeds on the second request', async () => {
    anthropic.failNext(1, 529);
    const model = createAnthropicChatModel({ apiKey: API_KEY, baseURL: anthropic.url, model: CLOUD_MODEL });

    const result = await model.chat(request);

    expect(result.text).toContain('Thank you');
    expect(anthropic.requests).toHaveLength(2);
  });

  it('maps a 401 to MODEL_FAILED, not retryable, naming ANTHROPIC_API_KEY', async () => {
    const model = createAnthropicChatModel({ apiKey: 'sk-ant-wrong', baseURL: anthropic.url, model: CLOUD_MODEL });

    const error = await expectAdjutantError(model.chat(request));

    expect(error.code).toBe('MODEL_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('ANTHROPIC_API_KEY');
    // 4xx is not retried by the SDK.
    expect(anthropic.requests).toHaveLength(1);
  });

  it('maps repeated 500s to MODEL_UNAVAILABLE, retryable', async () => {
    anthropic.failNext(3, 500);
    const model = createAnthropicChatModel({
      apiKey: API_KEY,
      baseURL: anthropic.url,
      model: CLOUD_MODEL,
      maxRetries: 0,
    });
    const error = await expectAdjutantError(model.chat(request));
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(anthropic.requests).toHaveLength(1);
  });

  it('maps a timeout to MODEL_UNAVAILABLE', async () => {
    const silent = await startSilentServer();
    try {
      const model = createAnthropicChatModel({
        apiKey: API_KEY,
        baseURL: silent.url,
        model: CLOUD_MODEL,
        maxRetries: 0,
        timeoutMs: 100,
      });
      const error = await expectAdjutantError(model.chat(request));
      expect(error.code).toBe('MODEL_UNAVAILABLE');
      expect(error.message).toContain('did not answer within 100 ms');
    } finally {
      await silent.close();
    }
  });

  it('maps an unreachable base URL to MODEL_UNAVAILABLE naming ANTHROPIC_BASE_URL', async () => {
    const url = await closedPortUrl();
    const model = createAnthropicChatModel({ apiKey: API_KEY, baseURL: url, model: CLOUD_MODEL, maxRetries: 0 });
    const error = await expectAdjutantError(model.chat(request));
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.message).toContain('ANTHROPIC_BASE_URL');
    expect(error.message).toContain(url);
  });
});

describe('ollama chat model and embedder', () => {
  it('chats without streaming and maps tokens and done reason', async () => {
    ollama.respondWith(() => ({ text: 'Category: billing', doneReason: 'stop' }));
    const model = createOllamaChatModel({ host: ollama.url, model: LOCAL_MODEL });

    const result = await model.chat({ ...request, temperature: 0 });

    expect(result).toMatchObject({
      text: 'Category: billing',
      provider: 'ollama',
      model: LOCAL_MODEL,
      inputTokens: 11,
      outputTokens: 2,
      stopReason: 'end',
    });
    const sent = ollama.requests[0];
    expect(sent?.path).toBe('/api/chat');
    expect(sent?.body).toMatchObject({
      model: LOCAL_MODEL,
      stream: false,
      messages: [
        { role: 'system', content: request.system },
        { role: 'user', content: 'Summarise the invoice thread please' },
      ],
      options: { num_predict: 200, temperature: 0 },
    });
  });

  it("maps done_reason 'length' to max_tokens", async () => {
    ollama.respondWith(() => ({ text: 'Partial', doneReason: 'length' }));
    const model = createOllamaChatModel({ host: ollama.url, model: LOCAL_MODEL });
    expect((await model.chat(request)).stopReason).toBe('max_tokens');
  });

  it('tells the operator to pull a missing model', async () => {
    const model = createOllamaChatModel({ host: ollama.url, model: 'mistral' });
    const error = await expectAdjutantError(model.chat(request));
    expect(error.code).toBe('MODEL_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('ollama pull mistral');
  });

  it('maps an unreachable host to MODEL_UNAVAILABLE with the host in the message', async () => {
    const host = await closedPortUrl();
    const model = createOllamaChatModel({ host, model: LOCAL_MODEL });
    const error = await expectAdjutantError(model.chat(request));
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(`Ollama is not reachable at ${host}: start it or set OLLAMA_HOST`);
  });

  it('gives up after timeoutMs with MODEL_UNAVAILABLE', async () => {
    const silent = await startSilentServer();
    try {
      const model = createOllamaChatModel({ host: silent.url, model: LOCAL_MODEL, timeoutMs: 100 });
      const error = await expectAdjutantError(model.chat(request));
      expect(error.code).toBe('MODEL_UNAVAILABLE');
      expect(error.message).toContain('did not answer within 100 ms');
    } finally {
      await silent.close();
    }
  });

  it('maps a 500 to MODEL_UNAVAILABLE', async () => {
    ollama.failNext(1, 500, { message: 'llama runner process has terminated' });
    const model = createOllamaChatModel({ host: ollama.url, model: LOCAL_MODEL });
    const error = await expectAdjutantError(model.chat(request));
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.message).toContain('llama runner process has terminated');
  });

  it('embeds deterministically, one vector per text, similar texts closer than unrelated ones', async () => {
    const embedder = createOllamaEmbedder({ host: ollama.url, model: 'nomic-embed-text' });
    const texts = [
      'invoice 4411 from Acme is overdue',
      'the Acme invoice 4411 is overdue again',
      'lunch menu for the team offsite in June',
    ];

    const [first, second] = await Promise.all([embedder.embed(texts), embedder.embed(texts)]);

    expect(first).toHaveLength(3);
    for (const vector of first) expect(vector).toHaveLength(768);
    expect(second).toEqual(first);
    const [invoice, invoiceAgain, lunch] = first as [number[], number[], number[]];
    expect(cosine(invoice, invoiceAgain)).toBeGreaterThan(cosine(invoice, lunch) + 0.3);
    expect(ollama.requests[0]?.path).toBe('/api/embed');
  });

  it('batches large inputs and skips the call for none', async () => {
    const embedder = createOllamaEmbedder({ host: ollama.url, model: 'nomic-embed-text', batchSize: 2 });
    expect(await embedder.embed([])).toEqual([]);
    expect(ollama.requests).toHaveLength(0);
    const vectors = await embedder.embed(['a', 'b', 'c']);
    expect(vectors).toHaveLength(3);
    expect(ollama.requests).toHaveLength(2);
  });

  it('uses the configured dimension', async () => {
    const small = await startOllamaFake({ dimension: 16 });
    try {
      const embedder = createOllamaEmbedder({ host: small.url, model: 'nomic-embed-text' });
      const [vector] = await embedder.embed(['hello world']);
      expect(vector).toHaveLength(16);
    } finally {
      await small.close();
    }
  });
});

describe('model router', () => {
  let calls: ModelCallRecord[];
  const ledger: CallLedger = {
    record: async (call) => {
      calls.push(call);
    },
  };

  beforeEach(() => {
    calls = [];
  });

  function models(options: { maxRetries?: number } = {}) {
    return {
      cloud: createAnthropicChatModel({
        apiKey: API_KEY,
        baseURL: anthropic.url,
        model: CLOUD_MODEL,
        maxRetries: options.maxRetries ?? 0,
      }),
      local: createOllamaChatModel({ host: ollama.url, model: LOCAL_MODEL }),
    };
  }

  it('sends hard work to Anthropic and routine work to Ollama', async () => {
    const router = createModelRouter({ ...models(), ledger, logger });

    const hard = await router.complete('draft', request, { servedFor });
    const routine = await router.complete('triage', request, { servedFor });

    expect(hard.provider).toBe('anthropic');
    expect(routine.provider).toBe('ollama');
    expect(calls.map((call) => [call.provider, call.tier, call.use, call.ok])).toEqual([
      ['anthropic', 'hard', 'draft', true],
      ['ollama', 'routine', 'triage', true],
    ]);
    expect(calls[0]?.costUsd).toBeCloseTo(costUsd('anthropic', CLOUD_MODEL, hard.inputTokens, hard.outputTokens));
    expect(calls[0]?.costUsd).toBeGreaterThan(0);
    expect(calls[1]?.costUsd).toBe(0);
    expect(router.available()).toEqual({ cloud: true, local: true });
  });

  it('falls back to Ollama when Anthropic keeps failing, recording both attempts', async () => {
    anthropic.failNext(5, 500);
    let clock = 1_000;
    const router = createModelRouter({
      ...models(),
      ledger,
      logger,
      now: () => {
        clock += 7;
        return clock;
      },
    });

    const result = await router.complete('draft', request, { servedFor });

    expect(result.provider).toBe('ollama');
    expect(anthropic.requests).toHaveLength(1);
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({
      provider: 'anthropic',
      ok: false,
      inputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
      latencyMs: 7,
    });
    expect(calls[0]?.error).toContain('MODEL_UNAVAILABLE');
    expect(calls[1]).toMatchObject({ provider: 'ollama', ok: true, costUsd: 0, latencyMs: 7 });
    expect(calls[1]?.inputTokens).toBeGreaterThan(0);
  });

  it('falls back on a non-retryable error too, and throws the last error when both fail', async () => {
    const cloud = createAnthropicChatModel({ apiKey: 'sk-ant-wrong', baseURL: anthropic.url, model: CLOUD_MODEL });
    const local = createOllamaChatModel({ host: ollama.url, model: 'not-pulled' });
    const router = createModelRouter({ cloud, local, ledger, logger });

    const error = await expectAdjutantError(router.complete('draft', request, { servedFor }));

    expect(error.message).toContain('ollama pull not-pulled');
    expect(calls.map((call) => [call.provider, call.ok])).toEqual([
      ['anthropic', false],
      ['ollama', false],
    ]);
  });

  it('records a paid cloud fallback with its cost', async () => {
    ollama.failNext(1, 503);
    const router = createModelRouter({ ...models(), ledger, logger });

    const result = await router.complete('triage', request, { servedFor });

    expect(result.provider).toBe('anthropic');
    expect(calls.map((call) => [call.provider, call.ok])).toEqual([
      ['ollama', false],
      ['anthropic', true],
    ]);
    expect(calls[1]?.costUsd).toBeGreaterThan(0);
  });

  it('falls back when the local model is rate-limited (429), and records what it served', async () => {
    ollama.failNext(1, 429, { message: 'too many requests' });
    const router = createModelRouter({ ...models(), ledger, logger });

    const result = await router.complete('triage', request, { servedFor });

    expect(result.provider).toBe('anthropic');
    expect(calls.map((call) => [call.provider, call.ok, call.servedFor])).toEqual([
      ['ollama', false, servedFor],
      ['anthropic', true, servedFor],
    ]);
    expect(calls[0]?.error).toContain('429');
  });

  it('does not fall back when the caller cancelled the call', async () => {
    const silent = await startSilentServer();
    try {
      const cloud = createAnthropicChatModel({ apiKey: API_KEY, baseURL: silent.url, model: CLOUD_MODEL });
      const router = createModelRouter({ cloud, local: models().local, ledger, logger });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);

      const error = await expectAdjutantError(router.complete('draft', request, { servedFor, signal: controller.signal }));

      expect(error.message).toContain('cancelled');
      expect(ollama.requests).toHaveLength(0);
      expect(calls.map((call) => [call.provider, call.ok])).toEqual([['anthropic', false]]);
    } finally {
      await silent.close();
    }
  });

  it('skips the cloud model when the budget says no', async () => {
    const router = createModelRouter({ ...models(), ledger, logger, budget: { allowCloud: async () => false } });
    const result = await router.complete('draft', request, { servedFor });
    expect(result.provider).toBe('ollama');
    expect(anthropic.requests).toHaveLength(0);
  });

  it('works with only one model configured', async () => {
    const router = createModelRouter({ local: models().local, ledger, logger });
    expect((await router.complete('draft', request, { servedFor })).provider).toBe('ollama');
    expect(router.available()).toEqual({ cloud: false, local: true });
  });

  describe('structured answers', () => {
    const verdict = z.object({ category: z.enum(['needs_reply', 'fyi']), confidence: z.number().min(0).max(1) });
    const ask: ChatRequest = { system: 'Answer with JSON: {"category": ..., "confidence": ...}', messages: [{ role: 'user', content: 'Sort this email.' }] };

    it('takes JSON from inside a code fence and records the call against what it served', async () => {
      ollama.respondWith(() => 'Here you go:\n```json\n{"category": "fyi", "confidence": 0.9}\n```');
      const router = createModelRouter({ ...models(), ledger, logger });

      const answer = await router.structured('triage', verdict, ask, { servedFor });

      expect(answer.value).toEqual({ category: 'fyi', confidence: 0.9 });
      expect(answer.escalated).toBe(false);
      expect(calls).toEqual([expect.objectContaining({ provider: 'ollama', use: 'triage', tier: 'routine', servedFor, ok: true })]);
    });

    it('sends an invalid answer back once with the validation error, and uses the repaired one', async () => {
      const replies = ['{"category": "urgent-ish", "confidence": 0.9}', '{"category": "needs_reply", "confidence": 0.8}'];
      ollama.respondWith(() => replies.shift() ?? 'no more');
      const router = createModelRouter({ ...models(), ledger, logger });

      const answer = await router.structured('triage', verdict, ask, { servedFor });

      expect(answer.value.category).toBe('needs_reply');
      const repair = ollama.requests.filter((entry) => entry.path === '/api/chat')[1]?.body as { messages: { role: string; content: string }[] };
      // The second request carries the first answer and what was wrong with it.
      expect(repair.messages.at(-2)).toEqual({ role: 'assistant', content: '{"category": "urgent-ish", "confidence": 0.9}' });
      expect(repair.messages.at(-1)?.content).toMatch(/category/);
      expect(repair.messages.at(-1)?.content).toMatch(/needs_reply/);
      expect(anthropic.requests).toHaveLength(0);
      expect(calls.map((call) => [call.provider, call.ok])).toEqual([['ollama', false], ['ollama', true]]);
      expect(calls[0]?.error).toMatch(/^invalid output/);
    });

    it('goes to the cloud model when the local answer fails validation twice', async () => {
      ollama.respondWith(() => 'I think it is an FYI.');
      anthropic.respondWith(() => '{"category": "fyi", "confidence": 0.95}');
      const router = createModelRouter({ ...models(), ledger, logger });

      const answer = await router.structured('triage', verdict, ask, { servedFor });

      expect(answer).toMatchObject({ value: { category: 'fyi' }, escalated: true, result: { provider: 'anthropic' } });
      expect(calls.map((call) => [call.provider, call.ok])).toEqual([['ollama', false], ['ollama', false], ['anthropic', true]]);
    });

    it('goes to the cloud model when the local model is unsure, and keeps the unsure answer when the cloud is down', async () => {
      ollama.respondWith(() => '{"category": "needs_reply", "confidence": 0.3}');
      anthropic.respondWith(() => '{"category": "fyi", "confidence": 0.9}');
      const router = createModelRouter({ ...models(), ledger, logger });
      const confident = (value: z.infer<typeof verdict>) => value.confidence >= 0.6;

      const sure = await router.structured('triage', verdict, ask, { servedFor, confident });
      expect(sure).toMatchObject({ value: { category: 'fyi' }, escalated: true });

      anthropic.failNext(1, 529);
      const unsure = await router.structured('triage', verdict, ask, { servedFor, confident });
      expect(unsure).toMatchObject({ value: { category: 'needs_reply', confidence: 0.3 }, escalated: false, result: { provider: 'ollama' } });
    });

    it('fails with MODEL_OUTPUT_INVALID naming the use when no model gives a valid answer', async () => {
      ollama.respondWith(() => '{"category": 7}');
      const router = createModelRouter({ local: models().local, ledger, logger });

      const error = await expectAdjutantError(router.structured('triage', verdict, ask, { servedFor }));

      expect(error.code).toBe('MODEL_OUTPUT_INVALID');
      expect(error.message).toContain('triage');
      expect(ollama.requests.filter((entry) => entry.path === '/api/chat')).toHaveLength(2);
    });
  });

  it('throws NOT_CONFIGURED when no model is configured', async () => {
    const router = createModelRouter({ ledger, logger });
    const error = await expectAdjutantError(router.complete('triage', request, { servedFor }));
    expect(error.code).toBe('NOT_CONFIGURED');
    expect(error.message).toBe('No language model configured: set ANTHROPIC_API_KEY or OLLAMA_HOST');
    expect(router.available()).toEqual({ cloud: false, local: false });
    expect(calls).toHaveLength(0);
  });
});

describe('pricing', () => {
  it('prices Anthropic by family, Ollama at zero, unknown models conservatively', () => {
    expect(costUsd('anthropic', 'claude-sonnet-4-6', 1_000_000, 1_000_000)).toBe(18);
    expect(costUsd('anthropic', 'claude-haiku-4-5-20251001', 1_000_000, 0)).toBe(1);
    expect(costUsd('anthropic', 'claude-opus-4-7', 0, 1_000_000)).toBe(25);
    expect(costUsd('anthropic', 'claude-opus-4-1-20250805', 0, 1_000_000)).toBe(75);
    expect(costUsd('anthropic', 'some-future-model', 1_000_000, 0)).toBe(15);
    expect(costUsd('ollama', 'llama3.2', 1_000_000, 1_000_000)).toBe(0);
  });
});
