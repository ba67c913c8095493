import type { Logger } from '../../logger.ts';
import type { Briefings } from '../briefings.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_BRIEFING_POST } from '../job-names.ts';
import { scheduledJobData, type ScheduledJobData } from '../schedules.ts';

/** The briefing's job data: the scheduled time it is for (the queue's schedule tick enqueues it). */
export type BriefingPostData = ScheduledJobData;

export function briefingPostJob(deps: { briefings: Briefings; now(): Date; logger: Logger }): JobDefinition<BriefingPostData> {
  let toldNoChannel = false;
  return {
    name: JOB_BRIEFING_POST,
    schema: scheduledJobData,
    async run({ scheduledFor }) {
      const outcome = await deps.briefings.postScheduled(new Date(scheduledFor), deps.now());
      if (outcome === 'no-channel' && !toldNoChannel) {
        toldNoChannel = true;
        deps.logger.warn({ scheduledFor }, 'morning briefing not posted: set SLACK_BRIEFING_CHANNEL (and the Slack settings) to receive it');
      }
    },
  };
}
