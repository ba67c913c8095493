import { createWeeklyBudget } from '../brains/weekly-budget.ts';
import type { Database } from '../db/database.ts';
import { readDeadJobs, readRetryingJobs } from '../db/job-table.ts';
import type { HealthRegistry } from '../health.ts';
import type { BriefingData } from '../channels/slack/briefing-view.ts';

export interface BriefingDeps {
  database: Pick<Database, 'pool'>;
  health: Pick<HealthRegistry, 'report'>;
  weeklyBudgetUsd: number;
}

/** A conversation whose last word is theirs for longer than this is waiting on us. */
export const WAITING_ON_US_HOURS = 24;
const LISTED = 8;

/**
 * What the morning briefing says, read from the data (no model): mail since `since` by
 * category with the few that need attention, drafts awaiting approval, conversations waiting
 * on us, dates promised or due `today` (YYYY-MM-DD in the briefing's time zone), the mailbox
 * and the jobs, and this week's model spend.
 */
export async function gatherBriefing(deps: BriefingDeps, window: { since: Date; now: Date; today: string }): Promise<BriefingData> {
  const { pool } = deps.database;
  const { since, now, today } = window;
  const [byCategory, attention, pending, waiting, due, deadJobs, retrying, health, models] = await Promise.all([
    pool.query<{ category: string; count: number }>(
      `SELECT CASE WHEN is_forward THEN 'forward' ELSE COALESCE(triage_category, 'unsorted') END AS category, count(*)::int AS count
         FROM emails WHERE received_at >= $1 AND received_at < $2 AND mailbox NOT LIKE 'import:%'
        GROUP BY 1 ORDER BY 2 DESC`,
      [since, now],
    ),
    pool.query<{ subject: string; sender: string | null; summary: string | null; urgency: string | null; category: string | null; channel: string | null; card_ts: string | null }>(
      `SELECT e.subject, COALESCE(e.original_from, e.from_address) AS sender, e.triage_summary AS summary, e.triage_urgency AS urgency, e.triage_category AS category,
              d.slack_channel AS channel, d.slack_card_ts AS card_ts
         FROM emails e LEFT JOIN LATERAL (SELECT slack_channel, slack_card_ts FROM drafts WHERE email_id = e.id ORDER BY version DESC LIMIT 1) d ON true
        WHERE e.received_at >= $1 AND e.received_at < $2 AND (e.triage_urgency = 'high' OR e.triage_category = 'task')
        ORDER BY (e.triage_urgency = 'high') DESC, e.received_at DESC LIMIT $3`,
      [since, now, LISTED],
    ),
    pool.query<{ subject: string; to_address: string; since: Date; channel: string | null; card_ts: string | null }>(
      `SELECT d.subject, d.to_address, (SELECT min(f.created_at) FROM drafts f WHERE f.email_id = d.email_id) AS since, d.slack_channel AS channel, d.slack_card_ts AS card_ts
         FROM drafts d WHERE d.status = 'pending' ORDER BY since ASC LIMIT $1`,
      [LISTED],
    ),
    // The newest email of each conversation that needs a reply, with no reply of ours sent after it.
    pool.query<{ subject: string; sender: string | null; received_at: Date; channel: string | null; card_ts: string | null }>(
      `SELECT latest.subject, latest.sender, latest.received_at, latest.channel, latest.card_ts FROM (
         SELECT DISTINCT ON (e.conversation_id) e.conversation_id, e.subject, COALESCE(e.original_from, e.from_address) AS sender, e.received_at,
                e.is_forward, e.triage_category, d.slack_channel AS channel, d.slack_card_ts AS card_ts
           FROM emails e LEFT JOIN LATERAL (SELECT slack_channel, slack_card_ts FROM drafts WHERE email_id = e.id ORDER BY version DESC LIMIT 1) d ON true
          WHERE e.conversation_id IS NOT NULL AND e.mailbox NOT LIKE 'import:%'
          ORDER BY e.conversation_id, e.received_at DESC) latest
        WHERE (latest.is_forward OR latest.triage_category = 'needs_reply') AND latest.received_at < $1
          AND NOT EXISTS (SELECT 1 FROM drafts s JOIN emails r ON r.id = s.email_id
                           WHERE r.conversation_id = latest.conversation_id AND s.status = 'sent' AND s.sent_at >= latest.received_at)
        ORDER BY latest.received_at ASC LIMIT $2`,
      [new Date(now.getTime() - WAITING_ON_US_HOURS * 3_600_000), LISTED],
    ),
    pool.query<{ subject: string; what: string; kind: string; channel: string | null; card_ts: string | null }>(
      `SELECT e.subject, date->>'what' AS what, date->>'kind' AS kind, d.slack_channel AS channel, d.slack_card_ts AS card_ts
         FROM emails e CROSS JOIN LATERAL jsonb_array_elements(COALESCE(e.triage_details->'dates', '[]'::jsonb)) AS date
         LEFT JOIN LATERAL (SELECT slack_channel, slack_card_ts FROM drafts WHERE email_id = e.id ORDER BY version DESC LIMIT 1) d ON true
        WHERE date->>'date' = $1 ORDER BY e.received_at LIMIT $2`,
      [today, LISTED],
    ),
    readDeadJobs(deps.database.pool, LISTED),
    readRetryingJobs(deps.database.pool, LISTED),
    deps.health.report(),
    createWeeklyBudget({ pool, limitUsd: deps.weeklyBudgetUsd, now: () => now }).week(),
  ]);
  return {
    since,
    now,
    mail: {
      byCategory: Object.fromEntries(byCategory.rows.map((row) => [row.category, row.count])),
      attention: attention.rows.map((row) => ({ subject: row.subject, from: row.sender, summary: row.summary, urgency: row.urgency, category: row.category, channel: row.channel, cardTs: row.card_ts })),
    },
    pending: pending.rows.map((row) => ({ subject: row.subject, to: row.to_address, since: row.since, channel: row.channel, cardTs: row.card_ts })),
    waitingOnUs: waiting.rows.map((row) => ({ subject: row.subject, from: row.sender, since: row.received_at, channel: row.channel, cardTs: row.card_ts })),
    dueToday: due.rows.map((row) => ({ subject: row.subject, what: row.what, kind: row.kind, channel: row.channel, cardTs: row.card_ts })),
    mailbox: health.parts.imap ?? { status: 'disabled', reason: 'IMAP is not configured' },
    jobs: { dead: deadJobs.map((job) => ({ name: job.name, reason: job.reason })), retrying: retrying.length },
    models: { spentUsd: models.spentUsd, limitUsd: models.limitUsd, localCalls: models.localCalls, servedCalls: models.servedCalls },
  };
}
