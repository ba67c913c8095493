import type { SlackPoster } from '../channels/slack/slack-poster.ts';
import type { Logger } from '../logger.ts';
import type { AuditLog } from '../memory/audit.ts';
import type { Draft, DraftStore } from './draft-store.ts';
import type { JobQueue } from './job-queue.ts';
import { JOB_SEND_REPLY } from './job-names.ts';

export interface DecisionRequest {
  draftId: string;
  userId: string;
  /** `resend`: a failed send (Retry) or one that may have gone out (Send again), sent on purpose. */
  decision: 'approved' | 'rejected' | 'resend';
  /** Where the click happened, for ephemeral answers. */
  channel: string | null;
  /** The message clicked: recorded as the draft's message when a crash kept its ts from being saved. */
  messageTs?: string | null;
}

export type DecisionOutcome =
  | { kind: 'decided'; draft: Draft }
  | { kind: 'not-allowed' }
  | { kind: 'already-decided'; draft: Draft }
  | { kind: 'not-found' };

export interface ApprovalService {
  decide(request: DecisionRequest): Promise<DecisionOutcome>;
}

/**
 * A click on Approve or Reject. Slack retries and double clicks arrive here more than once;
 * the draft's conditional status change lets exactly one through, and the send job is keyed
 * by the draft, so one approval sends one email.
 */
export function createApprovalService(deps: {
  drafts: DraftStore;
  audit: AuditLog;
  queue: JobQueue;
  poster: SlackPoster | null;
  isApprover(userId: string): Promise<boolean>;
  now(): Date;
  logger: Logger;
}): ApprovalService {
  const { drafts, audit, queue, poster, logger } = deps;
  // Not awaited: the click is answered (Slack's 3 s limit) without waiting on another Slack round trip.
  const tell = (channel: string | null, user: string, text: string) => {
    if (!poster || !channel) return;
    void poster.postEphemeral(channel, user, text).catch((error: unknown) => logger.warn({ err: error }, 'could not answer the click'));
  };
  // Each send on purpose is its own job (the first one's key stays taken by the finished job).
  const enqueueSend = (draft: Draft) => queue.enqueue(JOB_SEND_REPLY, sendJobKey(draft), { draftId: draft.id });
  return {
    async decide(request) {
      const existing = await drafts.get(request.draftId);
      if (!existing) return { kind: 'not-found' };
      // The click proves which message shows this draft: the send job can then update it.
      if (!existing.slackDraftTs && request.messageTs && request.channel) await drafts.adoptSlackDraft(existing.id, request.channel, request.messageTs);
      if (!(await deps.isApprover(request.userId))) {
        const verb = { approved: 'approve', rejected: 'reject', resend: 'resend' }[request.decision];
        await audit.record({ actor: request.userId, action: `draft.${verb}.refused`, entityType: 'draft', entityId: existing.id, data: { reason: 'not an approver' } });
        tell(request.channel, request.userId, 'Only approvers can decide on drafts (see SLACK_APPROVERS). Nothing was sent.');
        return { kind: 'not-allowed' };
      }
      // The status change and its audit entry are one statement (see the draft store).
      const decided =
        request.decision === 'resend'
          ? await drafts.resend(existing.id, request.userId, deps.now())
          : await drafts.decide(existing.id, request.decision, request.userId, deps.now());
      if (!decided) {
        const current = (await drafts.get(existing.id)) ?? existing;
        const who = current.decidedBy ? `<@${current.decidedBy}>` : 'someone';
        tell(request.channel, request.userId, `This draft was already ${current.status === 'unknown' ? 'handled' : current.status} by ${who}.`);
        return { kind: 'already-decided', draft: current };
      }
      if (decided.status === 'approved') await enqueueSend(decided);
      return { kind: 'decided', draft: decided };
    },
  };
}

/**
 * The send job's key: the draft for the first send; for a later round (a resend on purpose, or
 * the reconciler's), the draft plus the time of its last change, which is new for each round.
 */
export function sendJobKey(draft: Pick<Draft, 'id' | 'sendAttempts' | 'updatedAt'>): string {
  return draft.sendAttempts === 0 ? draft.id : `${draft.id}:${draft.updatedAt.getTime()}`;
}
