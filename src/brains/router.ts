import { z } from 'zod';
import { AdjutantError, errorMessage } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { costUsd } from './pricing.ts';
import { readJson } from './read-json.ts';
import { MAX_TOOL_ROUNDS, ToolCallPending, type ToolRunner } from './tool-use.ts';
import type { CallLedger, ChatMessage, ChatModel, ChatRequest, ChatResult, ServedFor } from './types.ts';
import { tierOf, type ModelUse } from './uses.ts';

/** Decides whether the cloud model may be used for the next call (the weekly spend cap, LLM_WEEKLY_BUDGET_USD). */
export interface CloudBudget {
  allowCloud(): Promise<boolean>;
}

export interface ModelRouterDeps {
  /** Anthropic, when ANTHROPIC_API_KEY is set. */
  cloud?: ChatModel;
  /** Ollama, when OLLAMA_HOST is set. */
  local?: ChatModel;
  ledger: CallLedger;
  logger: Logger;
  /** Milliseconds; injected so tests can pin latencies. */
  now?: () => number;
  /** Without one, the cloud model is always allowed. */
  budget?: CloudBudget;
}

export interface CallContext {
  /** Which email, question, briefing or contact the call serves: written on its ledger row. */
  servedFor: ServedFor;
  signal?: AbortSignal;
  /**
   * Tools the model may call before it answers: each call goes to the runner and its result
   * back to the model, for at most MAX_TOOL_ROUNDS rounds.
   */
  tools?: ToolRunner;
}

export interface StructuredOptions<T> extends CallContext {
  /**
   * False when a valid answer is unsure (e.g. it reports low confidence): a local answer is
   * then asked of the cloud model too, and kept only if that fails.
   */
  confident?: (value: T) => boolean;
}

export interface StructuredResult<T> {
  value: T;
  /** The call whose answer was used. */
  result: ChatResult;
  /** The answer came from a model after the first choice had failed, or was unsure. */
  escalated: boolean;
}

export interface ModelRouter {
  complete(use: ModelUse, request: ChatRequest, context: CallContext): Promise<ChatResult>;
  /**
   * A JSON answer validated by `schema`. An invalid answer is sent back once with the
   * validation error (one repair); still invalid, the next model is asked.
   */
  structured<T>(use: ModelUse, schema: z.ZodType<T>, request: ChatRequest, options: StructuredOptions<T>): Promise<StructuredResult<T>>;
  available(): { cloud: boolean; local: boolean };
}

/** Enough of the validation error for the model to fix its answer, not a wall of text. */
const MAX_REPAIR_HINT_CHARS = 1500;

/**
 * Picks a model per call from the use's tier (uses.ts): hard work goes to the cloud first,
 * routine work stays local first, and whichever is second catches the first one's failure, its
 * invalid output, or (for structured answers) its doubt. Every attempt is written to the ledger
 * with what it served, failed ones included, so cost and reliability can be read from one table.
 */
