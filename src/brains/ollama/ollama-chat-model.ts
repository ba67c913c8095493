import { Ollama } from 'ollama';
import { z } from 'zod';
import { AdjutantError } from '../../errors.ts';
import type { ChatModel, ChatRequest, ChatResult } from '../types.ts';

export interface OllamaChatModelOptions {
  /** e.g. http://127.0.0.1:11434 (OLLAMA_HOST). */
  host: string;
  model: string;
  /** A cold model can take tens of seconds to load before the first token. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 300_000;

/** Ollama omits prompt_eval_count when the whole prompt came from its cache, so counts are optional. */
const chatResponseSchema = z.object({
  message: z.object({ content: z.string() }),
  done_reason: z.string().optional(),
  prompt_eval_count: z.number().optional(),
  eval_count: z.number().optional(),
});

export function createOllamaChatModel(options: OllamaChatModelOptions): ChatModel {
  const { host, model } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  return {
    provider: 'ollama',
    model,
    async chat(request: ChatRequest, callOptions?: { signal?: AbortSignal }): Promise<ChatResult> {
      const startedAt = performance.now();
      const client = ollamaClientFor(host, timeoutMs, callOptions?.signal);
      let response: unknown;
      try {
        response = await client.chat({
          model,
          stream: false,
          messages: [
            ...(request.system.trim() === '' ? [] : [{ role: 'system', content: request.system }]),
            ...request.messages.map((message) => ({ role: message.role, content: message.content })),
          ],
          options: {
            ...(request.maxTokens === undefined ? {} : { num_predict: request.maxTokens }),
            ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
          },
        });
      } catch (error) {
        throw toOllamaError(error, { host, model, timeoutMs, signal: callOptions?.signal });
      }
      const latencyMs = Math.round(performance.now() - startedAt);

      const parsed = chatResponseSchema.safeParse(response);
      if (!parsed.success) {
        throw new AdjutantError(
          'MODEL_OUTPUT_INVALID',
          `The server at ${host} answered /api/chat with something that is not an Ollama reply: check OLLAMA_HOST`,
          { cause: parsed.error },
        );
      }
      const reply = parsed.data;
      if (reply.message.content.trim() === '') {
        throw new AdjutantError(
          'MODEL_OUTPUT_INVALID',
          `Ollama model '${model}' returned no text (done reason: ${reply.done_reason ?? 'none'})`,
        );
      }
      return {
        text: reply.message.content,
        provider: 'ollama',
        model,
        inputTokens: reply.prompt_eval_count ?? 0,
        outputTokens: reply.eval_count ?? 0,
        latencyMs,
        stopReason: mapDoneReason(reply.done_reason),
      };
    },
  };
}

function mapDoneReason(reason: string | undefined): ChatResult['stopReason'] {
  if (reason === 'stop') return 'end';
  if (reason === 'length') return 'max_tokens';
  return 'other';
}

/**
 * The ollama package gives non-streaming calls no timeout and no AbortSignal, so each call
 * gets a client whose fetch carries one. Clients are plain objects; creating one is cheap.
 * Shared with the embedder.
 */
export function ollamaClientFor(host: string, timeoutMs: number, signal: AbortSignal | undefined): Ollama {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([timeout, signal]) : timeout;
  return new Ollama({
    host,
    fetch: (input, init) => fetch(input, { ...init, signal: combined }),
  });
}

interface ErrorContext {
  host: string;
  model: string;
  timeoutMs: number;
  signal: AbortSignal | undefined;
}

/** Shared with the embedder: both talk to the same server and fail the same ways. */
export function toOllamaError(error: unknown, context: ErrorContext): AdjutantError {
  const { host, model, timeoutMs, signal } = context;
  if (signal?.aborted) {
    return new AdjutantError('MODEL_UNAVAILABLE', `Ollama call to '${model}' was cancelled`, { cause: error });
  }
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return new AdjutantError(
      'MODEL_UNAVAILABLE',
      `Ollama at ${host} did not answer within ${timeoutMs} ms (model '${model}' may still be loading, or the machine is too slow for it)`,
      { cause: error },
    );
  }
  // The package throws its (unexported) ResponseError for any non-2xx answer.
  const status = responseStatus(error);
  if (status !== undefined) {
    const detail = error instanceof Error ? error.message : String(error);
    if (status === 404 && /not found/i.test(detail)) {
      return new AdjutantError(
        'MODEL_FAILED',
        `Ollama at ${host} does not have model '${model}': run \`ollama pull ${model}\``,
        { cause: error },
      );
    }
    if (status === 408 || status === 429 || status >= 500) {
      return new AdjutantError('MODEL_UNAVAILABLE', `Ollama at ${host} failed (${status}: ${detail})`, {
        cause: error,
      });
    }
    return new AdjutantError('MODEL_FAILED', `Ollama at ${host} rejected the request (${status}: ${detail})`, {
      cause: error,
    });
  }
  // fetch reports refused connections, DNS failures and resets as TypeError('fetch failed').
  if (error instanceof TypeError) {
    return new AdjutantError(
      'MODEL_UNAVAILABLE',
      `Ollama is not reachable at ${host}: start it or set OLLAMA_HOST`,
      { cause: error },
    );
  }
  // A 2xx answer that is not JSON: something other than Ollama is listening there.
  if (error instanceof SyntaxError) {
    return new AdjutantError(
      'MODEL_OUTPUT_INVALID',
      `The server at ${host} is not answering like Ollama: check OLLAMA_HOST`,
      { cause: error },
    );
  }
  return new AdjutantError('MODEL_FAILED', `Ollama call to '${model}' at ${host} failed unexpectedly`, { cause: error });
}

function responseStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('status_code' in error)) return undefined;
  return typeof error.status_code === 'number' ? error.status_code : undefined;
}
