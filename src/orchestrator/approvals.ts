import type { SlackPoster } from '../channels/slack/slack-poster.ts';
import type { Logger } from '../logger.ts';
import type { AuditLog } from '../memory/audit.ts';
import type { Draft, DraftStore } from './draft-store.ts';
import type { JobQueue } from './job-queue.ts';
import { JOB_FOLLOW_UP_DRAFT, JOB_POST_APPROVAL, JOB_REDRAFT_REPLY, JOB_SEND_REPLY } from './job-names.ts';
import { replySubject } from '../channels/email/smtp-sender.ts';
import { replyTarget, type EmailStore } from '../memory/email-store.ts';
import { summariseEdit, type FeedbackInput } from '../memory/feedback.ts';
import { replyFields } from './jobs/draft-reply.ts';

export interface DecisionRequest {
  draftId: string;
  userId: string;
  /** `resend`: a failed send (Retry) or one that may have gone out (Send again), sent on purpose. */
  decision: 'approved' | 'rejected' | 'resend';
  /** Where the click happened, for ephemeral answers. */
  channel: string | null;
  /** The message clicked: recorded as the draft's message when a crash kept its ts from being saved. */
  messageTs?: string | null;
  /** A rejection's reason, when the reviewer gave one. */
  note?: string | null;
}

export type DecisionOutcome =
  | { kind: 'decided'; draft: Draft }
  | { kind: 'not-allowed' }
  | { kind: 'already-decided'; draft: Draft }
  | { kind: 'not-found' };

export interface ApprovalService {
  decide(request: DecisionRequest): Promise<DecisionOutcome>;
  /**
   * The approver check before a modal opens (and again when it is submitted): a refusal is
   * audited and told to the person, ephemerally.
   */
  allow(userId: string, what: { action: string; entityType: 'draft' | 'email' | 'job' | 'tool_call'; entityId: string; channel: string | null }): Promise<boolean>;
  draft(id: string): Promise<Draft | null>;
  /** Who a reply to this email goes to (decided from the email, never by a person or a model). */
  replyTo(emailId: string): Promise<{ emailId: string; toAddress: string | null; subject: string } | null>;
  /** Save a teammate's edit as a new version; `unchanged` when the text is the same. */
  edit(request: { draftId: string; userId: string; body: string; channel: string | null }): Promise<RevisionOutcome>;
  /** Ask the drafter for a new version following `instruction`. */
  redraft(request: { draftId: string; userId: string; instruction: string; channel: string | null }): Promise<{ kind: 'queued' } | { kind: 'no-model' } | Exclude<RevisionOutcome, { kind: 'revised' } | { kind: 'unchanged' }>>;
  /** Ask for a follow-up to a sent reply that got no answer. */
  followUp(request: { draftId: string; userId: string; channel: string | null }): Promise<{ kind: 'queued' } | { kind: 'no-model' } | { kind: 'not-sent' } | { kind: 'not-allowed' } | { kind: 'not-found' }>;
  /** A reply a teammate wrote (no model configured): the first draft, through the same approval. */
  writeReply(request: { emailId: string; userId: string; body: string; channel: string | null; cardTs: string | null }): Promise<{ kind: 'created'; draft: Draft } | { kind: 'exists'; draft: Draft } | { kind: 'not-allowed' } | { kind: 'not-found' }>;
}

export type RevisionOutcome = { kind: 'revised'; draft: Draft } | { kind: 'unchanged' } | { kind: 'not-pending'; draft: Draft } | { kind: 'not-allowed' } | { kind: 'not-found' };

/** What the team's decisions teach later drafts (src/memory/feedback.ts). */
export interface FeedbackRecorder {
  record(input: FeedbackInput): Promise<void>;
}

/** What is needed of an email to write a reply to it: the stored email and its triage. */
export type ReplyEmails = Pick<EmailStore, 'get'>;

