import { extractForward } from '../channels/email/forward.ts';
import { parseEmail } from '../channels/email/parse-email.ts';
import { AdjutantError } from '../errors.ts';
import type { PipelineDeps } from './pipeline-deps.ts';
import { JOB_REMEMBER_EMAIL } from './job-names.ts';

/**
 * The watcher's hand-off: parse, store once by Message-ID, start the pipeline.
 * Unusable mail is recorded in the audit log and skipped (it stays in the mailbox); a database
 * failure throws so the watcher fetches the message again.
 */
export function createEmailIngest(deps: Pick<PipelineDeps, 'emails' | 'audit' | 'queue' | 'logger'> & { teamDomains: readonly string[] }) {
  return async function ingest(raw: Buffer, uid: number | null, mailbox: string): Promise<{ emailId: string | null; created: boolean }> {
    let parsed;
    try {
      parsed = await parseEmail(raw);
    } catch (error) {
      if (!(error instanceof AdjutantError) || error.code !== 'MAIL_PARSE_FAILED') throw error;
      deps.logger.warn({ uid, mailbox, reason: error.message }, 'skipping unusable message');
      await deps.audit.record({ actor: 'imap-watcher', action: 'email.rejected', entityType: 'mailbox', entityId: mailbox, data: { uid, bytes: raw.length, reason: error.message } });
      return { emailId: null, created: false };
    }
    let forward = null;
    try {
      forward = await extractForward(parsed, deps.teamDomains);
    } catch (error) {
      // Forward detection is best effort: the email is still stored as direct mail.
      deps.logger.warn({ err: error, messageId: parsed.messageId }, 'forward extraction failed');
    }
    const { email, created } = await deps.emails.save({ raw, parsed, forward, mailbox, uid });
    if (created) {
      await deps.audit.record({
        actor: 'imap-watcher',
        action: 'email.received',
        entityType: 'email',
        entityId: email.id,
        data: {
          messageId: email.messageId,
          uid,
          from: email.fromAddress,
          forward: forward ? { by: forward.forwardedBy.address, format: forward.format, originalFrom: forward.original.from?.address ?? null } : null,
        },
      });
    } else {
      deps.logger.info({ messageId: email.messageId, uid }, 'message already stored; not processing twice');
    }
    // Enqueued even when the email existed: a crash between store and enqueue must not strand it.
    await deps.queue.enqueue(JOB_REMEMBER_EMAIL, email.id, { emailId: email.id });
    return { emailId: email.id, created };
  };
}
