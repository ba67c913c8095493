import { z } from 'zod';
import { gatherGrounding } from '../../agents/draft-grounding.ts';
import { draftReply } from '../../agents/drafter.ts';
import { replyTarget } from '../../memory/email-store.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_FOLLOW_UP_DRAFT, JOB_POST_APPROVAL } from '../job-names.ts';
import type { PipelineDeps } from '../pipeline-deps.ts';

const data = z.object({ draftId: z.uuid(), requestedBy: z.string().min(1) });
export type FollowUpDraftData = z.infer<typeof data>;

/**
 * A follow-up to a reply that got no answer, asked for by a teammate: the drafter writes it
 * from the reply we sent and what the team knows, to the same recipient, threaded under our
 * reply; it is posted in the card's thread for approval like any draft.
 */
export function followUpDraftJob(deps: PipelineDeps): JobDefinition<z.infer<typeof data>> {
  return {
    name: JOB_FOLLOW_UP_DRAFT,
    schema: data,
    async run({ draftId, requestedBy }) {
      const sent = await deps.drafts.get(draftId);
      if (!sent || sent.status !== 'sent' || !deps.router) return;
      const email = await deps.emails.require(sent.emailId);
      const target = replyTarget(email);
      const sentOn = sent.sentAt?.toISOString().slice(0, 10) ?? 'earlier';
      const instruction = `Write a short, polite follow-up: our reply of ${sentOn} (in <previous_draft>) has had no answer. Do not repeat it; ask whether they saw it and whether anything is missing.`;
      const grounding = await gatherGrounding(deps, email, { address: sent.toAddress, subject: target.subject, body: target.body, messageId: target.messageId, category: email.isForward ? 'forward' : email.triageCategory });
      const result = await draftReply(deps.router, {
        teamName: deps.teamName,
        emailId: email.id,
        instruction,
        previousDraft: sent.body,
        original: { fromName: target.name, fromAddress: sent.toAddress, subject: target.subject, date: target.sentAt, body: target.body },
        grounding,
      });
      const created = await deps.drafts.followUp(
        sent.id,
        { body: result.body, provider: result.provider, model: result.model, confidence: result.confidence, rationale: result.rationale, sources: result.sources, writtenBy: null, instruction: 'Follow-up: no answer to our reply' },
        { actor: JOB_FOLLOW_UP_DRAFT, action: 'draft.follow-up', data: { requestedBy, provider: result.provider, model: result.model } },
      );
      if (created) await deps.queue.enqueue(JOB_POST_APPROVAL, created.id, { draftId: created.id });
    },
  };
}
