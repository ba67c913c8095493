import type { Provider } from './types.ts';

/**
 * What a model call costs, for the ledger and (later) the weekly budget (LLM_WEEKLY_BUDGET_USD). Prices are list prices
 * in USD per million tokens from Anthropic's pricing page (platform.claude.com/docs/en/about-claude/pricing).
 * Prompt caching and batch discounts are ignored: we send neither, so base rates are the bill.
 *
 * Rows are matched in order against the model id, so a generation whose price differs from the
 * rest of its family comes before the family row. When Anthropic changes a price, change it here.
 */
interface PriceRow {
  pattern: RegExp;
  inputPerMillion: number;
  outputPerMillion: number;
}

const ANTHROPIC_PRICES: readonly PriceRow[] = [
  // Fable and Mythos (5, 5.1): the top tier.
  { pattern: /fable|mythos/, inputPerMillion: 10, outputPerMillion: 50 },
  // Opus 3, 4 and 4.1 were priced three times higher than Opus 4.5 and later.
  { pattern: /claude-3-opus|opus-4-1(?!\d)|opus-4-2025|opus-4$|opus-4@/, inputPerMillion: 15, outputPerMillion: 75 },
  // Opus 4.5 to 5.5 (5.5 is listed lower, at $4/$20; charging $5/$25 errs on the safe side).
  { pattern: /opus/, inputPerMillion: 5, outputPerMillion: 25 },
  { pattern: /sonnet-5/, inputPerMillion: 2, outputPerMillion: 10 },
  // Sonnet 3.5 to 4.6 (prompts over 200K tokens cost more on some; we never send those).
  { pattern: /sonnet/, inputPerMillion: 3, outputPerMillion: 15 },
  { pattern: /claude-3-haiku/, inputPerMillion: 0.25, outputPerMillion: 1.25 },
  { pattern: /claude-3-5-haiku/, inputPerMillion: 0.8, outputPerMillion: 4 },
  // Haiku 4.5; Haiku 5.5 is assumed to cost the same until its price is listed.
  { pattern: /haiku/, inputPerMillion: 1, outputPerMillion: 5 },
];

/**
 * An Anthropic model we cannot place is charged at the highest price Anthropic has ever listed,
 * so a budget over-counts a new model rather than letting it spend unnoticed.
 */
const UNKNOWN_ANTHROPIC_PRICE: Omit<PriceRow, 'pattern'> = { inputPerMillion: 15, outputPerMillion: 75 };

export function pricePerMillion(
  provider: Provider,
  model: string,
): { inputPerMillion: number; outputPerMillion: number } {
  // Local models cost electricity, not money we can attribute per call.
  if (provider === 'ollama') return { inputPerMillion: 0, outputPerMillion: 0 };
  const id = model.toLowerCase();
  const row = ANTHROPIC_PRICES.find((candidate) => candidate.pattern.test(id)) ?? UNKNOWN_ANTHROPIC_PRICE;
  return { inputPerMillion: row.inputPerMillion, outputPerMillion: row.outputPerMillion };
}

export function costUsd(provider: Provider, model: string, inputTokens: number, outputTokens: number): number {
  const price = pricePerMillion(provider, model);
  return (inputTokens * price.inputPerMillion + outputTokens * price.outputPerMillion) / 1_000_000;
}
