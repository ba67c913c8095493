import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback, readBody } from './http-fake-server.ts';

/**
 * A local stand-in for an Ollama server (/api/chat, /api/embed, /api/tags, /api/version),
 * speaking its wire format so the real `ollama` package runs against it. Pass `url` as host.
 */

export interface OllamaFakeRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body, or undefined when there was none or it was not JSON. */
  body: Record<string, unknown> | undefined;
}

export interface OllamaFakeChatBody {
  model: string;
  messages: Array<{ role: string; content: string }>;
  options?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface OllamaFakeReply {
  text: string;
  /** Defaults to 'stop'; Ollama says 'length' when num_predict ran out. */
  doneReason?: string;
}

export type OllamaResponder = (body: OllamaFakeChatBody) => string | OllamaFakeReply;

export interface OllamaFakeOptions {
  /** Models the server "has"; others get Ollama's 404. Defaults to llama3.2 and nomic-embed-text. */
  models?: string[];
  /** Embedding dimension; defaults to 768 (nomic-embed-text). */
  dimension?: number;
  respond?: OllamaResponder;
}

export interface OllamaFake {
  /** Host URL, e.g. http://127.0.0.1:54321 */
  url: string;
  requests: OllamaFakeRequest[];
  respondWith(responder: OllamaResponder): void;
  /** Fail the next `count` requests with `status` and an Ollama error body; `after`: let that many succeed first. */
  failNext(count: number, status: number, options?: { message?: string; after?: number }): void;
  /** Forget failures still queued by failNext: the server is back. */
  clearFailures(): void;
  close(): Promise<void>;
}

const DEFAULT_MODELS = ['llama3.2', 'nomic-embed-text'];
const DEFAULT_DIMENSION = 768;
const DEFAULT_REPLY = 'Understood. Here is a short, local answer.';

export async function startOllamaFake(options: OllamaFakeOptions = {}): Promise<OllamaFake> {
  const models = new Set((options.models ?? DEFAULT_MODELS).map(withoutLatestTag));
  const dimension = options.dimension ?? DEFAULT_DIMENSION;
  const requests: OllamaFakeRequest[] = [];
  let responder: OllamaResponder = options.respond ?? (() => DEFAULT_REPLY);
  const failures: Array<{ status: number; message: string | undefined }> = [];
  let successesBeforeFailure = 0;

  const server = createServer((request, response) => {
    void handle(request, response).catch((error: unknown) => {
      sendJson(response, 500, { error: `fake failed: ${String(error)}` });
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const raw = await readBody(request);
    const method = request.method ?? 'GET';
    const path = new URL(request.url ?? '/', 'http://fake').pathname;
    const body = parseJson(raw);
    requests.push({ method, path, headers: { ...request.headers }, body });

    let failure: { status: number; message: string | undefined } | undefined;
    if (failures.length > 0) {
      if (successesBeforeFailure > 0) successesBeforeFailure -= 1;
      else failure = failures.shift();
    }
    if (failure) {
      sendJson(response, failure.status, { error: failure.message ?? `simulated failure (${failure.status})` });
      return;
    }
    const route = `${method} ${path}`;
    if (route === 'GET /' || route === 'HEAD /') {
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      response.end('Ollama is running');
      return;
    }
    if (route === 'GET /api/version') {
      sendJson(response, 200, { version: '0.12.6' });
      return;
    }
    if (route === 'GET /api/tags') {
      sendJson(response, 200, { models: [...models].map(describeModel) });
      return;
    }
    if (route !== 'POST /api/chat' && route !== 'POST /api/embed') {
      sendJson(response, 404, { error: '404 page not found' });
      return;
    }
    const model = typeof body?.model === 'string' ? body.model : '';
    if (!models.has(withoutLatestTag(model))) {
      sendJson(response, 404, { error: `model '${model}' not found, try pulling it first` });
      return;
    }
    if (path === '/api/chat') {
      if (body?.stream !== false) {
        // The adapter under test never streams; a streamed request is a bug worth failing loudly.
        sendJson(response, 400, { error: 'this fake only answers stream:false' });
        return;
      }
      const chatBody = body as OllamaFakeChatBody;
      const answer = responder(chatBody);
      const reply = typeof answer === 'string' ? { text: answer } : answer;
      const prompt = chatBody.messages.map((message) => message.content).join(' ');
      sendJson(response, 200, {
        model,
        created_at: new Date().toISOString(),
        message: { role: 'assistant', content: reply.text },
        done: true,
        done_reason: reply.doneReason ?? 'stop',
        total_duration: 1_200_000,
        load_duration: 100_000,
        prompt_eval_count: countWords(prompt),
        prompt_eval_duration: 300_000,
        eval_count: Math.max(1, countWords(reply.text)),
        eval_duration: 800_000,
      });
      return;
    }
    const input = body?.input;
    const texts = typeof input === 'string' ? [input] : Array.isArray(input) ? input.map(String) : [];
    sendJson(response, 200, {
      model,
      embeddings: texts.map((text) => fakeEmbedding(text, dimension)),
      total_duration: 500_000,
      load_duration: 50_000,
      prompt_eval_count: texts.reduce((sum, text) => sum + countWords(text), 0),
    });
  }

  const url = await listenOnLoopback(server);

  return {
    url,
    requests,
    respondWith(next) {
      responder = next;
    },
    clearFailures() {
      failures.length = 0;
    },
    failNext(count, status, failOptions = {}) {
      successesBeforeFailure = failOptions.after ?? 0;
      for (let index = 0; index < count; index += 1) failures.push({ status, message: failOptions.message });
    },
    close: () => closeServer(server),
  };
}

/**
 * A hashed bag of words, L2-normalised: texts sharing words point the same way, so cosine
 * similarity behaves like a (very crude) real embedding model, and the same text always
 * gives the same vector. Each word adds ±1 to one of `dimension` buckets.
 */
export function fakeEmbedding(text: string, dimension: number = DEFAULT_DIMENSION): number[] {
  const vector = new Array<number>(dimension).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    const hash = fnv1a(word);
    const bucket = hash % dimension;
    vector[bucket] = (vector[bucket] ?? 0) + (hash & 0x80000000 ? -1 : 1);
  }
  const norm = Math.hypot(...vector);
  return norm === 0 ? vector : vector.map((value) => value / norm);
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index += 1) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Ollama treats `llama3.2` and `llama3.2:latest` as the same model. */
function withoutLatestTag(name: string): string {
  return name.endsWith(':latest') ? name.slice(0, -':latest'.length) : name;
}

function countWords(text: string): number {
  return text.split(/\s+/).filter((word) => word !== '').length;
}

function describeModel(name: string): Record<string, unknown> {
  return {
    name: name.includes(':') ? name : `${name}:latest`,
    model: name.includes(':') ? name : `${name}:latest`,
    modified_at: '2026-01-01T00:00:00Z',
    size: 2_000_000_000,
    digest: 'sha256:0000000000000000000000000000000000000000000000000000000000000000',
    details: {
      parent_model: '',
      format: 'gguf',
      family: name.split(/[.:-]/)[0] ?? name,
      families: [name.split(/[.:-]/)[0] ?? name],
      parameter_size: '3B',
      quantization_level: 'Q4_K_M',
    },
  };
}

function parseJson(raw: string): Record<string, unknown> | undefined {
  if (raw === '') return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function sendJson(response: ServerResponse, status: number, payload: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(payload));
}
