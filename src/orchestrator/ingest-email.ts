import { extractForward } from '../channels/email/forward.ts';
import { parseEmail } from '../channels/email/parse-email.ts';
import { withoutNul } from '../channels/email/safe-text.ts';
import { verifySender } from '../channels/email/sender-authentication.ts';
import { AdjutantError } from '../errors.ts';
import type { PipelineDeps } from './pipeline-deps.ts';
import { JOB_REMEMBER_EMAIL } from './job-names.ts';

/**
 * The watcher's hand-off: parse, verify the sender, store once by Message-ID, start the pipeline.
 * Unusable mail is recorded in the audit log and skipped (it stays in the mailbox); a database
 * failure throws so the watcher fetches the message again.
 *
 * A forward is a teammate's (its note an instruction) only when the receiving server's
 * Authentication-Results vouches for the From domain; `authservId` is MAIL_AUTHSERV_ID.
 */
export function createEmailIngest(
  deps: Pick<PipelineDeps, 'emails' | 'audit' | 'queue' | 'logger'> & { teamDomains: readonly string[]; authservId?: string | undefined },
) {
  /** `historical`: old mail loaded by `adjutant ingest`, remembered but never drafted or posted. */
  return async function ingest(raw: Buffer, uid: number | null, mailbox: string, options: { historical?: boolean } = {}): Promise<{ emailId: string | null; created: boolean }> {
    let parsed;
    try {
      parsed = await parseEmail(raw);
    } catch (error) {
      if (!(error instanceof AdjutantError) || error.code !== 'MAIL_PARSE_FAILED') throw error;
      deps.logger.warn({ uid, mailbox, reason: error.message }, 'skipping unusable message');
      // jsonb refuses NUL as text does; the reason may quote the message.
      await deps.audit.record({ actor: 'imap-watcher', action: 'email.rejected', entityType: 'mailbox', entityId: mailbox, data: { uid, bytes: raw.length, reason: withoutNul(error.message) } });
      return { emailId: null, created: false };
    }
    const sender = verifySender(parsed, { teamDomains: deps.teamDomains, authservId: deps.authservId });
    let forward = null;
    if (sender.teammate) {
      try {
        forward = await extractForward(parsed, deps.teamDomains);
      } catch (error) {
        // Forward detection is best effort: the email is still stored as direct mail.
        deps.logger.warn({ err: error, messageId: parsed.messageId }, 'forward extraction failed');
      }
    } else if (sender.claimedTeammate) {
      deps.logger.info({ messageId: parsed.messageId, from: parsed.from?.address, verification: sender.description }, 'sender claims a team domain but is not verified: handled as outside mail');
    }
    // The store writes the email.received audit entry in the same transaction as the row.
    const remember = { ...(options.historical ? { draft: false } : {}) };
    // A new email's remember job is created in the same commit as the row.
    const email = await deps.emails.save({ raw, parsed, sender, forward, mailbox, uid }, (emailId) => ({ name: JOB_REMEMBER_EMAIL, key: emailId, data: { emailId, ...remember } }));
    if (email.created) return { emailId: email.id, created: true };
    deps.logger.info({ messageId: email.messageId, uid }, 'message already stored; not processing twice');
    // Seen before: its job exists, unless it gave up during an outage; asking again revives it.
    await deps.queue.enqueue(JOB_REMEMBER_EMAIL, email.id, { emailId: email.id, ...remember });
    return { emailId: email.id, created: false };
  };
}
