/** The pipeline, one job per step: received email → remembered → drafted → posted → (approved) → sent. */
export const JOB_REMEMBER_EMAIL = 'email.remember';
export const JOB_DRAFT_REPLY = 'email.draft-reply';
export const JOB_POST_APPROVAL = 'draft.post-approval';
export const JOB_SEND_REPLY = 'draft.send-reply';
/** Finds work a crash or an outage stranded, and finishes it or shows it as failed. */
export const JOB_RECONCILE = 'pipeline.reconcile';
/** A card with no draft, for mail a person must look at: an unverified "teammate", a forward with no recoverable sender. */
export const JOB_POST_NOTICE = 'email.post-notice';
/** Gives waiting memory chunks vectors of the current embedding model (new items, backfills after a model change). */
export const JOB_EMBED_MEMORY = 'memory.embed';
/** Refreshes a contact's summary after their mail arrived. */
export const JOB_REFRESH_CONTACT = 'memory.refresh-contact';
/** Tells the approvals channel, once a week, that the cloud model budget is used up. */
export const JOB_BUDGET_NOTICE = 'brains.budget-notice';
/** Sorts mail sent straight to the mailbox: what needs a reply gets a draft, the rest is counted. */
export const JOB_TRIAGE_EMAIL = 'email.triage';
/** A new version of a pending draft, following a teammate's instruction. */
export const JOB_REDRAFT_REPLY = 'draft.redraft';
/** Every minute: enqueues the briefing whose scheduled time (BRIEFING_CRON) just passed, keyed by that time. */
export const JOB_BRIEFING_TICK = 'briefing.tick';
/** Posts the briefing for one scheduled time (its key): once however many workers tick. */
export const JOB_BRIEFING_POST = 'briefing.post';
/** Every few minutes: reminders for drafts waiting long, sent replies with no answer, dates due today. */
export const JOB_FOLLOW_UPS = 'follow-ups.check';
/** A follow-up draft to a sent reply that got no answer (a teammate clicked Draft a follow-up). */
export const JOB_FOLLOW_UP_DRAFT = 'draft.follow-up';
