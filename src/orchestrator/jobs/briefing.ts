import { z } from 'zod';
import type { Logger } from '../../logger.ts';
import type { Briefings } from '../briefings.ts';
import type { JobDefinition, JobQueue } from '../job-queue.ts';
import { JOB_BRIEFING_POST, JOB_BRIEFING_TICK } from '../job-names.ts';

/**
 * Each tick (every minute, on one worker at a time) asks whether a scheduled time just passed
 * and enqueues its post keyed by that time: the key makes it one job however many workers tick,
 * and a restart in the same minute finds the key taken. `now` is injected: tests move the clock.
 */
export function briefingTickJob(deps: { briefings: Briefings; queue: Pick<JobQueue, 'enqueue'>; now(): Date }): JobDefinition<Record<string, unknown>> {
  return {
    name: JOB_BRIEFING_TICK,
    schema: z.record(z.string(), z.unknown()),
    async run() {
      const due = deps.briefings.dueAt(deps.now());
      if (due) await deps.queue.enqueue(JOB_BRIEFING_POST, due.toISOString(), { scheduledFor: due.toISOString() });
    },
  };
}

const postData = z.object({ scheduledFor: z.iso.datetime() });

export function briefingPostJob(deps: { briefings: Briefings; now(): Date; logger: Logger }): JobDefinition<z.infer<typeof postData>> {
  let toldNoChannel = false;
  return {
    name: JOB_BRIEFING_POST,
    schema: postData,
    async run({ scheduledFor }) {
      const outcome = await deps.briefings.postScheduled(new Date(scheduledFor), deps.now());
      if (outcome === 'no-channel' && !toldNoChannel) {
        toldNoChannel = true;
        deps.logger.warn({ scheduledFor }, 'morning briefing not posted: set SLACK_BRIEFING_CHANNEL (and the Slack settings) to receive it');
      }
    },
  };
}
