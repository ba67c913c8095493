import { z } from 'zod';
import { gatherGrounding } from '../../agents/draft-grounding.ts';
import { draftReply } from '../../agents/drafter.ts';
import { ToolCallPending } from '../../brains/tool-use.ts';
import { replySubject } from '../../channels/email/smtp-sender.ts';
import { AdjutantError } from '../../errors.ts';
import { replyTarget, type Email } from '../../memory/email-store.ts';
import type { NewDraft } from '../draft-store.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_DRAFT_REPLY, JOB_POST_APPROVAL, JOB_POST_NOTICE } from '../job-names.ts';
import type { PipelineDeps } from '../pipeline-deps.ts';

const data = z.object({ emailId: z.uuid() });
export type DraftReplyData = z.infer<typeof data>;

/** Ask the model router for a reply to the original sender, grounded in memory, and store it as a pending draft. */
export function draftReplyJob(deps: PipelineDeps): JobDefinition<z.infer<typeof data>> {
  return {
    name: JOB_DRAFT_REPLY,
    schema: data,
    async run({ emailId }) {
      const email = await deps.emails.require(emailId);
      const existing = await deps.drafts.latestForEmail(email.id);
      if (existing) {
        await deps.queue.enqueue(JOB_POST_APPROVAL, existing.id, { draftId: existing.id });
        return;
      }
      if (!deps.router) {
        await deps.audit.record({ actor: JOB_DRAFT_REPLY, action: 'draft.skipped', entityType: 'email', entityId: email.id, data: { reason: 'no language model configured (ANTHROPIC_API_KEY or OLLAMA_HOST)' } });
        // The card asks a person to reply instead.
        await deps.queue.enqueue(JOB_POST_NOTICE, email.id, { emailId: email.id });
        return;
      }
      const target = replyTarget(email);
      if (!target.address) throw new AdjutantError('CONFLICT', `email ${email.id} has no sender to reply to`, { retryable: false });
      // The recipient is decided here, from the email, before any model sees it.
      const grounding = await gatherGrounding(deps, email, { address: target.address, subject: target.subject, body: target.body, messageId: target.messageId, category: email.isForward ? 'forward' : email.triageCategory });
      // The team's other systems: a call that changes something stops this run until a teammate
      // decides; the decision runs the job again (a new key), which carries on from the outcome.
      const tools = await deps.tools?.runnerFor({
        served: { kind: 'email', id: email.id },
        resume: { job: JOB_DRAFT_REPLY, key: email.id, data: { emailId: email.id } },
        purpose: `the reply to “${target.subject || '(no subject)'}” from ${target.address}`,
      });
      let draft;
      try {
        draft = await draftReply(deps.router, {
          teamName: deps.teamName,
          emailId: email.id,
          instruction: email.instruction,
          original: { fromName: target.name, fromAddress: target.address, subject: target.subject, date: target.sentAt, body: target.body },
          grounding,
          ...(tools ? { tools } : {}),
        });
      } catch (error) {
        if (!(error instanceof ToolCallPending)) throw error;
        deps.logger.info({ emailId: email.id, callId: error.callId, tool: error.tool }, 'the draft waits for a tool call to be approved');
        return;
      }
      const fields = replyFields(email);
      if (!fields) throw new AdjutantError('CONFLICT', `email ${email.id} has no sender to reply to`, { retryable: false });
      const { draft: stored } = await deps.drafts.createFirst({
        emailId: email.id,
        ...fields,
        body: draft.body,
        provider: draft.provider,
        model: draft.model,
        confidence: draft.confidence,
        rationale: draft.rationale,
        sources: draft.sources,
      }, { actor: JOB_DRAFT_REPLY, action: 'draft.created', data: { emailId: email.id, provider: draft.provider, model: draft.model, confidence: draft.confidence, sources: draft.sources.length } });
      await deps.queue.enqueue(JOB_POST_APPROVAL, stored.id, { draftId: stored.id });
    },
  };
}

/**
 * Who a reply goes to and how it threads, decided from the email alone (replyTarget): never
 * from a model's output or a person's edit. Null when there is nobody to reply to.
 */
export function replyFields(email: Email): Pick<NewDraft, 'toAddress' | 'toName' | 'subject' | 'inReplyTo' | 'references'> | null {
  const target = replyTarget(email);
  if (!target.address) return null;
  const references = [...target.references];
  if (target.messageId && !references.includes(target.messageId)) references.push(target.messageId);
  return { toAddress: target.address, toName: target.name, subject: replySubject(target.subject), inReplyTo: target.messageId, references };
}
