import { z } from 'zod';
import { formatUsd, type WeekSpend } from '../../brains/weekly-budget.ts';
import type { JobDefinition, JobQueue } from '../job-queue.ts';
import { JOB_BUDGET_NOTICE } from '../job-names.ts';
import type { PipelineDeps } from '../pipeline-deps.ts';

const data = z.object({ weekStart: z.iso.datetime(), spentUsd: z.number().nonnegative(), limitUsd: z.number().nonnegative() });
export type BudgetNoticeData = z.infer<typeof data>;

/** Called by the weekly budget each time it refuses the cloud model; the week's key makes it one notice. */
export function noticeBudgetExhausted(queue: Pick<JobQueue, 'enqueue'>, week: WeekSpend): Promise<boolean> {
  return queue.enqueue(JOB_BUDGET_NOTICE, `week:${week.weekStart.toISOString().slice(0, 10)}`, {
    weekStart: week.weekStart.toISOString(),
    spentUsd: week.spentUsd,
    limitUsd: week.limitUsd,
  });
}

/** The notice itself: posted to the approvals channel, and in the audit log either way. */
export function budgetNoticeJob(deps: Pick<PipelineDeps, 'slack' | 'audit' | 'logger'>): JobDefinition<z.infer<typeof data>> {
  return {
    name: JOB_BUDGET_NOTICE,
    schema: data,
    async run({ weekStart, spentUsd, limitUsd }) {
      const text =
        `:money_with_wings: The cloud model budget for the week of ${weekStart.slice(0, 10)} is used up ` +
        `(${formatUsd(spentUsd)} of ${formatUsd(limitUsd)}, LLM_WEEKLY_BUDGET_USD). ` +
        'Until Monday, model work goes to the local model; without one it stops, and `adjutant status` lists the jobs that gave up (retry them after raising the cap). ' +
        'Raise LLM_WEEKLY_BUDGET_USD to lift the cap.';
      deps.logger.warn({ weekStart, spentUsd, limitUsd }, 'cloud model budget used up for the week');
      if (deps.slack) await deps.slack.poster.postNotice(deps.slack.approvalsChannel, text);
      await deps.audit.record({ actor: JOB_BUDGET_NOTICE, action: 'budget.exhausted', entityType: 'budget', entityId: weekStart.slice(0, 10), data: { spentUsd, limitUsd } });
    },
  };
}
