import pg from 'pg';
import type { ApprovalRecord } from './approver.ts';
import type { Journal } from './fakes.ts';

/**
 * The end of a drill: what the database says and what reached the fakes, per delivered
 * message, and the invariants checked over them. The outside (Slack, SMTP) is the truth for
 * "posted" and "sent"; the database is the truth for "stored" and "stuck".
 */
export interface Delivered {
  index: number;
  messageId: string;
  originalMessageId: string | null;
  clientAddress: string;
  format: string;
  /** ms since the drill started, when LMTP accepted it. */
  deliveredAt: number;
  /** The same moment on the wall clock, to compare with the database's received_at. */
  deliveredEpochMs: number;
}

export interface DraftRow {
  id: string;
  emailId: string;
  messageId: string;
  status: string;
  slackCardTs: string | null;
  slackDraftTs: string | null;
  decidedBy: string | null;
  error: string | null;
}

export interface StoredEmail {
  count: number;
  isForward: boolean;
  emailId: string;
  receivedAtEpochMs: number;
}

export interface DatabaseSnapshot {
  emailsByMessageId: Map<string, StoredEmail>;
  drafts: DraftRow[];
  /** agenda_jobs by name: locked (by a process that may be dead), queued, failed for good. */
  jobs: { name: string; locked: number; queued: number; failed: number; total: number }[];
  repliesSentAudit: Map<string, number>;
  /** The audit trail by entity (email or draft id), oldest first. */
  audit: Map<string, AuditRow[]>;
}

export interface AuditRow {
  atEpochMs: number;
  actor: string;
  action: string;
  data: string;
}

export async function readDatabase(databaseUrl: string): Promise<DatabaseSnapshot> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    // Plain SQL on long-standing columns: the schema is being extended while this drill exists.
    const emails = await client.query<{ message_id: string; n: string; is_forward: boolean; id: string; received_ms: string }>(
      'SELECT message_id, count(*) OVER (PARTITION BY message_id) AS n, is_forward, id::text AS id, (extract(epoch FROM received_at) * 1000)::bigint AS received_ms FROM emails',
    );
    const drafts = await client.query<{ id: string; email_id: string; message_id: string; status: string; slack_card_ts: string | null; slack_draft_ts: string | null; decided_by: string | null; error: string | null }>(
      'SELECT d.id::text AS id, d.email_id::text AS email_id, e.message_id, d.status, d.slack_card_ts, d.slack_draft_ts, d.decided_by, d.error FROM drafts d JOIN emails e ON e.id = d.email_id',
    );
    const jobs = await client.query<{ name: string; locked: string; queued: string; failed: string; total: string }>(
      `SELECT name,
              count(*) FILTER (WHERE locked_at IS NOT NULL) AS locked,
              count(*) FILTER (WHERE locked_at IS NULL AND next_run_at IS NOT NULL) AS queued,
              count(*) FILTER (WHERE failed_at IS NOT NULL AND next_run_at IS NULL) AS failed,
              count(*) AS total
         FROM agenda_jobs GROUP BY name ORDER BY name`,
    );
    const audit = await client.query<{ entity_id: string; n: string }>("SELECT entity_id, count(*) AS n FROM audit_log WHERE action = 'reply.sent' GROUP BY entity_id");
    const trail = await client.query<{ entity_id: string; at_ms: string; actor: string; action: string; data: unknown }>(
      'SELECT entity_id, (extract(epoch FROM at) * 1000)::bigint AS at_ms, actor, action, data FROM audit_log ORDER BY id',
    );
    const auditByEntity = new Map<string, AuditRow[]>();
    for (const row of trail.rows) {
      const entries = auditByEntity.get(row.entity_id) ?? [];
      entries.push({ atEpochMs: Number(row.at_ms), actor: row.actor, action: row.action, data: JSON.stringify(row.data ?? {}).slice(0, 160) });
      auditByEntity.set(row.entity_id, entries);
    }
    const emailsByMessageId = new Map<string, StoredEmail>();
    for (const row of emails.rows) emailsByMessageId.set(row.message_id, { count: Number(row.n), isForward: row.is_forward, emailId: row.id, receivedAtEpochMs: Number(row.received_ms) });
    return {
      emailsByMessageId,
      drafts: drafts.rows.map((row) => ({
        id: row.id,
        emailId: row.email_id,
        messageId: row.message_id,
        status: row.status,
        slackCardTs: row.slack_card_ts,
        slackDraftTs: row.slack_draft_ts,
        decidedBy: row.decided_by,
        error: row.error,
      })),
      jobs: jobs.rows.map((row) => ({ name: row.name, locked: Number(row.locked), queued: Number(row.queued), failed: Number(row.failed), total: Number(row.total) })),
      repliesSentAudit: new Map(audit.rows.map((row) => [row.entity_id, Number(row.n)])),
      audit: auditByEntity,
    };
  } finally {
    await client.end();
  }
}