/**
 * A click on Approve or Reject. Slack retries and double clicks arrive here more than once;
 * the draft's conditional status change lets exactly one through, and the send job is keyed
 * by the draft, so one approval sends one email.
 */
export function createApprovalService(deps: {
  drafts: DraftStore;
  emails: ReplyEmails;
  audit: AuditLog;
  queue: JobQueue;
  poster: SlackPoster | null;
  feedback: FeedbackRecorder;
  /** A model is configured: redrafts can be made. */
  canDraft: boolean;
  isApprover(userId: string): Promise<boolean>;
  now(): Date;
  logger: Logger;
}): ApprovalService {
  const { drafts, audit, queue, poster, logger } = deps;
  const refuse = async (userId: string, what: { action: string; entityType: 'draft' | 'email' | 'job' | 'tool_call'; entityId: string; channel: string | null }) => {
    await audit.record({ actor: userId, action: `${what.entityType}.${what.action}.refused`, entityType: what.entityType, entityId: what.entityId, data: { reason: 'not an approver' } });
    tell(what.channel, userId, 'Only approvers can decide on drafts (see SLACK_APPROVERS). Nothing was changed or sent.');
  };
  const allow = async (userId: string, what: { action: string; entityType: 'draft' | 'email' | 'job' | 'tool_call'; entityId: string; channel: string | null }) => {
    if (await deps.isApprover(userId)) return true;
    await refuse(userId, what);
    return false;
  };
  /** Feedback is a lesson, not a decision: failing to keep it must not undo or block the decision. */
  const learn = async (draft: Draft, kind: FeedbackInput['kind'], text: string | null, givenBy: string) => {
    const email = await deps.emails.get(draft.emailId);
    const category = email ? (email.isForward ? 'forward' : email.triageCategory) : null;
    await deps.feedback
      .record({ kind, draftId: draft.id, emailId: draft.emailId, counterparty: draft.toAddress, category, text, givenBy })
      .catch((error: unknown) => logger.warn({ err: error, draftId: draft.id }, 'could not keep the team’s feedback'));
  };
  // Not awaited: the click is answered (Slack's 3 s limit) without waiting on another Slack round trip.
  const tell = (channel: string | null, user: string, text: string) => {
    if (!poster || !channel) return;
    void poster.postEphemeral(channel, user, text).catch((error: unknown) => logger.warn({ err: error }, 'could not answer the click'));
  };
  // Each send on purpose is its own job (the first one's key stays taken by the finished job).
  const enqueueSend = (draft: Draft) => queue.enqueue(JOB_SEND_REPLY, sendJobKey(draft), { draftId: draft.id });
  return {
    allow,
    draft: (id) => drafts.get(id),
    async replyTo(emailId) {
      const email = await deps.emails.get(emailId);
      if (!email) return null;
      const target = replyTarget(email);
      return { emailId, toAddress: target.address, subject: replySubject(target.subject) };
    },
    async edit({ draftId, userId, body, channel }) {
      const existing = await drafts.get(draftId);
      if (!existing) return { kind: 'not-found' };
      if (!(await allow(userId, { action: 'edit', entityType: 'draft', entityId: draftId, channel }))) return { kind: 'not-allowed' };
      if (existing.status !== 'pending') return { kind: 'not-pending', draft: existing };
      if (body.trim() === existing.body.trim()) return { kind: 'unchanged' };
      const revised = await drafts.revise(draftId, { body, provider: null, model: null, confidence: null, rationale: null, sources: [], writtenBy: userId, instruction: null }, { actor: userId, action: 'draft.edited' });
      if (!revised) return { kind: 'not-pending', draft: (await drafts.get(draftId)) ?? existing };
      await learn(revised, 'edited', summariseEdit(existing.body, body), userId);
      return { kind: 'revised', draft: revised };
    },
    async redraft({ draftId, userId, instruction, channel }) {
      const existing = await drafts.get(draftId);
      if (!existing) return { kind: 'not-found' };
      if (!(await allow(userId, { action: 'redraft', entityType: 'draft', entityId: draftId, channel }))) return { kind: 'not-allowed' };
      if (existing.status !== 'pending') return { kind: 'not-pending', draft: existing };
      if (!deps.canDraft) return { kind: 'no-model' };
      await audit.record({ actor: userId, action: 'draft.redraft-requested', entityType: 'draft', entityId: draftId, data: { instruction } });
      await learn(existing, 'redraft', instruction, userId);
      // One redraft per version: the new version is redrafted under its own id.
      await queue.enqueue(JOB_REDRAFT_REPLY, draftId, { draftId, instruction, requestedBy: userId });
      return { kind: 'queued' };
    },
    async followUp({ draftId, userId, channel }) {
      const sent = await drafts.get(draftId);
      if (!sent) return { kind: 'not-found' };
      if (!(await allow(userId, { action: 'follow-up', entityType: 'draft', entityId: draftId, channel }))) return { kind: 'not-allowed' };
      if (sent.status !== 'sent') return { kind: 'not-sent' };
      if (!deps.canDraft) return { kind: 'no-model' };
      await queue.enqueue(JOB_FOLLOW_UP_DRAFT, draftId, { draftId, requestedBy: userId });
      return { kind: 'queued' };
    },
    async writeReply({ emailId, userId, body, channel, cardTs }) {
      const email = await deps.emails.get(emailId);
      if (!email) return { kind: 'not-found' };
      if (!(await allow(userId, { action: 'write-reply', entityType: 'email', entityId: emailId, channel }))) return { kind: 'not-allowed' };
      const fields = replyFields(email);
      if (!fields) return { kind: 'not-found' };
      const { draft, created } = await drafts.createFirst(
        { emailId, ...fields, body, provider: null, model: null, writtenBy: userId, slackChannel: channel, slackCardTs: cardTs },
        { actor: userId, action: 'draft.written', data: { emailId } },
      );
      if (!created) return { kind: 'exists', draft };
      await queue.enqueue(JOB_POST_APPROVAL, draft.id, { draftId: draft.id });
      return { kind: 'created', draft };
    },
    async decide(request) {
      const existing = await drafts.get(request.draftId);
      if (!existing) return { kind: 'not-found' };
      // The click proves which message shows this draft: the send job can then update it.
      if (!existing.slackDraftTs && request.messageTs && request.channel) await drafts.adoptSlackDraft(existing.id, request.channel, request.messageTs);
      const verb = { approved: 'approve', rejected: 'reject', resend: 'resend' }[request.decision];
      if (!(await allow(request.userId, { action: verb, entityType: 'draft', entityId: existing.id, channel: request.channel }))) return { kind: 'not-allowed' };
      // The status change and its audit entry are one statement (see the draft store).
      const decided =
        request.decision === 'resend'
          ? await drafts.resend(existing.id, request.userId, deps.now())
          : await drafts.decide(existing.id, request.decision, request.userId, deps.now(), request.note?.trim() || null);
      if (!decided) {
        const current = (await drafts.get(existing.id)) ?? existing;
        const who = current.decidedBy ? `<@${current.decidedBy}>` : 'someone';
        tell(request.channel, request.userId, `This draft was already ${current.status === 'unknown' ? 'handled' : current.status} by ${who}.`);
        return { kind: 'already-decided', draft: current };
      }
      if (decided.status === 'approved') await enqueueSend(decided);
      if (decided.status === 'rejected') await learn(decided, 'rejected', decided.decisionNote, request.userId);
      return { kind: 'decided', draft: decided };
    },
  };
}

/**
 * The send job's key: the draft for the first send; for a later round (a resend on purpose, or
 * the reconciler's), the draft plus the time of its last change, which is new for each round.
 */
export function sendJobKey(draft: Pick<Draft, 'id' | 'sendAttempts' | 'updatedAt'>): string {
  return draft.sendAttempts === 0 ? draft.id : `${draft.id}:${draft.updatedAt.getTime()}`;
}
