import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { draftView } from '../../channels/slack/blocks.ts';
import { SendError, type SentEmail } from '../../channels/email/smtp-sender.ts';
import { AdjutantError, errorMessage } from '../../errors.ts';
import type { Draft } from '../draft-store.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_SEND_REPLY } from '../job-names.ts';
import type { PipelineDeps } from '../pipeline-deps.ts';

const data = z.object({ draftId: z.uuid() });
export type SendReplyData = z.infer<typeof data>;

/**
 * Send an approved draft, exactly once or with a visible reason why not.
 *
 * The draft moves approved → sending before the SMTP call, so a second run (a retry, another
 * replica) finds nothing to send. After that, what happens depends on how far the mail got:
 * - accepted by the server: only the bookkeeping remains. It is retried (in this process, which
 *   remembers the acceptance) but the mail is never sent again;
 * - known not to have reached the server: back to approved, and the job retries;
 * - refused for good, or retries spent: failed, with a Retry button on the card;
 * - unknown (the connection broke after the data went out): "may have been sent", with a
 *   Send again button. The Message-ID is fixed at the first claim, so even a resend on purpose
 *   carries the same one and the receiving side can drop the duplicate.
 * A crash while sending leaves the draft in sending. The job's next run (agenda hands it over
 * once the dead worker's lock lapses), or the reconciler, sends it again when the data had not
 * started to go out (recorded just before it does, fenced by the attempt number), and shows it
 * as unknown otherwise.
 */