/** One delivered message, followed through the service. */
export interface MessageOutcome {
  index: number;
  messageId: string;
  stored: number;
  isForward: boolean;
  drafts: number;
  draftId: string | null;
  status: string | null;
  cards: number;
  draftMessages: number;
  /** Draft messages whose buttons still work at the end (never updated, or last update kept them). */
  liveDraftMessages: number;
  approvalPlanned: boolean;
  /** The drill's click got a 200 from the service. */
  approvalAnswered: boolean;
  /** The database says an approver decided to send it. */
  approved: boolean;
  smtpMessages: number;
  deliveryToCardMs: number | null;
  clickToSentMs: number | null;
  acceptedClickToSentMs: number | null;
  /** Delivery → card plus first click → sent: the reply's time in the service, without the person's reading time. */
  replyServiceMs: number | null;
}

const DECIDED_TO_SEND = new Set(['approved', 'sending', 'sent', 'failed', 'unknown']);

export function followMessages(delivered: Delivered[], database: DatabaseSnapshot, journal: Journal, approvals: Map<number, ApprovalRecord>, planned: Set<number>): MessageOutcome[] {
  const draftsByEmail = new Map<string, DraftRow[]>();
  for (const draft of database.drafts) draftsByEmail.set(draft.emailId, [...(draftsByEmail.get(draft.emailId) ?? []), draft]);
  const lastUpdateByTs = new Map<string, boolean>();
  for (const update of journal.updates) lastUpdateByTs.set(update.ts, update.live);

  return delivered.map((message): MessageOutcome => {
    const email = database.emailsByMessageId.get(message.messageId);
    const drafts = email ? (draftsByEmail.get(email.emailId) ?? []) : [];
    const draft = drafts[0] ?? null;
    const cards = journal.cards.filter((card) => card.index === message.index);
    const posts = journal.draftPosts.filter((post) => post.index === message.index);
    const mails = journal.mails.filter((mail) => mail.index === message.index);
    const record = approvals.get(message.index);
    const firstCard = cards[0];
    const firstMail = mails[0];
    const deliveryToCardMs = firstCard ? firstCard.t - message.deliveredAt : null;
    const clickToSentMs = firstMail && record?.firstClickAt != null ? firstMail.t - record.firstClickAt : null;
    const acceptedClickToSentMs = firstMail && record?.acceptedAt != null ? firstMail.t - record.acceptedAt : null;
    return {
      index: message.index,
      messageId: message.messageId,
      stored: email?.count ?? 0,
      isForward: email?.isForward ?? false,
      drafts: drafts.length,
      draftId: draft?.id ?? null,
      status: draft?.status ?? null,
      cards: cards.length,
      draftMessages: posts.length,
      liveDraftMessages: posts.filter((post) => lastUpdateByTs.get(post.ts) ?? true).length,
      approvalPlanned: planned.has(message.index),
      approvalAnswered: record?.acceptedAt != null,
      approved: draft !== null && draft.decidedBy !== null && DECIDED_TO_SEND.has(draft.status),
      smtpMessages: mails.length,
      deliveryToCardMs,
      clickToSentMs,
      acceptedClickToSentMs,
      replyServiceMs: deliveryToCardMs !== null && clickToSentMs !== null ? deliveryToCardMs + clickToSentMs : null,
    };
  });
}

