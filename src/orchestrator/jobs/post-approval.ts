import { z } from 'zod';
import { cardWarnings, draftView, triageOf } from '../../channels/slack/blocks.ts';
import { AdjutantError } from '../../errors.ts';
import { replyTarget } from '../../memory/email-store.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_POST_APPROVAL } from '../job-names.ts';
import type { PipelineDeps } from '../pipeline-deps.ts';

const data = z.object({ draftId: z.uuid() });
export type PostApprovalData = z.infer<typeof data>;

/** For mail triage did not summarise (forwards), the card shows the email's opening. */
export function openingOf(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 280 ? `${flat.slice(0, 279)}…` : flat || '(empty message)';
}

/**
 * Post the card for the email and the draft with its buttons in the card's thread, once.
 * A run can die between Slack accepting a message and our saving its ts; the next run would
 * post a second card with live buttons. So the first run marks that posting started, each
 * message carries the draft id in its Slack metadata, and a later run adopts what it finds.
 */
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
      const { poster, approvalsChannel } = deps.slack;
      const channel = draft.slackChannel ?? approvalsChannel;
      const firstRun = await deps.drafts.startPosting(draft.id, deps.now());
      // Looking up costs a Slack call, so only a run after one that may have posted does it.
      const adopt = async (find: () => Promise<string | null>): Promise<string | null> => {
        if (firstRun) return null;
        return find().catch((error: unknown) => {
          deps.logger.warn({ err: error, draftId }, 'could not look for an earlier post (channels:history scope?); posting anew');
          return null;
        });
      };

      let cardTs = draft.slackCardTs ?? (await adopt(() => poster.findCard(channel, draft.id, draft.createdAt)));
      if (!cardTs) {
        const email = await deps.emails.require(draft.emailId);
        const target = replyTarget(email);
        const forwardedBySlackUser = email.forwardedBy ? await poster.userIdForEmail(email.forwardedBy) : null;
        cardTs = (
          await poster.postApprovalCard(
            channel,
            {
              fromName: target.name,
              fromAddress: target.address ?? 'sender not recovered',
              subject: target.subject,
              summary: email.triageSummary ?? openingOf(target.body),
              triage: triageOf(email),
              emailId: email.id,
              forwardedByAddress: email.forwardedBy,
              forwardedBySlackUser,
              instruction: email.instruction,
              warnings: cardWarnings(email),
            },
            draft.id,
          )
        ).ts;
      }
      if (!draft.slackCardTs) {
        await deps.drafts.setSlackCard(draft.id, channel, cardTs);
        // Search results about this email link to its card, where the thread and decision live.
        const url = await poster.permalink(channel, cardTs);
        const email = await deps.emails.require(draft.emailId);
        if (url) await deps.memory.setLink({ sourceType: 'email', sourceRef: email.messageId }, url);
      }
      const cardPosted = cardTs;
      const adopted = await adopt(() => poster.findDraftMessage(channel, cardPosted, draft.id));
      // The view comes from the stored draft: an approval that raced the crash shows as such.
      const current = (await deps.drafts.get(draft.id)) ?? draft;
      const draftTs = adopted ?? (await poster.postDraft(channel, cardTs, draftView(current))).ts;
      await deps.drafts.setSlackDraft(draft.id, draftTs, { actor: JOB_POST_APPROVAL, action: 'approval.posted', data: { channel, cardTs, draftTs, adopted: adopted !== null } });
      // An adopted message still shows what it showed when posted: someone may have approved
      // (and the reply gone out) meanwhile, and its Approve button must not stay live.
      if (adopted) {
        const latest = (await deps.drafts.get(draft.id)) ?? current;
        if (latest.status !== 'pending') await poster.updateDraft(channel, draftTs, draftView(latest));
      }
    },
  };
}
