import { randomUUID } from 'node:crypto';
import { writeOpening } from '../agents/briefer.ts';
import type { ModelRouter } from '../brains/router.ts';
import { briefingMessage, type BriefingData } from '../channels/slack/briefing-view.ts';
import type { CardLink } from '../channels/slack/overview-view.ts';
import type { SlackPoster } from '../channels/slack/slack-poster.ts';
import type { Database } from '../db/database.ts';
import type { HealthRegistry } from '../health.ts';
import type { Logger } from '../logger.ts';
import { gatherBriefing } from './briefing-data.ts';
import { checkedSchedule, type Schedule } from './schedules.ts';

/**
 * A scheduled time is still worth posting this long after it passed (the service was down at
 * 08:00 and back at 08:10); later than that the briefing is stale and skipped.
 */
export const BRIEFING_GRACE_MS = 15 * 60_000;
/** The first briefing, or one after a long gap, covers at most this much mail. */
const LONGEST_WINDOW_MS = 3 * 24 * 3_600_000;

export interface BriefingsDeps {
  database: Pick<Database, 'pool' | 'prisma'>;
  health: Pick<HealthRegistry, 'report'>;
  router: ModelRouter | null;
  weeklyBudgetUsd: number;
  teamName: string;
  /** BRIEFING_CRON and BRIEFING_TIMEZONE. */
  cron: string;
  timezone: string;
  /** SLACK_BRIEFING_CHANNEL's poster; null: scheduled briefings are not posted (and say why once). */
  slack: { poster: Pick<SlackPoster, 'postBriefing'>; channel: string } | null;
  links: () => Promise<CardLink>;
  logger: Logger;
}

export interface Briefings {
  /** When scheduled briefings are posted: the job queue enqueues each time once (queue.schedule). */
  schedule: Schedule;
  /** Post the briefing for a scheduled time, at most once however often this is called. */
  postScheduled(scheduledFor: Date, now: Date): Promise<'posted' | 'already' | 'no-channel'>;
  /** A briefing now, for `/adjutant briefing`: the same content, since the last scheduled one. */
  onDemand(now: Date): Promise<{ text: string; blocks: unknown[] }>;
}

export function createBriefings(deps: BriefingsDeps): Briefings {
  const { database, logger } = deps;
  // Checked at start-up (config.ts validated its shape): a bad expression fails here, loudly.
  const schedule = checkedSchedule('the morning briefing (BRIEFING_CRON, BRIEFING_TIMEZONE)', { cron: deps.cron, timezone: deps.timezone, graceMs: BRIEFING_GRACE_MS });

  /** Mail since the last posted scheduled briefing (at most LONGEST_WINDOW_MS back). */
  async function windowEnding(now: Date, before: Date): Promise<{ since: Date; now: Date; today: string }> {
    const last = await database.prisma.briefing.findFirst({ where: { kind: 'scheduled', postedAt: { not: null }, scheduledFor: { lt: before } }, orderBy: { scheduledFor: 'desc' } });
    const floor = new Date(now.getTime() - LONGEST_WINDOW_MS);
    const since = last?.scheduledFor && last.scheduledFor > floor ? last.scheduledFor : new Date(Math.max(floor.getTime(), now.getTime() - 24 * 3_600_000));
    return { since, now, today: localDate(now, deps.timezone) };
  }

  async function compose(data: BriefingData, briefingId: string, title: string) {
    let opening: string | null = null;
    if (deps.router) {
      // The briefing is data first: a model that fails costs the opening paragraph, nothing else.
      opening = await writeOpening(deps.router, { teamName: deps.teamName, data, briefingId }).catch((error: unknown) => {
        logger.warn({ err: error }, 'briefing opening not written; posting the data alone');
        return null;
      });
    }
    return briefingMessage(data, { opening, link: await deps.links(), title });
  }

  return {
    schedule,
    async postScheduled(scheduledFor, now) {
      if (!deps.slack) return 'no-channel';
      const id = randomUUID();
      // The row first, unique per scheduled time: a second worker or a rerun after a crash finds
      // it and posts nothing (a crash between the row and the post loses that one briefing
      // rather than risking two).
      const claimed = await database.pool.query(
        `INSERT INTO briefings (id, kind, scheduled_for, channel) VALUES ($1, 'scheduled', $2, $3) ON CONFLICT (scheduled_for) DO NOTHING RETURNING id`,
        [id, scheduledFor, deps.slack.channel],
      );
      if (claimed.rowCount !== 1) return 'already';
      const data = await gatherBriefing(deps, await windowEnding(now, scheduledFor));
      const message = await compose(data, id, `Morning briefing, ${localDate(scheduledFor, deps.timezone)}`);
      const { ts } = await deps.slack.poster.postBriefing(deps.slack.channel, message);
      await database.prisma.briefing.update({ where: { id }, data: { ts, postedAt: new Date() } });
      return 'posted';
    },
    async onDemand(now) {
      const id = randomUUID();
      const data = await gatherBriefing(deps, await windowEnding(now, now));
      const message = await compose(data, id, 'Briefing (on demand)');
      await database.prisma.briefing.create({ data: { id, kind: 'on-demand', postedAt: now } });
      return message;
    },
  };
}

/** YYYY-MM-DD in `timezone`: the day a promised date is "today" for the team. */
export function localDate(at: Date, timezone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
}
