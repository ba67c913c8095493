import { z } from 'zod';
import { gatherGrounding } from '../../agents/draft-grounding.ts';
import { draftReply } from '../../agents/drafter.ts';
import { draftView } from '../../channels/slack/blocks.ts';
import { replyTarget } from '../../memory/email-store.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_REDRAFT_REPLY } from '../job-names.ts';
import type { PipelineDeps } from '../pipeline-deps.ts';

const data = z.object({ draftId: z.uuid(), instruction: z.string().min(1).max(3000), requestedBy: z.string().min(1) });
export type RedraftReplyData = z.infer<typeof data>;

/**
 * A new version of a pending draft, written by the drafter with the teammate's instruction
 * (their words are the instruction; the email stays data) and the draft it replaces. The new
 * version takes the old one's place in the thread message, with its buttons; the old one is
 * kept. If someone approved, rejected or edited it meanwhile, their decision stands.
 */
export function redraftReplyJob(deps: PipelineDeps): JobDefinition<z.infer<typeof data>> {
  return {
    name: JOB_REDRAFT_REPLY,
    schema: data,
    async run({ draftId, instruction, requestedBy }) {
      const draft = await deps.drafts.get(draftId);
      if (!draft || draft.status !== 'pending' || !deps.router) {
        deps.logger.info({ draftId, status: draft?.status ?? 'missing' }, 'redraft not made: the draft is no longer pending, or no model is configured');
        return;
      }
      const email = await deps.emails.require(draft.emailId);
      const target = replyTarget(email);
      const grounding = await gatherGrounding(deps, email, { address: draft.toAddress, subject: target.subject, body: target.body, messageId: target.messageId, category: email.isForward ? 'forward' : email.triageCategory });
      const result = await draftReply(deps.router, {
        teamName: deps.teamName,
        emailId: email.id,
        use: 'redraft',
        instruction: [email.instruction, instruction].filter((part): part is string => Boolean(part?.trim())).join('\n\nFor this new version: '),
        previousDraft: draft.body,
        original: { fromName: target.name, fromAddress: draft.toAddress, subject: target.subject, date: target.sentAt, body: target.body },
        grounding,
      });
      const revised = await deps.drafts.revise(
        draft.id,
        { body: result.body, provider: result.provider, model: result.model, confidence: result.confidence, rationale: result.rationale, sources: result.sources, writtenBy: null, instruction },
        { actor: JOB_REDRAFT_REPLY, action: 'draft.redrafted', data: { requestedBy, provider: result.provider, model: result.model } },
      );
      if (!revised) return;
      if (deps.slack && revised.slackChannel && revised.slackDraftTs) await deps.slack.poster.updateDraft(revised.slackChannel, revised.slackDraftTs, draftView(revised));
    },
  };
}
