import { z } from 'zod';
import { escapeMrkdwn, followUpActions } from '../../channels/slack/blocks.ts';
import type { SlackPoster } from '../../channels/slack/slack-poster.ts';
import type { Database } from '../../db/database.ts';
import type { Logger } from '../../logger.ts';
import { localDate } from '../briefings.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_FOLLOW_UPS } from '../job-names.ts';

/** A draft waiting this long for a decision gets one reminder in its thread. */
export const REMIND_AFTER_MS = 4 * 3_600_000;

export interface FollowUpsDeps {
  database: Pick<Database, 'pool'>;
  slack: { poster: Pick<SlackPoster, 'postReply'>; approvalsChannel: string } | null;
  /** FOLLOW_UP_AFTER_DAYS; 0: sent replies are never raised. */
  followUpAfterDays: number;
  /** BRIEFING_TIMEZONE: the team's "today" for promised dates. */
  timezone: string;
  now(): Date;
  logger: Logger;
}

/**
 * What should not be forgotten, checked every few minutes: a draft waiting long for approval
 * (one reminder in its thread), a sent reply with no answer after FOLLOW_UP_AFTER_DAYS (raised
 * in its card's thread with a Draft a follow-up button; an answer arriving first cancels it),
 * and a date promised in a conversation (raised on its day). Each is claimed by a conditional
 * update before it is posted: once, however many workers run this.
 */
export function followUpsJob(deps: FollowUpsDeps): JobDefinition<Record<string, unknown>> {
  const { pool } = deps.database;
  return {
    name: JOB_FOLLOW_UPS,
    schema: z.record(z.string(), z.unknown()),
    async run() {
      if (!deps.slack) return;
      const { poster, approvalsChannel } = deps.slack;
      const now = deps.now();
      const post = (channel: string, threadTs: string, text: string, blocks?: unknown[]) =>
        poster.postReply(channel, threadTs, text, blocks).catch((error: unknown) => deps.logger.warn({ err: error }, 'could not post a follow-up'));

      const waiting = await pool.query<{ id: string; channel: string; card_ts: string; since: Date }>(
        `UPDATE drafts d SET reminded_at = $1
           FROM (SELECT email_id, min(created_at) AS since FROM drafts GROUP BY email_id) f
          WHERE f.email_id = d.email_id AND d.status = 'pending' AND d.reminded_at IS NULL AND d.slack_card_ts IS NOT NULL AND f.since < $2
            AND NOT EXISTS (SELECT 1 FROM drafts o WHERE o.email_id = d.email_id AND o.reminded_at IS NOT NULL)
          RETURNING d.id::text, d.slack_channel AS channel, d.slack_card_ts AS card_ts, f.since`,
        [now, new Date(now.getTime() - REMIND_AFTER_MS)],
      );
      for (const draft of waiting.rows) {
        const hours = Math.floor((now.getTime() - draft.since.getTime()) / 3_600_000);
        await post(draft.channel, draft.card_ts, `⏰ This draft has been waiting for approval for ${hours} h.`);
      }

      if (deps.followUpAfterDays > 0) {
        const unanswered = await pool.query<{ id: string; channel: string; card_ts: string; sent_at: Date; to_address: string }>(
          `UPDATE drafts d SET follow_up_raised_at = $1
             FROM emails mine
            WHERE mine.id = d.email_id AND d.status = 'sent' AND d.follow_up_raised_at IS NULL AND d.slack_card_ts IS NOT NULL AND d.sent_at < $2
              AND NOT EXISTS (SELECT 1 FROM emails answer WHERE answer.conversation_id = mine.conversation_id AND answer.id <> mine.id AND answer.received_at > d.sent_at)
              AND NOT EXISTS (SELECT 1 FROM drafts later WHERE later.email_id = d.email_id AND later.version > d.version)
            RETURNING d.id::text, d.slack_channel AS channel, d.slack_card_ts AS card_ts, d.sent_at, d.to_address`,
          [now, new Date(now.getTime() - deps.followUpAfterDays * 24 * 3_600_000)],
        );
        for (const draft of unanswered.rows) {
          const text = `📭 No answer from ${escapeMrkdwn(draft.to_address)} since our reply on ${draft.sent_at.toISOString().slice(0, 10)}.`;
          await post(draft.channel, draft.card_ts, text, [{ type: 'section', text: { type: 'mrkdwn', text } }, followUpActions(draft.id)]);
        }
      }

      const today = localDate(now, deps.timezone);
      const promised = await pool.query<{ subject: string; what: string; channel: string | null; card_ts: string | null }>(
        `WITH due AS (
           SELECT e.id, e.subject, d->>'what' AS what FROM emails e CROSS JOIN LATERAL jsonb_array_elements(COALESCE(e.triage_details->'dates', '[]'::jsonb)) d
            WHERE d->>'date' = $1 AND d->>'kind' IN ('promised', 'deadline') AND NOT ($1 = ANY(e.dates_raised))
         ), claimed AS (
           UPDATE emails SET dates_raised = array_append(dates_raised, $1) WHERE id IN (SELECT id FROM due) AND NOT ($1 = ANY(dates_raised)) RETURNING id
         )
         SELECT due.subject, due.what, card.slack_channel AS channel, card.slack_card_ts AS card_ts
           FROM due JOIN claimed ON claimed.id = due.id
           LEFT JOIN LATERAL (SELECT slack_channel, slack_card_ts FROM drafts WHERE email_id = due.id AND slack_card_ts IS NOT NULL ORDER BY version DESC LIMIT 1) card ON true`,
        [today],
      );
      for (const date of promised.rows) {
        const text = `📅 Due today: ${escapeMrkdwn(date.what)} (from “${escapeMrkdwn(date.subject)}”).`;
        if (date.channel && date.card_ts) await post(date.channel, date.card_ts, text);
        else await poster.postReply(approvalsChannel, null, text).catch((error: unknown) => deps.logger.warn({ err: error }, 'could not post a due date'));
      }
    },
  };
}
