import { randomUUID } from 'node:crypto';
import { Ollama, type Message as WireMessage, type Tool as WireTool } from 'ollama';
import { z } from 'zod';
import { AdjutantError } from '../../errors.ts';
import type { ChatMessage, ChatModel, ChatRequest, ChatResult, ToolCall, ToolDefinition } from '../types.ts';

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
  message: z.object({
    content: z.string(),
    tool_calls: z
      .array(
        z.object({
          function: z.object({ name: z.string().min(1), arguments: z.record(z.string(), z.unknown()) }),
        }),
      )
      .nullish(),
  }),
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
            ...request.messages.map(toWireMessage),
          ],
          ...(request.tools && request.tools.length > 0 ? { tools: request.tools.map(toWireTool) } : {}),
          options: {
            ...(request.maxTokens === undefined ? {} : { num_predict: request.maxTokens }),
            ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
          },
        });
      } catch (error) {
        if (request.tools && request.tools.length > 0 && cannotCallTools(error)) {
          throw new AdjutantError(
            'MODEL_NO_TOOLS',
            `Ollama model '${model}' cannot call tools (${errorDetail(error)}): offer tools to a model that supports them`,
            { cause: error },
          );
        }
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
      // Ollama gives tool calls no id; ours pair each call with its result.
      const toolCalls: ToolCall[] = (reply.message.tool_calls ?? []).map((call) => ({
        id: `ollama-call-${randomUUID()}`,
        name: call.function.name,
        input: call.function.arguments,
      }));
      if (reply.message.content.trim() === '' && toolCalls.length === 0) {
        throw new AdjutantError(
          'MODEL_OUTPUT_INVALID',
          `Ollama model '${model}' returned no text and no tool calls (done reason: ${reply.done_reason ?? 'none'})`,
        );
      }
      return {
        text: reply.message.content,
        toolCalls,
        provider: 'ollama',
        model,
        inputTokens: reply.prompt_eval_count ?? 0,
        outputTokens: reply.eval_count ?? 0,
        latencyMs,
        // Ollama says 'stop' when the model asked for tools.
        stopReason: toolCalls.length > 0 ? 'tool_use' : mapDoneReason(reply.done_reason),
      };
    },
  };
}

/** Ollama pairs a tool result with its call by the tool's name, not by an id. */
function toWireMessage(message: ChatMessage): WireMessage {
  if (message.role === 'tool') {
    return { role: 'tool', content: message.content, tool_name: message.name };
  }
  if (message.role === 'assistant' && message.toolCalls && message.toolCalls.length > 0) {
    return {
      role: 'assistant',
      content: message.content,
      tool_calls: message.toolCalls.map((call) => ({ function: { name: call.name, arguments: call.input } })),
    };
  }
  return { role: message.role, content: message.content };
}

function toWireTool(tool: ToolDefinition): WireTool {
  return {
    type: 'function',
    function: {
      name: tool.name,
      description: tool.description,
      // The package types JSON Schema narrowly; Ollama takes any schema object.
      parameters: tool.inputSchema as NonNullable<WireTool['function']['parameters']>,
    },
  };
}

/** Ollama answers 400 "<model> does not support tools" for a model whose template has no tool calling. */
function cannotCallTools(error: unknown): boolean {
  return responseStatus(error) === 400 && /does not support tools/i.test(errorDetail(error));
}

function errorDetail(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
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
