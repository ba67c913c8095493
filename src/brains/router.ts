import { AdjutantError, errorMessage } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { costUsd } from './pricing.ts';
import type { CallLedger, ChatModel, ChatRequest, ChatResult, Tier } from './types.ts';

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

export interface ModelRouter {
  /** `purpose` names the caller in the ledger (e.g. 'triage', 'draft'). */
  complete(tier: Tier, purpose: string, request: ChatRequest, options?: { signal?: AbortSignal }): Promise<ChatResult>;
  available(): { cloud: boolean; local: boolean };
}

/**
 * Picks a model per call: hard work goes to the cloud first, routine work stays local first,
 * and whichever is second catches the first one's failure. Every attempt is written to the
 * ledger, failed ones included, so cost and reliability can be read from one table.
 */
export function createModelRouter(deps: ModelRouterDeps): ModelRouter {
  const { cloud, local, ledger, logger, budget } = deps;
  const now = deps.now ?? (() => performance.now());

  async function candidatesFor(tier: Tier): Promise<ChatModel[]> {
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
        'The cloud model budget is used up and no local model is configured: raise the budget or set OLLAMA_HOST',
        { retryable: false },
      );
    }
    logger.info({ tier }, 'cloud model budget used up; using the local model');
    return withoutCloud;
  }

  async function record(
    tier: Tier,
    purpose: string,
    model: ChatModel,
    latencyMs: number,
    outcome: { result: ChatResult } | { error: unknown },
  ): Promise<void> {
    const tokens =
      'result' in outcome
        ? { inputTokens: outcome.result.inputTokens, outputTokens: outcome.result.outputTokens }
        : { inputTokens: 0, outputTokens: 0 };
    try {
      await ledger.record({
        provider: model.provider,
        model: model.model,
        tier,
        purpose,
        ...tokens,
        costUsd: costUsd(model.provider, model.model, tokens.inputTokens, tokens.outputTokens),
        latencyMs,
        ok: 'result' in outcome,
        ...('error' in outcome ? { error: describe(outcome.error) } : {}),
      });
    } catch (error) {
      // The model call already happened (and may have been paid for); losing its answer
      // because the ledger write failed would only make the caller pay again.
      logger.error({ err: error, provider: model.provider, purpose }, 'could not record a model call in the ledger');
    }
  }

  return {
    async complete(tier, purpose, request, options) {
      const candidates = await candidatesFor(tier);
      let lastError: unknown;
      for (const [index, model] of candidates.entries()) {
        const startedAt = now();
        try {
          const result = await model.chat(request, options);
          await record(tier, purpose, model, Math.round(now() - startedAt), { result });
          return result;
        } catch (error) {
          await record(tier, purpose, model, Math.round(now() - startedAt), { error });
          lastError = error;
          // A cancelled call (shutdown, user gave up) must not spill over to the other model.
          if (options?.signal?.aborted) throw error;
          const next = candidates[index + 1];
          if (next !== undefined) {
            logger.warn(
              { err: error, tier, purpose, failed: model.provider, next: next.provider },
              'model call failed; falling back to the other model',
            );
          }
        }
      }
      throw lastError;
    },
    available() {
      return { cloud: cloud !== undefined, local: local !== undefined };
    },
  };
}

function describe(error: unknown): string {
  if (error instanceof AdjutantError) return `${error.code}: ${error.message}`;
  return errorMessage(error);
}
