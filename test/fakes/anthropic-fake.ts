import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback, readBody } from './http-fake-server.ts';

/**
 * A local stand-in for the Anthropic Messages API, speaking its wire format so the real
 * @anthropic-ai/sdk runs against it. Point the client's baseURL at `url`.
 */

export interface AnthropicFakeRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body, or undefined when there was none or it was not JSON. */
  body: AnthropicFakeRequestBody | undefined;
}

export interface AnthropicFakeRequestBody {
  model: string;
  max_tokens: number;
  system?: string | Array<{ type: 'text'; text: string }>;
  messages: Array<{ role: string; content: string | Array<{ type: string; text?: string; content?: unknown; tool_use_id?: string; is_error?: boolean; name?: string; input?: unknown }> }>;
  tools?: Array<{ name: string; description?: string; input_schema: unknown }>;
  [key: string]: unknown;
}

export interface AnthropicFakeReply {
  text: string;
  /** Defaults to 'end_turn', or 'tool_use' when `toolUses` are given. */
  stopReason?: string;
  /** tool_use blocks after the text: the model asks for these calls. */
  toolUses?: { id?: string; name: string; input: Record<string, unknown> }[];
}

export type AnthropicResponder = (body: AnthropicFakeRequestBody) => string | AnthropicFakeReply;

export interface AnthropicFakeOptions {
  /** When set, requests without this key (x-api-key or Authorization: Bearer) get a 401. */
  apiKey?: string;
  respond?: AnthropicResponder;
}

export interface AnthropicFake {
  /** Base URL, e.g. http://127.0.0.1:54321 */
  url: string;
  requests: AnthropicFakeRequest[];
  respondWith(responder: AnthropicResponder): void;
  /**
   * Fail the next `count` requests with `status` and Anthropic's error body. `retryAfterMs`
   * (default 1) is sent as retry-after-ms, which the SDK honours, so its retries stay fast.
   */
  failNext(count: number, status: number, options?: { retryAfterMs?: number; message?: string }): void;
  /** Forget failures still queued by failNext: the server is back. */
  clearFailures(): void;
  close(): Promise<void>;
}

const DEFAULT_REPLY = 'Thank you for your message. I will look into it and get back to you shortly.';

/** Anthropic's error `type` for each status it documents. */
const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/** Whitespace-separated words: deterministic and close enough to tokens for cost tests. */
export function countFakeTokens(text: string): number {
  return text.split(/\s+/).filter((word) => word !== '').length;
}

export async function startAnthropicFake(options: AnthropicFakeOptions = {}): Promise<AnthropicFake> {
  const requests: AnthropicFakeRequest[] = [];
  let responder: AnthropicResponder = options.respond ?? (() => DEFAULT_REPLY);
  const failures: Array<{ status: number; retryAfterMs: number; message: string | undefined }> = [];
  let messageCount = 0;

  const server = createServer((request, response) => {
    void handle(request, response).catch((error: unknown) => {
      sendError(response, 500, 'api_error', `fake failed: ${String(error)}`);
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const raw = await readBody(request);
    const path = new URL(request.url ?? '/', 'http://fake').pathname;
    const body = parseJson(raw) as AnthropicFakeRequestBody | undefined;
    requests.push({ method: request.method ?? 'GET', path, headers: { ...request.headers }, body });

    const failure = failures.shift();
    if (failure) {
      const type = ERROR_TYPES[failure.status] ?? 'api_error';
      sendError(response, failure.status, type, failure.message ?? `${type} (simulated by the fake)`, {
        'retry-after-ms': String(failure.retryAfterMs),
      });
      return;
    }
    if (options.apiKey !== undefined && presentedKey(request) !== options.apiKey) {
      sendError(response, 401, 'authentication_error', 'invalid x-api-key');
      return;
    }
    if (request.method !== 'POST' || path !== '/v1/messages') {
      sendError(response, 404, 'not_found_error', `Not found: ${request.method ?? ''} ${path}`);
      return;
    }
    if (!body || typeof body.model !== 'string' || !Array.isArray(body.messages) || typeof body.max_tokens !== 'number') {
      sendError(response, 400, 'invalid_request_error', 'model, messages and max_tokens are required');
      return;
    }

    const answer = responder(body);
    const reply = typeof answer === 'string' ? { text: answer } : answer;
    messageCount += 1;
    sendJson(response, 200, {
      id: `msg_fake_${String(messageCount).padStart(6, '0')}`,
      type: 'message',
      role: 'assistant',
      model: body.model,
      content: [
        ...(reply.text === '' && reply.toolUses ? [] : [{ type: 'text', text: reply.text, citations: null }]),
        ...(reply.toolUses ?? []).map((use, index) => ({ type: 'tool_use', id: use.id ?? `toolu_fake_${messageCount}_${index}`, name: use.name, input: use.input })),
      ],
      stop_reason: reply.stopReason ?? (reply.toolUses && reply.toolUses.length > 0 ? 'tool_use' : 'end_turn'),
      stop_sequence: null,
      usage: {
        input_tokens: countFakeTokens(promptText(body)),
        output_tokens: Math.max(1, countFakeTokens(reply.text)),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
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
      for (let index = 0; index < count; index += 1) {
        failures.push({ status, retryAfterMs: failOptions.retryAfterMs ?? 1, message: failOptions.message });
      }
    },
    close: () => closeServer(server),
  };
}

function presentedKey(request: IncomingMessage): string | undefined {
  const apiKeyHeader = request.headers['x-api-key'];
  if (typeof apiKeyHeader === 'string') return apiKeyHeader;
  const authorization = request.headers.authorization;
  if (typeof authorization === 'string' && authorization.startsWith('Bearer ')) return authorization.slice(7);
  return undefined;
}

function promptText(body: AnthropicFakeRequestBody): string {
  const system = typeof body.system === 'string' ? body.system : (body.system ?? []).map((block) => block.text).join(' ');
  const messages = body.messages.map((message) =>
    typeof message.content === 'string'
      ? message.content
      : message.content.map((block) => block.text ?? '').join(' '),
  );
  return [system, ...messages].join(' ');
}

function parseJson(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

function sendJson(
  response: ServerResponse,
  status: number,
  payload: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, {
    'content-type': 'application/json',
    'request-id': `req_fake_${Date.now()}`,
    ...headers,
  });
  response.end(JSON.stringify(payload));
}

function sendError(
  response: ServerResponse,
  status: number,
  type: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  sendJson(response, status, { type: 'error', error: { type, message } }, headers);
}
