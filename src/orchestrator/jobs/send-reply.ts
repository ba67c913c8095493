import { z } from 'zod';
import { draftView } from '../../channels/slack/blocks.ts';
import { AdjutantError, errorMessage, isRetryable } from '../../errors.ts';
import type { Draft } from '../../memory/draft-store.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_SEND_REPLY } from '../job-names.ts';
import type { PipelineDeps } from '../pipeline-deps.ts';

const data = z.object({ draftId: z.uuid() });

/**
 * Send an approved draft. The draft moves approved → sending before the SMTP call, so a second
 * run (a retry, another replica) finds nothing to send. Only a failure known to happen before the
 * server accepted the mail puts it back to approved for a retry.
 */
export function sendReplyJob(deps: PipelineDeps): JobDefinition<z.infer<typeof data>> {
  return {
    name: JOB_SEND_REPLY,
    schema: data,
    async run({ draftId }) {
      const claimed = await deps.drafts.claimForSending(draftId);
      if (!claimed) {
        const current = await deps.drafts.get(draftId);
        deps.logger.info({ draftId, status: current?.status }, 'draft not in approved state; nothing to send');
        return;
      }
      if (!deps.mail) {
        const reason = 'SMTP is not configured (SMTP_HOST, MAIL_FROM)';
        await deps.drafts.markFailed(claimed.id, reason);
        await deps.audit.record({ actor: JOB_SEND_REPLY, action: 'reply.failed', entityType: 'draft', entityId: claimed.id, data: { reason } });
        await showInSlack(deps, { ...claimed, status: 'failed', error: reason });
        return;
      }
      await showInSlack(deps, claimed);
      const messageId = claimed.sentMessageId ?? deps.newMessageId();
      try {
        const result = await deps.mail.sender.send({
          to: { address: claimed.toAddress, name: claimed.toName },
          subject: claimed.subject,
          text: claimed.body,
          inReplyTo: claimed.inReplyTo,
          references: claimed.references,
          messageId,
        });
        const sentAt = deps.now();
        await deps.drafts.markSent(claimed.id, result.messageId, sentAt);
        await deps.audit.record({
          actor: JOB_SEND_REPLY,
          action: 'reply.sent',
          entityType: 'draft',
          entityId: claimed.id,
          data: { messageId: result.messageId, to: claimed.toAddress, approvedBy: claimed.decidedBy, accepted: result.accepted },
        });
        await showInSlack(deps, { ...claimed, status: 'sent', sentAt, sentMessageId: result.messageId });
      } catch (error) {
        const reason = errorMessage(error);
        if (isRetryable(error)) {
          await deps.drafts.releaseForRetry(claimed.id, reason);
          await deps.audit.record({ actor: JOB_SEND_REPLY, action: 'reply.retrying', entityType: 'draft', entityId: claimed.id, data: { reason } });
          throw error;
        }
        await deps.drafts.markFailed(claimed.id, reason);
        await deps.audit.record({ actor: JOB_SEND_REPLY, action: 'reply.failed', entityType: 'draft', entityId: claimed.id, data: { reason } });
        await showInSlack(deps, { ...claimed, status: 'failed', error: reason });
        throw new AdjutantError('SMTP_FAILED', reason, { cause: error, retryable: false });
      }
    },
  };
}

async function showInSlack(deps: PipelineDeps, draft: Draft): Promise<void> {
  if (!deps.slack || !draft.slackChannel || !draft.slackDraftTs) return;
  await deps.slack.poster
    .updateDraft(draft.slackChannel, draft.slackDraftTs, draftView(draft))
    // The mail is out either way; a stale Slack message is logged, not retried into a second send.
    .catch((error: unknown) => deps.logger.warn({ err: error, draftId: draft.id }, 'could not update the Slack message'));
}
