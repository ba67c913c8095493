import { z } from 'zod';
import { triageEmail } from '../../agents/triage.ts';
import { MAX_HEADER_BLOCK_BYTES, readMailSignals } from '../../channels/email/mail-signals.ts';
import { replyTarget } from '../../memory/email-store.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_DRAFT_REPLY, JOB_POST_NOTICE, JOB_TRIAGE_EMAIL } from '../job-names.ts';
import type { PipelineDeps } from '../pipeline-deps.ts';

const data = z.object({ emailId: z.uuid() });
export type TriageEmailData = z.infer<typeof data>;

/**
 * Sorts mail sent straight to the mailbox (triage.ts) and stores the verdict with the email.
 * What needs a reply gets a draft and a card (or, with no model, a card asking a person to
 * reply); everything else is remembered already and counted for the briefing.
 */
export function triageEmailJob(deps: PipelineDeps): JobDefinition<z.infer<typeof data>> {
  return {
    name: JOB_TRIAGE_EMAIL,
    schema: data,
    async run({ emailId }) {
      const email = await deps.emails.require(emailId);
      let category = email.triageCategory;
      if (!email.triagedBy) {
        const target = replyTarget(email);
        const head = (await deps.emails.rawStart(email.id, MAX_HEADER_BLOCK_BYTES)) ?? Buffer.alloc(0);
        // remember-email counted this email already: more than one means they wrote before.
        const contact = target.address ? await deps.memory.contact(target.address) : null;
        const triage = await triageEmail(deps.router, {
          teamName: deps.teamName,
          emailId: email.id,
          signals: readMailSignals(head),
          from: { name: target.name, address: target.address },
          subject: target.subject,
          date: target.sentAt,
          text: target.body,
          knownSender: (contact?.emailCount ?? 0) > 1,
        });
        await deps.emails.setTriage(email.id, { ...triage, details: { people: triage.people, organisations: triage.organisations, dates: triage.dates } }, deps.now());
        await deps.audit.record({
          actor: JOB_TRIAGE_EMAIL,
          action: 'email.triaged',
          entityType: 'email',
          entityId: email.id,
          data: { category: triage.category, urgency: triage.urgency, confidence: triage.confidence, by: triage.by },
        });
        category = triage.category;
      }
      if (category !== 'needs_reply') return;
      if (!replyTarget(email).address) return;
      if (deps.router) await deps.queue.enqueue(JOB_DRAFT_REPLY, email.id, { emailId: email.id });
      else await deps.queue.enqueue(JOB_POST_NOTICE, email.id, { emailId: email.id });
    },
  };
}