export function createModelRouter(deps: ModelRouterDeps): ModelRouter {
  const { cloud, local, ledger, logger, budget } = deps;
  const now = deps.now ?? (() => performance.now());

  async function candidatesFor(use: ModelUse): Promise<ChatModel[]> {
    const tier = tierOf(use);
    const preferred = tier === 'hard' ? [cloud, local] : [local, cloud];
    const configured = preferred.filter((model): model is ChatModel => model !== undefined);
    if (configured.length === 0) {
      throw new AdjutantError('NOT_CONFIGURED', 'No language model configured: set ANTHROPIC_API_KEY or OLLAMA_HOST');
    }
    if (cloud === undefined || budget === undefined || (await budget.allowCloud())) return configured;
    const withoutCloud = configured.filter((model) => model !== cloud);
    if (withoutCloud.length === 0) {
      // Retrying soon would hit the same cap, so this is not marked retryable.
      throw new AdjutantError(
        'MODEL_UNAVAILABLE',
        'The cloud model budget is used up and no local model is configured: raise LLM_WEEKLY_BUDGET_USD or set OLLAMA_HOST',
        { retryable: false },
      );
    }
    logger.info({ use }, 'cloud model budget used up; using the local model');
    return withoutCloud;
  }

  async function record(use: ModelUse, model: ChatModel, context: CallContext, latencyMs: number, outcome: { result: ChatResult; invalid?: string } | { error: unknown }): Promise<void> {
    const tokens = 'result' in outcome ? { inputTokens: outcome.result.inputTokens, outputTokens: outcome.result.outputTokens } : { inputTokens: 0, outputTokens: 0 };
    const error = 'error' in outcome ? describe(outcome.error) : outcome.invalid === undefined ? undefined : `invalid output: ${outcome.invalid}`;
    try {
      await ledger.record({
        provider: model.provider,
        model: model.model,
        tier: tierOf(use),
        use,
        servedFor: context.servedFor,
        ...tokens,
        costUsd: costUsd(model.provider, model.model, tokens.inputTokens, tokens.outputTokens),
        latencyMs,
        ok: error === undefined,
        ...(error === undefined ? {} : { error: error.slice(0, 2000) }),
      });
    } catch (ledgerError) {
      // The model call already happened (and may have been paid for); losing its answer
      // because the ledger write failed would only make the caller pay again.
      logger.error({ err: ledgerError, provider: model.provider, use }, 'could not record a model call in the ledger');
    }
  }

  /** One call; its ledger row is written by the caller once the answer is judged. */
  async function call(use: ModelUse, model: ChatModel, request: ChatRequest, context: CallContext): Promise<{ result: ChatResult; latencyMs: number }> {
    const startedAt = now();
    try {
      const result = await model.chat(request, context.signal ? { signal: context.signal } : undefined);
      return { result, latencyMs: Math.round(now() - startedAt) };
    } catch (error) {
      await record(use, model, context, Math.round(now() - startedAt), { error });
      throw error;
    }
  }

  /**
   * A call that may go through tool rounds: while the model asks for tools, each call runs
   * (through the work's runner) and its result goes back, and every round is on the ledger.
   * Returns the final answer, whose ledger row the caller writes, and the conversation that led
   * to it (a repair continues from there). A model that cannot call tools is asked again
   * without them: it can still answer from what it was given.
   */
  async function converse(use: ModelUse, model: ChatModel, request: ChatRequest, context: CallContext): Promise<{ result: ChatResult; latencyMs: number; messages: ChatMessage[] }> {
    const runner = context.tools && context.tools.definitions.length > 0 ? context.tools : undefined;
    if (!runner) {
      // Decided calls replayed while no tool is offered (their server is down): the API takes
      // tool turns only with tools defined, so the model reads them as text.
      const plain = request.messages.some((message) => message.role === 'tool') ? { ...request, messages: withoutToolTurns(request.messages) } : request;
      return { ...(await call(use, model, plain, context)), messages: plain.messages };
    }
    let messages = request.messages;
    for (let round = 1; ; round++) {
      let answer: { result: ChatResult; latencyMs: number };
      try {
        answer = await call(use, model, { ...request, messages, tools: runner.definitions }, context);
      } catch (error) {
        if (!(error instanceof AdjutantError && error.code === 'MODEL_NO_TOOLS')) throw error;
        logger.warn({ use, model: `${model.provider}/${model.model}` }, 'the model cannot call tools; asking it without them');
        const plain = { ...request, messages: withoutToolTurns(request.messages), tools: [] };
        return { ...(await call(use, model, plain, context)), messages: plain.messages };
      }
      const { result, latencyMs } = answer;
      if (result.toolCalls.length === 0) return { result, latencyMs, messages };
      if (round > MAX_TOOL_ROUNDS + 1) {
        // Told to stop and still calling: a model in a loop would spend without end.
        const problem = `kept calling tools after ${MAX_TOOL_ROUNDS} rounds and being told to answer`;
        await record(use, model, context, latencyMs, { result, invalid: problem });
        throw new AdjutantError('MODEL_OUTPUT_INVALID', `${model.provider}/${model.model} ${problem}`);
      }
      await record(use, model, context, latencyMs, { result });
      const results: ChatMessage[] = [];
      for (const toolCall of result.toolCalls) {
        // Past the last round a call is refused, not run: the model must answer with what it has.
        const outcome =
          round > MAX_TOOL_ROUNDS
            ? { content: `No more tool calls: ${MAX_TOOL_ROUNDS} rounds were used. Answer now with what you have.`, isError: true }
            : await runner.run(toolCall);
        results.push({ role: 'tool', toolCallId: toolCall.id, name: toolCall.name, content: outcome.content, ...(outcome.isError ? { isError: true } : {}) });
      }
      messages = [...messages, { role: 'assistant', content: result.text, toolCalls: result.toolCalls }, ...results];
    }
  }

  /** Tries each model in turn; `judge` says whether an answer is usable, else why not. */
  async function firstUsable<R>(
    use: ModelUse,
    context: CallContext,
    attempt: (model: ChatModel) => Promise<R>,
    options: { unsure?: (answer: R) => boolean } = {},
  ): Promise<{ answer: R; escalated: boolean }> {
    const candidates = await candidatesFor(use);
    let lastError: unknown;
    let unsureAnswer: R | undefined;
    for (const [index, model] of candidates.entries()) {
      const next = candidates[index + 1];
      try {
        const answer = await attempt(model);
        if (next !== undefined && model === local && options.unsure?.(answer)) {
          logger.info({ use, from: model.provider, to: next.provider }, 'the local model is unsure; asking the cloud model');
          unsureAnswer = answer;
          continue;
        }
        return { answer, escalated: index > 0 };
      } catch (error) {
        lastError = error;
        // A cancelled call (shutdown, user gave up) must not spill over to the other model, and
        // work waiting for a person's approval is not a failure either.
        if (context.signal?.aborted || error instanceof ToolCallPending) throw error;
        if (next !== undefined) logger.warn({ err: error, use, failed: model.provider, next: next.provider }, 'model call failed; trying the other model');
      }
    }
    // The cloud model failed after the local one was unsure: the unsure answer beats none.
    if (unsureAnswer !== undefined) return { answer: unsureAnswer, escalated: false };
    throw lastError;
  }

  return {
    async complete(use, request, context) {
      const continued = withPriorTurns(request, context);
      const { answer } = await firstUsable(use, context, async (model) => {
        const { result, latencyMs } = await converse(use, model, continued, context);
        await record(use, model, context, latencyMs, { result });
        return result;
      });
      return answer;
    },

    async structured(use, schema, request, options) {
      const continued = withPriorTurns(request, options);
      const { answer, escalated } = await firstUsable(
        use,
        options,
        async (model) => {
          let messages = continued.messages;
          let problem = '';
          // The first answer and one repair: the validation error goes back to the model.
          for (let round = 1; round <= 2; round++) {
            const { result, latencyMs, messages: conversation } = await converse(use, model, { ...request, messages }, options);
            const checked = validate(schema, result.text);
            await record(use, model, options, latencyMs, checked.ok ? { result } : { result, invalid: checked.problem });
            if (checked.ok) return { value: checked.value, result };
            problem = checked.problem;
            messages = [
              ...conversation,
              { role: 'assistant', content: result.text },
              { role: 'user', content: `That answer cannot be used: ${problem.slice(0, MAX_REPAIR_HINT_CHARS)}\nReply again with only the corrected JSON.` },
            ];
          }
          throw new AdjutantError('MODEL_OUTPUT_INVALID', `${model.provider}/${model.model} gave no valid answer for ${use} in two tries: ${problem.slice(0, 300)}`);
        },
        options.confident ? { unsure: (answer) => !options.confident?.(answer.value) } : {},
      );
      return { value: answer.value, result: answer.result, escalated };
    },

    available() {
      return { cloud: cloud !== undefined, local: local !== undefined };
    },
  };
}

