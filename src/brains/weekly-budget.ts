import type { Database } from '../db/database.ts';
import type { CloudBudget } from './router.ts';

/** This week's model use, read from the ledger: what the status and the budget go by. */
export interface WeekSpend {
  /** Monday 00:00 UTC of the current week. */
  weekStart: Date;
  spentUsd: number;
  limitUsd: number;
  calls: number;
  /** Calls answered by the local model (failed attempts are not calls served). */
  localCalls: number;
  servedCalls: number;
}

export interface WeeklyBudget extends CloudBudget {
  week(): Promise<WeekSpend>;
}

export interface WeeklyBudgetDeps {
  pool: Database['pool'];
  /** LLM_WEEKLY_BUDGET_USD; 0 keeps every call off the cloud model. */
  limitUsd: number;
  now?: () => Date;
  /**
   * Called whenever the cap refuses the cloud model, with the week it is for; it must tell the
   * team once per week however often it is called (the job queue's key does that).
   */
  onExhausted?: (week: WeekSpend) => Promise<void>;
}

/**
 * The weekly cap on cloud spend. The ledger is the truth: the week's sum of recorded costs is
 * read at each decision (one indexed sum, far cheaper than the call it guards), so every
 * process and a restart see the same figure. A call in flight when the cap is crossed still
 * finishes: the cap can be passed by at most the calls that were already running.
 */
export function createWeeklyBudget(deps: WeeklyBudgetDeps): WeeklyBudget {
  const now = deps.now ?? (() => new Date());

  async function week(): Promise<WeekSpend> {
    const weekStart = startOfWeek(now());
    const result = await deps.pool.query<{ spent: string; calls: number; local_calls: number; served_calls: number }>(
      `SELECT COALESCE(sum(cost_usd), 0)::text AS spent, count(*)::int AS calls,
              (count(*) FILTER (WHERE ok AND provider = 'ollama'))::int AS local_calls,
              (count(*) FILTER (WHERE ok))::int AS served_calls
         FROM model_calls WHERE at >= $1`,
      [weekStart],
    );
    const row = result.rows[0];
    return {
      weekStart,
      spentUsd: Number(row?.spent ?? 0),
      limitUsd: deps.limitUsd,
      calls: row?.calls ?? 0,
      localCalls: row?.local_calls ?? 0,
      servedCalls: row?.served_calls ?? 0,
    };
  }

  return {
    week,
    async allowCloud() {
      const spend = await week();
      if (spend.spentUsd < spend.limitUsd) return true;
      // A cap of 0 is a choice, not news; and a failed notice is tried again at the next refusal.
      if (spend.limitUsd > 0) await deps.onExhausted?.(spend).catch(() => undefined);
      return false;
    },
  };
}

/** Weeks start on Monday, 00:00 UTC. */
export function startOfWeek(at: Date): Date {
  const day = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  const sinceMonday = (day.getUTCDay() + 6) % 7;
  day.setUTCDate(day.getUTCDate() - sinceMonday);
  return day;
}

/** Dollars as people read them: cents, or four places for amounts under a cent. */
export function formatUsd(amount: number): string {
  return `$${amount > 0 && amount < 0.01 ? amount.toFixed(4) : amount.toFixed(2)}`;
}