export interface Invariant {
  name: string;
  /** What a clean run has. */
  expected: number;
  actual: number;
  ok: boolean;
  /** A few failing messages, for the report. */
  examples: string[];
  /** Every failing message's index. */
  indices: number[];
  /**
   * invariant: correctness, fails the run. target: the reply-time goal, fails the run too.
   * warning: visible to people but harmless (a stale button), reported only.
   */
  kind: 'invariant' | 'target' | 'warning';
}

const EXAMPLES = 5;

export function checkInvariants(outcomes: MessageOutcome[], options: { replyTargetMs: number }): Invariant[] {
  const describe = (outcome: MessageOutcome, extra: string) => `#${outcome.index} ${outcome.messageId} draft ${outcome.draftId ?? '-'} status ${outcome.status ?? '-'}: ${extra}`;
  const check = (name: string, failing: MessageOutcome[], expected: number, actual: number, explain: (outcome: MessageOutcome) => string): Invariant => ({
    name,
    expected,
    actual,
    ok: failing.length === 0,
    examples: failing.slice(0, EXAMPLES).map((outcome) => describe(outcome, explain(outcome))),
    indices: failing.map((outcome) => outcome.index),
    kind: 'invariant',
  });
  const approved = outcomes.filter((outcome) => outcome.approved || outcome.approvalAnswered);
  const forwards = outcomes.filter((outcome) => outcome.stored > 0 && outcome.isForward);

  const notStoredOnce = outcomes.filter((outcome) => outcome.stored !== 1);
  const notForward = outcomes.filter((outcome) => outcome.stored > 0 && !outcome.isForward);
  const stuckBeforeSlack = forwards.filter((outcome) => outcome.draftMessages === 0);
  const manyDrafts = outcomes.filter((outcome) => outcome.drafts > 1);
  const manyCards = outcomes.filter((outcome) => outcome.cards > 1);
  const manyDraftMessages = outcomes.filter((outcome) => outcome.draftMessages > 1 || outcome.liveDraftMessages > 1);
  const lostClicks = outcomes.filter((outcome) => outcome.approvalAnswered && outcome.status === 'pending');
  const sentOnce = approved.filter((outcome) => outcome.smtpMessages === 1 && outcome.status === 'sent');
  const sentTwice = approved.filter((outcome) => outcome.smtpMessages > 1);
  const notSent = approved.filter((outcome) => outcome.smtpMessages === 0 && outcome.status !== 'failed' && outcome.status !== 'unknown');
  const sentNotRecorded = approved.filter((outcome) => outcome.smtpMessages === 1 && outcome.status !== 'sent' && outcome.status !== 'unknown' && outcome.status !== 'failed');
  const stuck = outcomes.filter((outcome) => outcome.status === 'approved' || outcome.status === 'sending');
  const failedOrUnknown = approved.filter((outcome) => outcome.status === 'failed' || outcome.status === 'unknown');
  const failed = approved.filter((outcome) => outcome.status === 'failed');
  // A kill between the data leaving and the server's answer leaves the outcome unknown by design:
  // the card says "may have been sent" with a Send again button, and nothing is resent alone.
  // Reported (with how many copies the server got), not counted as a failure.
  const uncertain = approved.filter((outcome) => outcome.status === 'unknown');
  const staleButtons = outcomes.filter((outcome) => outcome.status !== null && outcome.status !== 'pending' && outcome.liveDraftMessages > 0);
  const unapprovedSent = outcomes.filter((outcome) => outcome.smtpMessages > 0 && !outcome.approved && !outcome.approvalAnswered);
  const replies = approved.map((outcome) => outcome.replyServiceMs).filter((value): value is number => value !== null);
  const slowest = replies.length > 0 ? Math.max(...replies) : 0;
  // An approved reply that never went out is the slowest of all: it misses the target too.
  const slow = approved.filter((outcome) => outcome.replyServiceMs === null ? outcome.status !== 'failed' : outcome.replyServiceMs > options.replyTargetMs);

  return [
    check('delivered messages stored exactly once', notStoredOnce, outcomes.length, outcomes.length - notStoredOnce.length, (outcome) => `stored ${outcome.stored} times`),
    check('stored as a teammate forward', notForward, outcomes.length, outcomes.length - notStoredOnce.length - notForward.length, () => 'not recognised as a forward (no draft will come)'),
    check('forwards that reached Slack (none stuck before the draft message)', stuckBeforeSlack, forwards.length, forwards.length - stuckBeforeSlack.length, (outcome) =>
      outcome.drafts === 0 ? 'no draft in the database' : outcome.cards > 0 ? 'card posted, draft message never posted' : 'draft stored, nothing posted to Slack'),
    check('emails with more than one draft', manyDrafts, 0, manyDrafts.length, (outcome) => `${outcome.drafts} drafts`),
    check('emails with more than one card', manyCards, 0, manyCards.length, (outcome) => `${outcome.cards} cards posted`),
    check('drafts with more than one draft message (live buttons)', manyDraftMessages, 0, manyDraftMessages.length, (outcome) => `${outcome.draftMessages} draft messages, ${outcome.liveDraftMessages} with live buttons`),
    check('approval clicks answered 200 but not taken', lostClicks, 0, lostClicks.length, () => 'click answered, draft still pending'),
    check('approved drafts sent exactly once', [...sentTwice, ...notSent, ...sentNotRecorded], approved.length - failedOrUnknown.length, sentOnce.length, (outcome) => `${outcome.smtpMessages} SMTP messages`),
    check('  of which sent more than once', sentTwice, 0, sentTwice.length, (outcome) => `${outcome.smtpMessages} SMTP messages`),
    check('  of which never sent (lost)', notSent, 0, notSent.length, (outcome) => `no SMTP message; status ${outcome.status}`),
    check('  of which sent but not recorded as sent', sentNotRecorded, 0, sentNotRecorded.length, (outcome) => `SMTP received it; status ${outcome.status}`),
    check('drafts stuck in approved/sending', stuck, 0, stuck.length, (outcome) => `${outcome.smtpMessages} SMTP messages`),
    check('approved drafts failed', failed, 0, failed.length, (outcome) => `${outcome.smtpMessages} SMTP messages`),
    { ...check('approved drafts shown as "may have been sent" (killed inside the server\'s answer window)', uncertain, 0, uncertain.length, (outcome) => `${outcome.smtpMessages} SMTP messages`), kind: 'warning' },
    check('mail sent without an approval', unapprovedSent, 0, unapprovedSent.length, (outcome) => `${outcome.smtpMessages} SMTP messages`),
    { ...check('decided drafts whose Slack message still offers Approve', staleButtons, 0, staleButtons.length, (outcome) => `${outcome.liveDraftMessages} draft messages with live buttons`), kind: 'warning' },
    { ...check(`slowest reply under ${options.replyTargetMs / 1000} s (delivery→card + click→sent)`, slow, options.replyTargetMs, Math.round(slowest), (outcome) =>
      outcome.replyServiceMs === null ? 'no reply sent' : `${Math.round(outcome.replyServiceMs / 100) / 10} s`), kind: 'target' },
  ];
}

export interface Spread {
  count: number;
  medianMs: number | null;
  p95Ms: number | null;
  maxMs: number | null;
}

export function spread(values: (number | null)[]): Spread {
  const sorted = values.filter((value): value is number => value !== null).sort((a, b) => a - b);
  const at = (quantile: number) => (sorted.length === 0 ? null : Math.round(sorted[Math.max(0, Math.ceil(quantile * sorted.length) - 1)] ?? 0));
  return { count: sorted.length, medianMs: at(0.5), p95Ms: at(0.95), maxMs: sorted.length === 0 ? null : Math.round(sorted.at(-1) ?? 0) };
}