/** The work's decided tool calls go right after its opening message: the model continues from them. */
function withPriorTurns(request: ChatRequest, context: CallContext): ChatRequest {
  const prior = context.tools?.priorTurns ?? [];
  const [opening, ...rest] = request.messages;
  if (prior.length === 0 || !opening) return request;
  return { ...request, messages: [opening, ...prior, ...rest] };
}

/** A model without tools cannot read tool turns: they become plain text it can. */
function withoutToolTurns(messages: ChatMessage[]): ChatMessage[] {
  const plain: ChatMessage[] = [];
  for (const message of messages) {
    if (message.role === 'tool') {
      const line = `Result of ${message.name}${message.isError ? ' (failed)' : ''}: ${message.content}`;
      const last = plain.at(-1);
      if (last?.role === 'user') plain[plain.length - 1] = { role: 'user', content: `${last.content}\n\n${line}` };
      else plain.push({ role: 'user', content: line });
    } else if (message.role === 'assistant') {
      const calls = (message.toolCalls ?? []).map((call) => `(called ${call.name} with ${JSON.stringify(call.input)})`).join(' ');
      plain.push({ role: 'assistant', content: [message.content, calls].filter((part) => part !== '').join(' ') || '(no text)' });
    } else {
      plain.push(message);
    }
  }
  return plain;
}

function validate<T>(schema: z.ZodType<T>, text: string): { ok: true; value: T } | { ok: false; problem: string } {
  const json = readJson(text);
  if (!json.ok) return { ok: false, problem: json.problem };
  const parsed = schema.safeParse(json.value);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, problem: `it does not match the required shape:\n${z.prettifyError(parsed.error)}` };
}

function describe(error: unknown): string {
  if (error instanceof AdjutantError) return `${error.code}: ${error.message}`;
  return errorMessage(error);
}
