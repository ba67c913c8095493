import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { isTimeZone } from '../config.ts';
import { AdjutantError, errorMessage } from '../errors.ts';

/**
 * Cron schedules for the job queue. A tick (once a minute, on one worker at a time) enqueues,
 * for each schedule, the occurrence that just passed, keyed by its time: the key makes it one
 * job however many workers tick, and a restart in the same minute finds the key taken. The
 * clock is the queue's, injected, so tests move it instead of waiting.
 */

/** What a scheduled job is given: the occurrence it runs for (also its key), which a late run still knows. */
export const scheduledJobData = z.object({ scheduledFor: z.iso.datetime() });
export type ScheduledJobData = z.infer<typeof scheduledJobData>;

export interface Schedule {
  /** Five fields (minute hour day-of-month month weekday), or six with seconds first. */
  cron: string;
  /** The IANA time zone the expression is read in: 08:00 stays 08:00 there across daylight-saving changes. */
  timezone: string;
  /**
   * How long after an occurrence it is still worth running (the service was down at 08:00 and
   * back at 08:10); later than that it is stale and skipped. Default 15 minutes; at least one,
   * since ticks are a minute apart.
   */
  graceMs?: number;
}

export const DEFAULT_SCHEDULE_GRACE_MS = 15 * 60_000;
const MIN_GRACE_MS = 60_000;
/** The tick's own schedule: on the minute, so an occurrence at 08:00 is enqueued at 08:00, not up to a minute later. */
export const SCHEDULE_TICK_CRON = '* * * * *';

export interface Scheduler {
  /** Registers (or replaces) the schedule of a job; throws CONFIG_INVALID for a bad expression or zone. */
  add(name: string, schedule: Schedule): void;
  /** Enqueues each schedule's occurrence due at `now()`; returns how many jobs it created. */
  tick(): Promise<number>;
}

/**
 * `enqueueOnce` creates the job unless its key is taken, and does not revive one that gave up:
 * a tick would otherwise run a failed occurrence again every minute of its grace period.
 */
export function createScheduler(deps: { enqueueOnce(name: string, key: string, data: ScheduledJobData): Promise<boolean>; now(): Date }): Scheduler {
  const schedules = new Map<string, Required<Schedule>>();
  return {
    add(name, schedule) {
      schedules.set(name, checkedSchedule(name, schedule));
    },
    async tick() {
      let created = 0;
      for (const [name, schedule] of schedules) {
        const due = dueOccurrence(schedule, deps.now());
        if (!due) continue;
        const scheduledFor = due.toISOString();
        if (await deps.enqueueOnce(name, scheduledFor, { scheduledFor })) created += 1;
      }
      return created;
    },
  };
}

/** The latest occurrence at or before `now`, if it passed less than the grace period ago. */
export function dueOccurrence(schedule: Schedule, now: Date): Date | null {
  // +1 ms: an occurrence exactly at `now` counts as passed (prev() is strictly before its start).
  const previous = CronExpressionParser.parse(schedule.cron, { tz: schedule.timezone, currentDate: new Date(now.getTime() + 1) }).prev().toDate();
  return now.getTime() - previous.getTime() < (schedule.graceMs ?? DEFAULT_SCHEDULE_GRACE_MS) ? previous : null;
}

/** Fails at registration (start-up), naming the job and the fix, rather than at the first tick. */
export function checkedSchedule(name: string, schedule: Schedule): Required<Schedule> {
  const graceMs = schedule.graceMs ?? DEFAULT_SCHEDULE_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < MIN_GRACE_MS) {
    throw new AdjutantError('CONFIG_INVALID', `the schedule of ${name} has graceMs ${graceMs}: use at least ${MIN_GRACE_MS} (ticks are a minute apart, so a shorter grace could skip occurrences)`);
  }
  if (!isTimeZone(schedule.timezone)) {
    throw new AdjutantError('CONFIG_INVALID', `the schedule of ${name} has time zone "${schedule.timezone}", which is not an IANA time zone: use one such as Europe/Berlin or UTC`);
  }
  // cron-parser reads four fields without complaint; what it means then is anyone's guess.
  const fields = schedule.cron.trim().split(/\s+/).length;
  try {
    if (fields !== 5 && fields !== 6) throw new Error(`it has ${fields} fields`);
    CronExpressionParser.parse(schedule.cron, { tz: schedule.timezone }).next();
  } catch (error) {
    throw new AdjutantError('CONFIG_INVALID', `the schedule of ${name} has cron expression "${schedule.cron}", which cannot be read (${errorMessage(error)}): use five fields such as "0 8 * * 1-5"`, { cause: error });
  }
  return { cron: schedule.cron, timezone: schedule.timezone, graceMs };
}