export function sendReplyJob(deps: PipelineDeps): JobDefinition<z.infer<typeof data>> {
  // Per process: sends the server accepted whose bookkeeping has not been written yet.
  const accepted = new Map<string, { sent: SentEmail; at: Date }>();

  async function record(draft: Draft, sent: SentEmail, at: Date): Promise<void> {
    // The database may blink right after the server accepted: try a few times before handing
    // the bookkeeping to the job's own retries (which find the acceptance in `accepted`).
    for (let attempt = 1; ; attempt += 1) {
      try {
        const done = await deps.drafts.markSent(draft.id, at, {
          actor: JOB_SEND_REPLY,
          action: 'reply.sent',
          data: { messageId: sent.messageId, to: draft.toAddress, approvedBy: draft.decidedBy, accepted: sent.accepted },
        });
        accepted.delete(draft.id);
        if (done) {
          await showInSlack(deps, done);
          await fileCopy(done, sent);
        }
        return;
      } catch (error) {
        if (attempt >= 3) {
          throw new AdjutantError('DB_UNAVAILABLE', `the reply to ${draft.toAddress} was accepted by the mail server but could not be recorded: ${errorMessage(error)}`, { cause: error });
        }
        await sleep(500 * attempt);
      }
    }
  }

  /** A copy in the mailbox's Sent folder, so the team's mail client shows the reply too. Best effort. */
  async function fileCopy(draft: Draft, sent: SentEmail): Promise<void> {
    const sentFolder = deps.mail?.sentFolder;
    if (!sentFolder) return;
    try {
      const folder = await sentFolder.append(sent.raw);
      if (folder) await deps.audit.record({ actor: JOB_SEND_REPLY, action: 'reply.filed', entityType: 'draft', entityId: draft.id, data: { folder } });
    } catch (error) {
      deps.logger.warn({ err: error, draftId: draft.id }, 'could not put a copy of the reply in the Sent folder');
      await deps.audit
        .record({ actor: JOB_SEND_REPLY, action: 'reply.file-failed', entityType: 'draft', entityId: draft.id, data: { reason: errorMessage(error) } })
        .catch(() => undefined);
    }
  }

  return {
    name: JOB_SEND_REPLY,
    schema: data,
    async run({ draftId }, context) {
      const pending = accepted.get(draftId);
      if (pending) {
        const draft = await deps.drafts.get(draftId);
        if (draft?.status === 'sending') return record(draft, pending.sent, pending.at);
        accepted.delete(draftId);
        return;
      }
      if (!deps.mail) {
        const reason = 'SMTP is not configured (SMTP_HOST, MAIL_FROM)';
        const failed = await deps.drafts.markFailed(draftId, ['approved'], reason, { actor: JOB_SEND_REPLY, action: 'reply.failed', data: { reason } });
        if (failed) await showInSlack(deps, failed);
        return;
      }
      const claimed = await deps.drafts.claimForSending(draftId, deps.newMessageId(), deps.now());
      if (!claimed) {
        const current = await deps.drafts.get(draftId);
        if (current?.status === 'sending' && current.dataStartedAt) {
          // agenda hands a job over only when its worker stopped renewing the lock: that worker
          // died after the data started to leave.
          await giveUpAsUnknown(deps, current, JOB_SEND_REPLY);
          return;
        }
        deps.logger.info({ draftId, status: current?.status }, 'draft not in approved state; nothing to send');
        return;
      }
      const messageId = claimed.sentMessageId;
      if (!messageId) throw new AdjutantError('CONFLICT', `draft ${draftId} was claimed without a Message-ID`, { retryable: false });
      await showInSlack(deps, claimed);
      let sent: SentEmail;
      try {
        sent = await deps.mail.sender.send({
          to: { address: claimed.toAddress, name: claimed.toName },
          subject: claimed.subject,
          text: claimed.body,
          inReplyTo: claimed.inReplyTo,
          references: claimed.references,
          messageId,
        }, () => deps.drafts.markDataStarted(claimed.id, claimed.sendAttempts, deps.now()));
      } catch (error) {
        await afterFailure(claimed, error, context.lastAttempt);
        throw error instanceof AdjutantError ? error : new AdjutantError('SMTP_FAILED', errorMessage(error), { cause: error, retryable: false });
      }
      const at = deps.now();
      accepted.set(claimed.id, { sent, at });
      await record(claimed, sent, at);
    },
  };

  async function afterFailure(draft: Draft, error: unknown, lastAttempt: boolean): Promise<void> {
    const reason = errorMessage(error);
    const outcome = error instanceof SendError ? error.outcome : 'not-sent';
    let shown: Draft | null;
    if (outcome === 'unknown') {
      shown = await deps.drafts.markUnknown(draft.id, reason, { actor: JOB_SEND_REPLY, action: 'reply.outcome-unknown', data: { reason, messageId: draft.sentMessageId } });
    } else if (outcome === 'refused' || lastAttempt) {
      const why = outcome === 'refused' ? reason : `gave up after ${draft.sendAttempts} attempts: ${reason}`;
      shown = await deps.drafts.markFailed(draft.id, ['sending'], why, { actor: JOB_SEND_REPLY, action: 'reply.failed', data: { reason: why } });
    } else {
      // If this write fails too, the draft stays in sending with no data sent: the retry claims it again.
      await deps.drafts.releaseForRetry(draft.id, reason, { actor: JOB_SEND_REPLY, action: 'reply.retrying', data: { reason, attempt: draft.sendAttempts } });
      return;
    }
    if (shown) await showInSlack(deps, shown);
  }
}

/**
 * A send whose worker died after the data started to leave: nobody can know whether it arrived,
 * so it is shown as "may have been sent" with a Send again button.
 */
export async function giveUpAsUnknown(deps: PipelineDeps, draft: Draft, actor: string): Promise<boolean> {
  const reason = 'the service stopped while the message was being sent, before the mail server confirmed it';
  const unknown = await deps.drafts.markUnknown(draft.id, reason, { actor, action: 'reply.outcome-unknown', data: { reason, messageId: draft.sentMessageId } });
  if (unknown) await showInSlack(deps, unknown);
  return unknown !== null;
}

/** Show the draft's state on its Slack message, when it has one. */
export async function showInSlack(deps: PipelineDeps, draft: Draft): Promise<void> {
  if (!deps.slack || !draft.slackChannel || !draft.slackDraftTs) return;
  await deps.slack.poster
    .updateDraft(draft.slackChannel, draft.slackDraftTs, draftView(draft))
    // The card is a view of the draft; a stale one is logged (the reconciler refreshes it), never retried into a second send.
    .catch((error: unknown) => deps.logger.warn({ err: error, draftId: draft.id }, 'could not update the Slack message'));
}
