import { z } from 'zod';
import { AdjutantError } from '../../errors.ts';
import { replyTarget } from '../../memory/email-store.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_POST_APPROVAL } from '../job-names.ts';
import type { PipelineDeps } from '../pipeline-deps.ts';

const data = z.object({ draftId: z.uuid() });

/** Until triage writes one-line summaries (a later issue), the card shows the email's opening. */
function openingOf(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 280 ? `${flat.slice(0, 279)}…` : flat || '(empty message)';
}

/** Post the card for the email and the draft with its buttons in the card's thread. */
export function postApprovalJob(deps: PipelineDeps): JobDefinition<z.infer<typeof data>> {
  return {
    name: JOB_POST_APPROVAL,
    schema: data,
    async run({ draftId }) {
      const draft = await deps.drafts.get(draftId);
      if (!draft) throw new AdjutantError('NOT_FOUND', `draft ${draftId} does not exist`, { retryable: false });
      if (draft.slackDraftTs) return; // posted by an earlier run
      if (!deps.slack) {
        await deps.audit.record({ actor: JOB_POST_APPROVAL, action: 'approval.not-posted', entityType: 'draft', entityId: draft.id, data: { reason: 'Slack approvals not configured (SLACK_BOT_TOKEN, SLACK_APPROVALS_CHANNEL)' } });
        return;
      }
      const email = await deps.emails.require(draft.emailId);
      const { poster, approvalsChannel } = deps.slack;
      const target = replyTarget(email);
      const forwardedBySlackUser = email.forwardedBy ? await poster.userIdForEmail(email.forwardedBy) : null;
      // A retry after posting the card but before posting the draft reuses the card.
      const cardTs =
        draft.slackCardTs ??
        (
          await poster.postApprovalCard(approvalsChannel, {
            fromName: target.name,
            fromAddress: target.address ?? email.fromAddress ?? 'unknown sender',
            subject: target.subject,
            summary: openingOf(target.body),
            forwardedByAddress: email.forwardedBy,
            forwardedBySlackUser,
            instruction: email.instruction,
          })
        ).ts;
      if (!draft.slackCardTs) await deps.drafts.setSlackCard(draft.id, approvalsChannel, cardTs);
      const { ts: draftTs } = await poster.postDraft(approvalsChannel, cardTs, {
        draftId: draft.id,
        toAddress: draft.toAddress,
        subject: draft.subject,
        body: draft.body,
        status: 'pending',
      });
      await deps.drafts.setSlackDraft(draft.id, draftTs);
      await deps.audit.record({ actor: JOB_POST_APPROVAL, action: 'approval.posted', entityType: 'draft', entityId: draft.id, data: { channel: approvalsChannel, cardTs, draftTs } });
    },
  };
}
