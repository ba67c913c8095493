import type { BriefingPostData } from './jobs/briefing.ts';
import type { BudgetNoticeData } from './jobs/budget-notice.ts';
import type { DraftReplyData } from './jobs/draft-reply.ts';
import type { FollowUpDraftData } from './jobs/follow-up-draft.ts';
import type { PostApprovalData } from './jobs/post-approval.ts';
import type { PostNoticeData } from './jobs/post-notice.ts';
import type { RedraftReplyData } from './jobs/redraft-reply.ts';
import type { RefreshContactData } from './jobs/refresh-contact.ts';
import type { RememberEmailData } from './jobs/remember-email.ts';
import type { SendReplyData } from './jobs/send-reply.ts';
import type { TriageEmailData } from './jobs/triage-email.ts';
import type { AnswerQuestionData } from './jobs/answer-question.ts';
import type { ToolCallData } from './jobs/tool-calls.ts';

/** What a job is given: a JSON object (the queue adds its key). */
export type JobData = Record<string, unknown>;
/** Jobs that run on an interval or a schedule tick are given nothing. */
type NoData = Record<string, never>;

declare const dataType: unique symbol;
/**
 * A job's name carrying the type of its data, so `enqueue(JOB_SEND_REPLY, key, data)` checks
 * `data` when it compiles (and against the job's schema when it runs). The types come from the
 * job files' schemas (type-only imports: nothing is loaded). A plain string is still accepted,
 * with any data (tests and benchmarks name their own jobs).
 */
export type JobName<T extends JobData = JobData> = string & { readonly [dataType]?: T };

export function jobName<T extends JobData>(name: string): JobName<T> {
  return name;
}

/** The pipeline, one job per step: received email → remembered → drafted → posted → (approved) → sent. */
export const JOB_REMEMBER_EMAIL = jobName<RememberEmailData>('email.remember');
export const JOB_DRAFT_REPLY = jobName<DraftReplyData>('email.draft-reply');
export const JOB_POST_APPROVAL = jobName<PostApprovalData>('draft.post-approval');
export const JOB_SEND_REPLY = jobName<SendReplyData>('draft.send-reply');
/** Finds work a crash or an outage stranded, and finishes it or shows it as failed. */
export const JOB_RECONCILE = jobName<NoData>('pipeline.reconcile');
/** A card with no draft, for mail a person must look at: an unverified "teammate", a forward with no recoverable sender. */
export const JOB_POST_NOTICE = jobName<PostNoticeData>('email.post-notice');
/** Gives waiting memory chunks vectors of the current embedding model (new items, backfills after a model change). */
export const JOB_EMBED_MEMORY = jobName<NoData>('memory.embed');
/** Refreshes a contact's summary after their mail arrived. */
export const JOB_REFRESH_CONTACT = jobName<RefreshContactData>('memory.refresh-contact');
/** Tells the approvals channel, once a week, that the cloud model budget is used up. */
export const JOB_BUDGET_NOTICE = jobName<BudgetNoticeData>('brains.budget-notice');
/** Sorts mail sent straight to the mailbox: what needs a reply gets a draft, the rest is counted. */
export const JOB_TRIAGE_EMAIL = jobName<TriageEmailData>('email.triage');
/** A new version of a pending draft, following a teammate's instruction. */
export const JOB_REDRAFT_REPLY = jobName<RedraftReplyData>('draft.redraft');
/** Every minute, on the minute: enqueues each schedule's occurrence that just passed, keyed by its time (schedules.ts). */
export const JOB_SCHEDULES_TICK = jobName<NoData>('schedules.tick');
/** Posts the briefing for one scheduled time (its key), on BRIEFING_CRON: once however many workers tick. */
export const JOB_BRIEFING_POST = jobName<BriefingPostData>('briefing.post');
/** Every few minutes: reminders for drafts waiting long, sent replies with no answer, dates due today. */
export const JOB_FOLLOW_UPS = jobName<NoData>('follow-ups.check');
/** A follow-up draft to a sent reply that got no answer (a teammate clicked Draft a follow-up). */
export const JOB_FOLLOW_UP_DRAFT = jobName<FollowUpDraftData>('draft.follow-up');
/** Posts the approval card for a write call of an external tool (keyed by the call). */
export const JOB_TOOL_REQUEST_APPROVAL = jobName<ToolCallData>('tool.request-approval');
/** After a teammate decided a tool call: runs it if approved (once), shows the outcome, and resumes the work. */
export const JOB_TOOL_DECIDED = jobName<ToolCallData>('tool.decided');
/** Answers a question again after a tool call it waited on was decided, and posts the answer where it was asked. */
export const JOB_ANSWER_QUESTION = jobName<AnswerQuestionData>('question.answer');
