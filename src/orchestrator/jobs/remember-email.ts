import { z } from 'zod';
import { replyTarget } from '../../memory/email-store.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_DRAFT_REPLY, JOB_POST_NOTICE, JOB_REFRESH_CONTACT, JOB_REMEMBER_EMAIL, JOB_TRIAGE_EMAIL } from '../job-names.ts';
import type { PipelineDeps } from '../pipeline-deps.ts';

const data = z.object({
  emailId: z.uuid(),
  /** false for history loaded with `adjutant ingest`: remembered, never drafted or posted. */
  draft: z.boolean().optional(),
});
export type RememberEmailData = z.infer<typeof data>;

/**
 * Put the email into memory (chunks and full text now, vectors from the embedding job), count it
 * for its sender's contact, then ask for a draft (a teammate's forward) or a triage (direct mail).
 */
export function rememberEmailJob(deps: PipelineDeps): JobDefinition<z.infer<typeof data>> {
  return {
    name: JOB_REMEMBER_EMAIL,
    schema: data,
    async run({ emailId, draft }) {
      const email = await deps.emails.require(emailId);
      const target = replyTarget(email);
      const result = await deps.memory.remember({
        kind: 'email',
        title: target.subject || '(no subject)',
        content: target.body,
        sourceType: 'email',
        sourceRef: email.messageId,
        author: target.address,
        counterparty: target.address,
        occurredAt: target.sentAt ?? email.receivedAt,
        emailId: email.id,
        actor: JOB_REMEMBER_EMAIL,
      });
      if (!result.created) deps.logger.info({ emailId: email.id, itemId: result.itemId }, 'already remembered');
      // A "teammate" nobody vouched for is not a contact of ours: their claim is the suspicious part.
      if (target.address && !target.senderUnverified) {
        await deps.memory.contacts.observe({ address: target.address, name: target.name, at: target.sentAt ?? email.receivedAt ?? new Date(), emailId: email.id });
        // History (draft: false) counts, but its summary waits for their next live mail: a model
        // call per imported email would cost a lot and help nobody yet.
        if (draft !== false) await deps.queue.enqueue(JOB_REFRESH_CONTACT, `${target.address.toLowerCase()}:${email.id}`, { address: target.address.toLowerCase() });
      }
      if (draft === false) return;
      // A teammate's forward asks for a reply; direct mail is triaged first.
      if (email.isForward && target.address) {
        await deps.queue.enqueue(JOB_DRAFT_REPLY, email.id, { emailId: email.id });
      } else if (!email.isForward && !target.senderUnverified) {
        await deps.queue.enqueue(JOB_TRIAGE_EMAIL, email.id, { emailId: email.id });
      } else if (target.originalSenderMissing || target.senderUnverified) {
        // Nobody to reply to, or a "teammate" nobody vouched for: a person looks, nothing is drafted.
        const reason = target.originalSenderMissing ? 'original sender not recovered from the forward' : 'sender claims a team address but could not be verified';
        await deps.audit.record({ actor: JOB_REMEMBER_EMAIL, action: 'draft.skipped', entityType: 'email', entityId: email.id, data: { reason } });
        await deps.queue.enqueue(JOB_POST_NOTICE, email.id, { emailId: email.id });
      }
    },
  };
}
