import { z } from 'zod';
import { cardWarnings, triageOf } from '../../channels/slack/blocks.ts';
import { replyTarget } from '../../memory/email-store.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_POST_NOTICE } from '../job-names.ts';
import type { PipelineDeps } from '../pipeline-deps.ts';
import { openingOf } from './post-approval.ts';

const data = z.object({ emailId: z.uuid() });
export type PostNoticeData = z.infer<typeof data>;

const NO_MODEL_WARNING = 'No language model is configured (set OLLAMA_HOST or ANTHROPIC_API_KEY), so no reply was drafted: use Write reply to answer it here.';

/**
 * A card without a draft, for mail a person has to look at because Adjutant will not act on it:
 * a forward whose original sender could not be recovered, mail claiming a team address that
 * the receiving server did not vouch for, or mail that needs a reply when no model is
 * configured. Nothing fails silently; nothing is guessed.
 */
export function postNoticeJob(deps: PipelineDeps): JobDefinition<z.infer<typeof data>> {
  return {
    name: JOB_POST_NOTICE,
    schema: data,
    async run({ emailId }) {
      const email = await deps.emails.require(emailId);
      const warnings = cardWarnings(email);
      // Mail that needs a reply, with nobody to write one: a person does (never silently filed).
      const byHand = !deps.router && !email.originalFromMissing && (email.isForward || email.triageCategory === 'needs_reply');
      if (byHand) warnings.push(NO_MODEL_WARNING);
      if (!deps.slack || warnings.length === 0) return;
      const target = replyTarget(email);
      const forwardedBySlackUser = email.forwardedBy ? await deps.slack.poster.userIdForEmail(email.forwardedBy) : null;
      const { ts } = await deps.slack.poster.postApprovalCard(deps.slack.approvalsChannel, {
        fromName: target.name,
        fromAddress: target.address ?? email.claimedTeammate ?? email.fromAddress ?? 'sender not recovered',
        subject: target.subject,
        summary: email.triageSummary ?? openingOf(target.body),
        triage: triageOf(email),
        writeReplyFor: byHand && target.address ? email.id : null,
        emailId: email.id,
        forwardedByAddress: email.forwardedBy,
        forwardedBySlackUser,
        instruction: email.instruction,
        warnings,
      });
      await deps.audit.record({ actor: JOB_POST_NOTICE, action: 'notice.posted', entityType: 'email', entityId: email.id, data: { channel: deps.slack.approvalsChannel, ts, warnings } });
    },
  };
}
