import { z } from 'zod';
import { errorMessage } from '../../errors.ts';
import { sendJobKey } from '../approvals.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_DRAFT_REPLY, JOB_POST_APPROVAL, JOB_RECONCILE, JOB_REMEMBER_EMAIL, JOB_SEND_REPLY } from '../job-names.ts';
import type { PipelineDeps } from '../pipeline-deps.ts';
import { giveUpAsUnknown } from './send-reply.ts';

export interface ReconcileOptions {
  /** How long a draft may sit in approved, or unposted, before it counts as stranded. */
  graceMs: number;
  /** A pipeline job whose retries were spent is revived after this long (an outage may be over)… */
  reviveAfterMs: number;
  /** …at most this many times, then it stays failed and is announced. */
  maxRevivals: number;
}

// The grace only has to cover the moment between a status change and its job's enqueue: a live
// worker's job is recognised by its lock (renewed every few seconds), not by age.
export const DEFAULT_RECONCILE: ReconcileOptions = { graceMs: 5_000, reviveAfterMs: 5 * 60_000, maxRevivals: 3 };

/**
 * Finds work that a crash or an outage left with no way forward, and either finishes it or
 * shows it as failed with a button (at-least-once everywhere, effects exactly once):
 * - approved drafts with no live send job (a crash between approval and enqueue, or a send
 *   job that died): sent now;
 * - drafts in sending with no live send job: sent again when the data had not started to leave,
 *   otherwise shown as "may have been sent" with a Send again button;
 * - drafts never posted to Slack: posted (the post job adopts what a crashed run posted);
 * - pipeline jobs whose retries were spent (an outage longer than their backoff): run again a
 *   few times, then announced once.
 * Work whose job still exists (waiting, running, or held by a dead worker, which agenda hands
 * over once the lock lapses) is left to that job: two runs of one step would race.
 * Every step is safe to run twice and on two workers at once: each ends in a conditional change.
 */
export function reconcileJob(deps: PipelineDeps & { announce(text: string): Promise<void> }, options: ReconcileOptions = DEFAULT_RECONCILE): JobDefinition<Record<string, unknown>> {
  const { drafts, queue, logger } = deps;

  async function strandedApproved(before: Date): Promise<number> {
    let count = 0;
    for (const draft of await drafts.inStatusSince(['approved'], before)) {
      if (await queue.isActive(JOB_SEND_REPLY, { draftId: draft.id })) continue;
      if (await queue.enqueue(JOB_SEND_REPLY, sendJobKey(draft), { draftId: draft.id })) count += 1;
    }
    return count;
  }

  async function orphanedSending(before: Date): Promise<number> {
    let count = 0;
    for (const draft of await drafts.inStatusSince(['sending'], before)) {
      if (await queue.isActive(JOB_SEND_REPLY, { draftId: draft.id })) continue;
      if (draft.dataStartedAt === null) {
        const released = await drafts.releaseForRetry(draft.id, 'the worker sending it stopped before the message left', { actor: JOB_RECONCILE, action: 'reply.retrying', data: { reason: 'worker stopped before sending' } });
        if (released && (await queue.enqueue(JOB_SEND_REPLY, sendJobKey(released), { draftId: released.id }))) count += 1;
      } else if (await giveUpAsUnknown(deps, draft, JOB_RECONCILE)) {
        count += 1;
      }
    }
    return count;
  }

  async function unposted(before: Date): Promise<number> {
    if (!deps.slack) return 0;
    let count = 0;
    for (const draft of await drafts.unpostedSince(before)) {
      if (await queue.isActive(JOB_POST_APPROVAL, { draftId: draft.id })) continue;
      // A fresh key: the first post job may have finished without posting (Slack was not configured then).
      if (await queue.enqueue(JOB_POST_APPROVAL, `${draft.id}:${before.getTime()}`, { draftId: draft.id })) count += 1;
    }
    return count;
  }

  async function deadPipelineJobs(now: Date): Promise<number> {
    let count = 0;
    const revivable = new Set([JOB_REMEMBER_EMAIL, JOB_DRAFT_REPLY, JOB_POST_APPROVAL, JOB_SEND_REPLY]);
    for (const job of await queue.deadJobs()) {
      if (!revivable.has(job.name) || !job.failedAt) continue;
      if (now.getTime() - job.failedAt.getTime() < options.reviveAfterMs) continue;
      if (job.revivals < options.maxRevivals) {
        if (await queue.revive(job.id)) {
          logger.info({ job: job.name, key: job.key, revivals: job.revivals + 1 }, 'running a failed job again');
          count += 1;
        }
      } else if (!job.announced && (await queue.markAnnounced(job.id))) {
        await deps.announce(`⚠️ Job ${job.name} for ${job.key ?? 'unknown'} failed ${job.revivals + 1} times and was given up: ${job.reason ?? 'no reason recorded'}. Run \`adjutant status\` to see it; it runs again when the same item arrives or is retried.`);
      }
    }
    return count;
  }

  return {
    name: JOB_RECONCILE,
    schema: z.record(z.string(), z.unknown()),
    maxRetries: 0,
    async run() {
      const now = deps.now();
      const before = new Date(now.getTime() - options.graceMs);
      const counts: Record<string, number> = {};
      for (const [name, step] of Object.entries({
        approved: () => strandedApproved(before),
        sending: () => orphanedSending(before),
        unposted: () => unposted(before),
        revived: () => deadPipelineJobs(now),
      })) {
        // One failing step does not stop the others.
        counts[name] = await step().catch((error: unknown) => {
          logger.warn({ err: error, step: name }, `reconcile step failed: ${errorMessage(error)}`);
          return 0;
        });
      }
      if (Object.values(counts).some((count) => count > 0)) logger.info(counts, 'reconciled stranded work');
    },
  };
}
