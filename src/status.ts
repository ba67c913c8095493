import type { Database } from './db/database.ts';
import { readDeadJobs, readRetryingJobs, type DeadJob, type RetryingJob } from './db/job-table.ts';
import { createWeeklyBudget, formatUsd, type WeekSpend } from './brains/weekly-budget.ts';
import { createDraftStore } from './orchestrator/draft-store.ts';

/** What needs a person's attention, read from the database (the service need not be running). */
export interface StatusReport {
  drafts: Record<string, number>;
  /** Drafts that cannot move on without someone: failed, may have been sent, or stranded. */
  attention: { id: string; status: string; to: string; subject: string; since: Date; error: string | null }[];
  deadJobs: DeadJob[];
  /** Work that failed and waits to run again (a model or a server down): never dropped. */
  retrying: RetryingJob[];
  mailboxes: { mailbox: string; lastUid: number; updatedAt: Date }[];
  /** Items remembered, the embedding model in use, and passages still waiting for its vectors. */
  memory: { items: number; currentModel: string | null; waiting: number };
  /** This week's model calls from the ledger: spend against LLM_WEEKLY_BUDGET_USD and the local share. */
  models: WeekSpend;
}

/** approved/sending longer than this is stranded (the reconciler normally moves it within seconds). */
const STRANDED_AFTER_MS = 60_000;

export async function readStatus(database: Database, now = new Date(), options: { weeklyBudgetUsd?: number } = {}): Promise<StatusReport> {
  const { prisma, pool } = database;
  const drafts = await createDraftStore(prisma).countByStatus();
  const stranded = new Date(now.getTime() - STRANDED_AFTER_MS);
  const attention = await prisma.draft.findMany({
    where: {
      OR: [{ status: { in: ['failed', 'unknown'] } }, { status: { in: ['approved', 'sending'] }, updatedAt: { lt: stranded } }],
    },
    orderBy: { updatedAt: 'asc' },
    take: 50,
  });
  const mailboxes = await prisma.mailboxState.findMany({ orderBy: { mailbox: 'asc' } });
  return {
    drafts,
    attention: attention.map((draft) => ({ id: draft.id, status: draft.status, to: draft.toAddress, subject: draft.subject, since: draft.updatedAt, error: draft.error })),
    deadJobs: await readDeadJobs(pool, 50),
    retrying: await readRetryingJobs(pool, 50),
    mailboxes: mailboxes.map((state) => ({ mailbox: state.mailbox, lastUid: state.lastUid, updatedAt: state.updatedAt })),
    memory: await readMemoryStatus(pool),
    models: await createWeeklyBudget({ pool, limitUsd: options.weeklyBudgetUsd ?? 0, now: () => now }).week(),
  };
}

async function readMemoryStatus(pool: Database['pool']): Promise<StatusReport['memory']> {
  const result = await pool.query<{ items: number; waiting: number; model: string | null }>(
    `SELECT (SELECT count(*)::int FROM memory_items WHERE deleted_at IS NULL) AS items,
            (SELECT count(*)::int FROM memory_chunks WHERE needs_embedding) AS waiting,
            (SELECT model FROM embedding_models WHERE is_current) AS model`,
  );
  const row = result.rows[0];
  return { items: row?.items ?? 0, currentModel: row?.model ?? null, waiting: row?.waiting ?? 0 };
}

const LABEL: Record<string, string> = {
  failed: 'failed (Retry on the card)',
  unknown: 'may have been sent (Send again on the card)',
  approved: 'approved, not sent yet',
  sending: 'sending',
};

export function formatStatus(report: StatusReport): string {
  const lines: string[] = [];
  const counts = Object.entries(report.drafts)
    .map(([status, count]) => `${status} ${count}`)
    .join(', ');
  lines.push(`Drafts: ${counts || 'none'}`);
  if (report.attention.length === 0) {
    lines.push('Nothing stuck: no failed, uncertain or stranded sends.');
  } else {
    lines.push('', 'Needs attention:');
    for (const item of report.attention) {
      lines.push(`  ${item.id}  ${LABEL[item.status] ?? item.status} since ${item.since.toISOString()}  to ${item.to}  "${item.subject}"${item.error ? `\n      ${item.error}` : ''}`);
    }
  }
  if (report.deadJobs.length > 0) {
    lines.push('', 'Jobs that gave up (they run again when the same item arrives or the reconciler revives them):');
    for (const job of report.deadJobs) {
      lines.push(`  ${job.id}  ${job.name} ${job.key ?? ''}  failed ${job.failCount}× at ${job.failedAt?.toISOString() ?? '?'}: ${job.reason ?? 'no reason recorded'}`);
    }
  }
  if (report.retrying.length > 0) {
    lines.push('', 'Waiting to run again (failed, will retry on their own):');
    for (const job of report.retrying) {
      lines.push(`  ${job.id}  ${job.name} ${job.key ?? ''}  ${job.failCount} failure(s), next try ${job.nextRunAt.toISOString()}: ${job.reason ?? 'no reason recorded'}`);
    }
  }
  const { memory } = report;
  lines.push(
    '',
    `Memory: ${memory.items} item(s); ${memory.currentModel ? `embeddings by ${memory.currentModel}, ${memory.waiting === 0 ? 'all passages embedded' : `${memory.waiting} passage(s) waiting to be embedded (found by their words meanwhile)`}` : 'no embeddings yet (EMBEDDER none, or nothing embedded so far)'}`,
  );
  lines.push('', formatModelWeek(report.models));
  for (const mailbox of report.mailboxes) lines.push('', `Mailbox ${mailbox.mailbox}: last UID ${mailbox.lastUid}, last change ${mailbox.updatedAt.toISOString()}`);
  return lines.join('\n');
}

/** Exit code for the CLI: 1 when something needs a person. */
export function statusExitCode(report: StatusReport): number {
  return report.attention.length > 0 || report.deadJobs.length > 0 ? 1 : 0;
}

/** "Models this week …": spend against the budget and how much the local model served. */
export function formatModelWeek(week: WeekSpend): string {
  const since = `since ${week.weekStart.toISOString().slice(0, 10)}`;
  if (week.calls === 0) return `Models this week (${since}): no calls yet; budget ${formatUsd(week.limitUsd)}.`;
  const share = week.servedCalls === 0 ? 'none served' : `${Math.round((week.localCalls / week.servedCalls) * 100)}% served by the local model`;
  const failed = week.calls - week.servedCalls;
  const cap = week.spentUsd >= week.limitUsd ? ' (budget used up: cloud work goes to the local model)' : '';
  return `Models this week (${since}): ${formatUsd(week.spentUsd)} of ${formatUsd(week.limitUsd)} spent${cap}; ${week.servedCalls} call(s) answered, ${share}${failed > 0 ? `; ${failed} failed attempt(s)` : ''}.`;
}
