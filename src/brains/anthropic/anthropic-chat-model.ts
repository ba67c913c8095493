import Anthropic, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AnthropicError,
} from '@anthropic-ai/sdk';
import { z } from 'zod';
import { AdjutantError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { ChatMessage, ChatModel, ChatRequest, ChatResult, ToolCall, ToolDefinition } from '../types.ts';

export interface AnthropicChatModelOptions {
  apiKey: string;
  /** Defaults to https://api.anthropic.com. The SDK's own ANTHROPIC_BASE_URL lookup is bypassed: config.ts is the one place that reads the environment. */
  baseURL?: string;
  model: string;
  /** Retries the SDK makes on connection errors, 408/409/429 and 5xx, with backoff. */
  maxRetries?: number;
  /** Per attempt, so the worst case is about (maxRetries + 1) × timeoutMs plus backoff. */
  timeoutMs?: number;
  /** Receives the SDK's own warnings, which otherwise go to console. */
  logger?: Logger;
}

const DEFAULT_BASE_URL = 'https://api.anthropic.com';
const DEFAULT_MAX_RETRIES = 2;
// The SDK's default is 10 minutes; a chat reply that takes longer is better retried or routed elsewhere.
const DEFAULT_TIMEOUT_MS = 120_000;
// The Messages API requires max_tokens. Enough for a long email draft.
const DEFAULT_MAX_TOKENS = 1024;

/**
 * The part of a Messages API response we read; a proxy in the way can return anything.
 * Blocks of other types (thinking, server tools) pass through unread.
 */
const contentBlockSchema = z.union([
  z.object({ type: z.literal('text'), text: z.string() }),
  z.object({
    type: z.literal('tool_use'),
    id: z.string().min(1),
    name: z.string().min(1),
    input: z.record(z.string(), z.unknown()),
  }),
  z.object({ type: z.string().refine((type) => type !== 'text' && type !== 'tool_use') }),
]);

const messageResponseSchema = z.object({
  content: z.array(contentBlockSchema),
  stop_reason: z.string().nullable(),
  usage: z.object({ input_tokens: z.number(), output_tokens: z.number() }),
});

export function createAnthropicChatModel(options: AnthropicChatModelOptions): ChatModel {
  if (options.apiKey.trim() === '') {
    throw new AdjutantError('CONFIG_INVALID', 'ANTHROPIC_API_KEY is empty: set it to a key from console.anthropic.com');
  }
  const baseURL = options.baseURL ?? DEFAULT_BASE_URL;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
  const client = new Anthropic({
    apiKey: options.apiKey,
    baseURL,
    maxRetries,
    // Passing a timeout also stops the SDK from refusing large max_tokens without streaming.
    timeout: timeoutMs,
    logLevel: 'warn',
    ...(options.logger ? { logger: sdkLoggerFor(options.logger) } : {}),
  });
  const model = options.model;

  return {
    provider: 'anthropic',
    model,
    async chat(request: ChatRequest, callOptions?: { signal?: AbortSignal }): Promise<ChatResult> {
      const startedAt = performance.now();
      let response: unknown;
      try {
        // temperature is not sent: API version 2026-10-21 (SDK 1.x) removed it from the Messages API.
        response = await client.messages.create(
          {
            model,
            max_tokens: request.maxTokens ?? DEFAULT_MAX_TOKENS,
            ...(request.system.trim() === '' ? {} : { system: request.system }),
            messages: toWireMessages(request.messages),
            ...(request.tools && request.tools.length > 0 ? { tools: request.tools.map(toWireTool) } : {}),
          },
          callOptions?.signal ? { signal: callOptions.signal } : undefined,
        );
      } catch (error) {
        throw toAdjutantError(error, { baseURL, model, timeoutMs, maxRetries });
      }
      const latencyMs = Math.round(performance.now() - startedAt);

      const parsed = messageResponseSchema.safeParse(response);
      if (!parsed.success) {
        throw new AdjutantError(
          'MODEL_OUTPUT_INVALID',
          `Anthropic at ${baseURL} answered with something that is not a Messages API response: check ANTHROPIC_BASE_URL`,
          { cause: parsed.error },
        );
      }
      const message = parsed.data;
      const text = message.content.flatMap((block) => ('text' in block ? [block.text] : [])).join('');
      const stopReason = mapStopReason(message.stop_reason);
      // Only a turn that stopped to call tools carries calls to run: a tool_use block cut off by
      // max_tokens has incomplete input.
      const toolCalls: ToolCall[] =
        stopReason === 'tool_use'
          ? message.content.flatMap((block) =>
              'input' in block ? [{ id: block.id, name: block.name, input: block.input }] : [],
            )
          : [];
      if (text.trim() === '' && toolCalls.length === 0) {
        throw new AdjutantError(
          'MODEL_OUTPUT_INVALID',
          `Anthropic model '${model}' returned no text and no tool calls (stop reason: ${message.stop_reason ?? 'none'})`,
        );
      }
      return {
        text,
        toolCalls,
        provider: 'anthropic',
        model,
        inputTokens: message.usage.input_tokens,
        outputTokens: message.usage.output_tokens,
        latencyMs,
        stopReason: toolCalls.length > 0 ? 'tool_use' : stopReason === 'tool_use' ? 'other' : stopReason,
      };
    },
  };
}

type WireMessage = Anthropic.MessageParam;
type WireToolResult = Anthropic.ToolResultBlockParam;

/**
 * Our messages in the Messages API's shape. An assistant turn's tool calls become tool_use
 * blocks after its text; the results of one turn's calls (consecutive `tool` messages) go back
 * as tool_result blocks in ONE user message, which the API requires to follow that turn.
 */
function toWireMessages(messages: ChatMessage[]): WireMessage[] {
  const wire: WireMessage[] = [];
  let pendingResults: WireToolResult[] = [];
  const flushResults = (): void => {
    if (pendingResults.length === 0) return;
    wire.push({ role: 'user', content: pendingResults });
    pendingResults = [];
  };
  for (const message of messages) {
    if (message.role === 'tool') {
      pendingResults.push({
        type: 'tool_result',
        tool_use_id: message.toolCallId,
        content: message.content,
        ...(message.isError === true ? { is_error: true } : {}),
      });
      continue;
    }
    flushResults();
    if (message.role === 'assistant' && message.toolCalls && message.toolCalls.length > 0) {
      wire.push({
        role: 'assistant',
        content: [
          // The API rejects empty text blocks.
          ...(message.content.trim() === '' ? [] : [{ type: 'text' as const, text: message.content }]),
          ...message.toolCalls.map((call) => ({
            type: 'tool_use' as const,
            id: call.id,
            name: call.name,
            input: call.input,
          })),
        ],
      });
      continue;
    }
    wire.push({ role: message.role, content: message.content });
  }
  flushResults();
  return wire;
}

function toWireTool(tool: ToolDefinition): Anthropic.Tool {
  return { name: tool.name, description: tool.description, input_schema: tool.inputSchema };
}

function mapStopReason(reason: string | null): ChatResult['stopReason'] {
  switch (reason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'end';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'max_tokens';
    case 'tool_use':
      return 'tool_use';
    default:
      return 'other';
  }
}

interface ErrorContext {
  baseURL: string;
  model: string;
  timeoutMs: number;
  maxRetries: number;
}

/**
 * The SDK has already retried what it considers transient by the time an error reaches us, so
 * this only decides whether a later attempt (a job retry, another model) could succeed.
 * Order matters: the timeout and abort errors are subclasses of APIError without a status.
 */
function toAdjutantError(error: unknown, context: ErrorContext): AdjutantError {
  const { baseURL, model, timeoutMs, maxRetries } = context;
  const attempts = `${maxRetries + 1} attempt${maxRetries === 0 ? '' : 's'}`;
  if (error instanceof APIUserAbortError) {
    return new AdjutantError('MODEL_UNAVAILABLE', `Anthropic call to '${model}' was cancelled`, { cause: error });
  }
  if (error instanceof APIConnectionTimeoutError) {
    return new AdjutantError(
      'MODEL_UNAVAILABLE',
      `Anthropic at ${baseURL} did not answer within ${timeoutMs} ms (${attempts}): check network access and ANTHROPIC_BASE_URL`,
      { cause: error },
    );
  }
  if (error instanceof APIConnectionError) {
    return new AdjutantError(
      'MODEL_UNAVAILABLE',
      `Anthropic is not reachable at ${baseURL} (${attempts}): check network access and ANTHROPIC_BASE_URL`,
      { cause: error },
    );
  }
  if (error instanceof APIError && typeof error.status === 'number') {
    const status = error.status;
    const detail = error.apiMessage ?? error.message;
    if (status === 401) {
      return new AdjutantError('MODEL_FAILED', `Anthropic rejected the API key (401): check ANTHROPIC_API_KEY`, {
        cause: error,
      });
    }
    if (status === 402 || status === 403) {
      return new AdjutantError(
        'MODEL_FAILED',
        `Anthropic refused the request (${status}: ${detail}): check the billing and permissions of the ANTHROPIC_API_KEY workspace`,
        { cause: error },
      );
    }
    if (status === 404) {
      return new AdjutantError(
        'MODEL_FAILED',
        `Anthropic answered 404 for model '${model}' (${detail}): check the model name and ANTHROPIC_BASE_URL`,
        { cause: error },
      );
    }
    if (status === 408 || status === 409 || status === 429 || status >= 500) {
      const what = status === 429 ? 'is rate-limiting this key' : status === 529 ? 'is overloaded' : 'failed';
      return new AdjutantError(
        'MODEL_UNAVAILABLE',
        `Anthropic ${what} (${status}: ${detail}) after ${attempts}: try again later`,
        { cause: error },
      );
    }
    return new AdjutantError('MODEL_FAILED', `Anthropic rejected the request to '${model}' (${status}: ${detail})`, {
      cause: error,
    });
  }
  if (error instanceof AnthropicError) {
    return new AdjutantError('MODEL_FAILED', `Anthropic client error: ${error.message}`, { cause: error });
  }
  return new AdjutantError('MODEL_FAILED', `Anthropic call to '${model}' failed unexpectedly`, { cause: error });
}

/** The SDK logs `(message, ...details)`; pino takes `(object, message)`. */
function sdkLoggerFor(logger: Logger): NonNullable<ConstructorParameters<typeof Anthropic>[0]>['logger'] {
  const child = logger.child({ component: 'anthropic-sdk' });
  return {
    error: (message, ...details) => child.error({ details }, message),
    warn: (message, ...details) => child.warn({ details }, message),
    info: (message, ...details) => child.info({ details }, message),
    debug: (message, ...details) => child.debug({ details }, message),
  };
}
