import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../db/database.ts';
import { AdjutantError } from '../errors.ts';
import { Prisma, type Draft as DraftRow } from '../db/generated/client.ts';

/**
 * pending → approved → sending → sent; pending → rejected; sending → failed (refused, or retries
 * exhausted) or unknown (the connection broke after the data went out: "may have been sent").
 * failed and unknown go back to approved only by a person's click. pending → superseded when an
 * edit or a redraft makes a new version (kept, never sent).
 */
export type DraftStatus = 'pending' | 'approved' | 'sending' | 'sent' | 'rejected' | 'failed' | 'unknown' | 'superseded';

const DRAFT_STATUSES: readonly DraftStatus[] = ['pending', 'approved', 'sending', 'sent', 'rejected', 'failed', 'unknown', 'superseded'];

/** A reply proposed to a human, as the pipeline and Slack see it (mapped from the row here). */
export interface Draft {
  id: string;
  emailId: string;
  version: number;
  status: DraftStatus;
  toAddress: string;
  toName: string | null;
  subject: string;
  body: string;
  inReplyTo: string | null;
  references: string[];
  provider: string | null;
  model: string | null;
  slackChannel: string | null;
  slackCardTs: string | null;
  slackDraftTs: string | null;
  slackPostStartedAt: Date | null;
  decidedBy: string | null;
  decidedAt: Date | null;
  sentAt: Date | null;
  /** Our Message-ID for the reply, fixed at the first send attempt. */
  sentMessageId: string | null;
  sendAttempts: number;
  sendingStartedAt: Date | null;
  /** The message data started to leave: from here a crash leaves the outcome unknown. */
  dataStartedAt: Date | null;
  error: string | null;
  /** Why it was rejected, when the reviewer said. */
  decisionNote: string | null;
  /** The Slack user who wrote this version; null when a model did. */
  writtenBy: string | null;
  /** The redraft instruction that produced this version. */
  instruction: string | null;
  confidence: number | null;
  rationale: string | null;
  sources: DraftSourceRef[];
  createdAt: Date;
  updatedAt: Date;
}

function toDraft(row: DraftRow): Draft {
  if (!(DRAFT_STATUSES as readonly string[]).includes(row.status)) throw new AdjutantError('CONFLICT', `draft ${row.id} has an unknown status '${row.status}'`, { retryable: false });
  return { ...row, status: row.status as DraftStatus, sources: Array.isArray(row.sources) ? (row.sources as unknown as DraftSourceRef[]) : [] };
}

const orNull = (row: DraftRow | null): Draft | null => (row ? toDraft(row) : null);

export interface NewDraft {
  emailId: string;
  toAddress: string;
  toName: string | null;
  subject: string;
  body: string;
  inReplyTo: string | null;
  references: string[];
  provider: string | null;
  model: string | null;
  /** The drafter's confidence, rationale and the memory it used; absent for a reply a person wrote. */
  confidence?: number | null;
  rationale?: string | null;
  sources?: DraftSourceRef[];
  /** A reply written by a person (Write reply): who. */
  writtenBy?: string | null;
  /** Where a card for the email is already posted (a notice card): the draft goes in its thread. */
  slackChannel?: string | null;
  slackCardTs?: string | null;
}

/** What changes in a new version of a draft; the recipient, subject and threading never do. */
export interface DraftRevision {
  body: string;
  provider: string | null;
  model: string | null;
  confidence: number | null;
  rationale: string | null;
  sources: DraftSourceRef[];
  writtenBy: string | null;
  instruction: string | null;
}

/** A memory entry a draft relied on, as the card links it. */
export interface DraftSourceRef {
  n: number;
  kind: string;
  title: string;
  sourceRef: string;
  url: string | null;
  occurredAt: string | null;
  author: string | null;
}

/** The audit entry written in the same statement as the change it describes. */
export interface DraftAudit {
  actor: string;
  action: string;
  data?: Record<string, unknown>;
}

export interface DraftStore {
  /**
   * The first draft for an email, with its audit entry; a second call returns the existing one
   * (jobs can run twice).
   */
  createFirst(draft: NewDraft, audit: DraftAudit): Promise<{ draft: Draft; created: boolean }>;
  get(id: string): Promise<Draft | null>;
  latestForEmail(emailId: string): Promise<Draft | null>;
  /** The card is recorded as soon as it is posted, so a retry posts only the missing draft message. */
  setSlackCard(id: string, channel: string, cardTs: string): Promise<void>;
  /** The draft message is posted: its ts and the audit entry, together. */
  setSlackDraft(id: string, draftTs: string, audit: DraftAudit): Promise<void>;
  /** Record the draft message when none is recorded yet (a click on a message whose ts a crash lost). */
  adoptSlackDraft(id: string, channel: string, draftTs: string): Promise<void>;
  /** Note that posting starts; returns false when an earlier run had already started (and may have posted). */
  startPosting(id: string, at: Date): Promise<boolean>;
  /**
   * Move pending → approved/rejected for exactly one caller. Double clicks and Slack retries
   * race here; the conditional update lets only the first win.
   */
  decide(id: string, decision: 'approved' | 'rejected', by: string, at: Date, note?: string | null): Promise<Draft | null>;
  /**
   * pending → superseded, and a new pending version with `revision` in the same thread message,
   * for exactly one caller: null when the draft is no longer pending (approved, rejected, or
   * revised by someone else meanwhile).
   */
  revise(id: string, revision: DraftRevision, audit: DraftAudit): Promise<Draft | null>;
  /**
   * A follow-up to a sent reply: a new pending version after it, to the same recipient, in the
   * same card's thread (posted as a new message). Null when the reply was not sent, or a newer
   * version exists already (a second click).
   */
  followUp(sentId: string, revision: DraftRevision, audit: DraftAudit): Promise<Draft | null>;
  /**
   * approved → sending; also sending → sending while the message data has not started to leave
   * (the worker that claimed it died, or its lock lapsed). Each claim takes a new attempt number,
   * the fencing token `markDataStarted` checks, so of two workers only the latest can send.
   * Fixes the Message-ID on the first claim.
   */
  claimForSending(id: string, messageId: string, at: Date): Promise<Draft | null>;
  /**
   * The message data is about to leave, for this attempt only: throws when another claim came
   * since (nothing is sent then). From here on, a crash leaves the outcome unknown.
   */
  markDataStarted(id: string, attempt: number, at: Date): Promise<void>;
  /** sending (or unknown: the answer came late) → sent. */
  markSent(id: string, at: Date, audit: DraftAudit): Promise<Draft | null>;
  /** A failure known to come before the server accepted anything: sending → approved. */
  releaseForRetry(id: string, error: string, audit: DraftAudit): Promise<Draft | null>;
  markFailed(id: string, from: DraftStatus[], error: string, audit: DraftAudit): Promise<Draft | null>;
  /** sending → unknown: the mail may have left; only a person may send it again. */
  markUnknown(id: string, error: string, audit: DraftAudit): Promise<Draft | null>;
  /** failed/unknown → approved, on purpose, by an approver. Keeps the Message-ID. */
  resend(id: string, by: string, at: Date): Promise<Draft | null>;
  /** Drafts in a status whose last change is older than `before` (for the reconciler). */
  inStatusSince(statuses: DraftStatus[], before: Date): Promise<Draft[]>;
  /** Drafts with no draft message in Slack yet, created before `before`. */
  unpostedSince(before: Date): Promise<Draft[]>;
  countByStatus(): Promise<Record<string, number>>;
  /**
   * Drafts waiting for a decision, the longest-waiting first, at most `limit`, and how many wait
   * in all. A version made by an edit or a redraft has waited since the first draft for its email.
   */
  waiting(limit: number): Promise<{ drafts: WaitingDraft[]; total: number }>;
}

export interface WaitingDraft extends Draft {
  waitingSince: Date;
}

export function createDraftStore(prisma: PrismaClient): DraftStore {
  /**
   * One statement: change the draft if it is in an expected status, and write the audit entry
   * only if it changed. A crash cannot leave one without the other.
   */
  const transition = async (id: string, from: DraftStatus[] | Prisma.Sql, set: Prisma.Sql[], audit: DraftAudit, auditData?: Prisma.Sql): Promise<Draft | null> => {
    const when = Array.isArray(from) ? Prisma.sql`"status" IN (${Prisma.join(from)})` : from;
    const rows = await prisma.$queryRaw<{ id: string }[]>`
      WITH changed AS (
        UPDATE "drafts" SET ${Prisma.join([...set, Prisma.sql`"updated_at" = now()`])}
        WHERE "id" = ${id}::uuid AND (${when})
        RETURNING "id", "send_attempts"
      ), logged AS (
        INSERT INTO "audit_log" ("actor", "action", "entity_type", "entity_id", "data")
        SELECT ${audit.actor}, ${audit.action}, 'draft', ${id}, ${auditData ?? Prisma.sql`${JSON.stringify(audit.data ?? {})}::jsonb`} FROM changed
      )
      SELECT "id"::text AS id FROM changed`;
    return rows.length === 1 ? orNull(await prisma.draft.findUnique({ where: { id } })) : null;
  };
  /** For changes made through Prisma's client: the audit row to write in the same transaction. */
  const auditRow = (id: string, audit: DraftAudit) =>
    prisma.auditEntry.create({ data: { actor: audit.actor, action: audit.action, entityType: 'draft', entityId: id, data: (audit.data ?? {}) as Prisma.InputJsonObject } });
  const status = (to: DraftStatus) => Prisma.sql`"status" = ${to}`;
  const error = (text: string | null) => Prisma.sql`"error" = ${text}`;

  return {
    async createFirst(draft, audit) {
      const existing = await prisma.draft.findUnique({ where: { emailId_version: { emailId: draft.emailId, version: 1 } } });
      if (existing) return { draft: toDraft(existing), created: false };
      const id = randomUUID();
      try {
        const [created] = await prisma.$transaction([
          prisma.draft.create({ data: { ...draft, sources: (draft.sources ?? []) as unknown as Prisma.InputJsonValue, id, version: 1 } }),
          auditRow(id, audit),
        ]);
        return { draft: toDraft(created), created: true };
      } catch (error) {
        // A second run of the job got there first: its draft stands.
        const raced = await prisma.draft.findUnique({ where: { emailId_version: { emailId: draft.emailId, version: 1 } } });
        if (raced) return { draft: toDraft(raced), created: false };
        throw error;
      }
    },
    async get(id) {
      return orNull(await prisma.draft.findUnique({ where: { id } }));
    },
    async latestForEmail(emailId) {
      return orNull(await prisma.draft.findFirst({ where: { emailId }, orderBy: { version: 'desc' } }));
    },
    async setSlackCard(id, channel, cardTs) {
      await prisma.draft.update({ where: { id }, data: { slackChannel: channel, slackCardTs: cardTs } });
    },
    async setSlackDraft(id, draftTs, audit) {
      await prisma.$transaction([
        prisma.draft.update({ where: { id }, data: { slackDraftTs: draftTs } }),
        auditRow(id, audit),
      ]);
    },
    async adoptSlackDraft(id, channel, draftTs) {
      await prisma.draft.updateMany({ where: { id, slackDraftTs: null }, data: { slackDraftTs: draftTs, slackChannel: channel } });
    },
    async startPosting(id, at) {
      const { count } = await prisma.draft.updateMany({ where: { id, slackPostStartedAt: null }, data: { slackPostStartedAt: at } });
      return count === 1;
    },
    decide(id, decision, by, at, note = null) {
      return transition(id, ['pending'], [status(decision), Prisma.sql`"decided_by" = ${by}`, Prisma.sql`"decided_at" = ${at}`, Prisma.sql`"decision_note" = ${note}`], {
        actor: by,
        action: decision === 'approved' ? 'draft.approved' : 'draft.rejected',
        ...(note ? { data: { reason: note } } : {}),
      });
    },
    async followUp(sentId, revision, audit) {
      const next = randomUUID();
      const rows = await prisma.$queryRaw<{ id: string }[]>`
        WITH sent AS (
          SELECT * FROM "drafts" d WHERE d."id" = ${sentId}::uuid AND d."status" = 'sent'
            AND d."version" = (SELECT max(v."version") FROM "drafts" v WHERE v."email_id" = d."email_id")
        ), created AS (
          INSERT INTO "drafts" ("id", "email_id", "version", "status", "to_address", "to_name", "subject", "body", "in_reply_to", "references",
                                "provider", "model", "confidence", "rationale", "sources", "written_by", "instruction", "slack_channel", "slack_card_ts", "updated_at")
          SELECT ${next}::uuid, sent."email_id", sent."version" + 1, 'pending', sent."to_address", sent."to_name", sent."subject", ${revision.body},
                 COALESCE(sent."sent_message_id", sent."in_reply_to"),
                 CASE WHEN sent."sent_message_id" IS NULL THEN sent."references" ELSE array_append(sent."references", sent."sent_message_id") END,
                 ${revision.provider}, ${revision.model}, ${revision.confidence}, ${revision.rationale}, ${JSON.stringify(revision.sources)}::jsonb,
                 ${revision.writtenBy}, ${revision.instruction}, sent."slack_channel", sent."slack_card_ts", now()
            FROM sent
          ON CONFLICT ("email_id", "version") DO NOTHING
          RETURNING "id"
        ), logged AS (
          INSERT INTO "audit_log" ("actor", "action", "entity_type", "entity_id", "data")
          SELECT ${audit.actor}, ${audit.action}, 'draft', "id"::text, ${JSON.stringify({ ...audit.data, followsUp: sentId })}::jsonb FROM created
        )
        SELECT "id"::text AS id FROM created`;
      return rows.length === 1 ? orNull(await prisma.draft.findUnique({ where: { id: next } })) : null;
    },
    async revise(id, revision, audit) {
      const next = randomUUID();
      // One statement: the old version leaves pending only if it still was, and the new one
      // takes its place in the same thread message. A second editor finds it superseded.
      const rows = await prisma.$queryRaw<{ id: string }[]>`
        WITH old AS (
          UPDATE "drafts" SET "status" = 'superseded', "updated_at" = now() WHERE "id" = ${id}::uuid AND "status" = 'pending' RETURNING *
        ), created AS (
          INSERT INTO "drafts" ("id", "email_id", "version", "status", "to_address", "to_name", "subject", "body", "in_reply_to", "references",
                                "provider", "model", "confidence", "rationale", "sources", "written_by", "instruction",
                                "slack_channel", "slack_card_ts", "slack_draft_ts", "slack_post_started_at", "updated_at")
          SELECT ${next}::uuid, old."email_id", (SELECT max(d."version") FROM "drafts" d WHERE d."email_id" = old."email_id") + 1, 'pending',
                 old."to_address", old."to_name", old."subject", ${revision.body}, old."in_reply_to", old."references",
                 ${revision.provider}, ${revision.model}, ${revision.confidence}, ${revision.rationale}, ${JSON.stringify(revision.sources)}::jsonb,
                 ${revision.writtenBy}, ${revision.instruction},
                 old."slack_channel", old."slack_card_ts", old."slack_draft_ts", old."slack_post_started_at", now()
            FROM old
          RETURNING "id"
        ), logged AS (
          INSERT INTO "audit_log" ("actor", "action", "entity_type", "entity_id", "data")
          SELECT ${audit.actor}, ${audit.action}, 'draft', "id"::text, ${JSON.stringify({ ...audit.data, previous: id })}::jsonb FROM created
        )
        SELECT "id"::text AS id FROM created`;
      return rows.length === 1 ? orNull(await prisma.draft.findUnique({ where: { id: next } })) : null;
    },
    claimForSending(id, messageId, at) {
      return transition(
        id,
        Prisma.sql`"status" = 'approved' OR ("status" = 'sending' AND "data_started_at" IS NULL)`,
        [
          status('sending'),
          Prisma.sql`"sent_message_id" = COALESCE("sent_message_id", ${messageId})`,
          Prisma.sql`"send_attempts" = "send_attempts" + 1`,
          Prisma.sql`"sending_started_at" = ${at}`,
          Prisma.sql`"data_started_at" = NULL`,
        ],
        { actor: 'send-reply', action: 'reply.sending' },
        // The attempt number is the claim's fencing token: the audit entry records which it was.
        Prisma.sql`jsonb_build_object('attempt', "send_attempts")`,
      );
    },
    async markDataStarted(id, attempt, at) {
      const { count } = await prisma.draft.updateMany({ where: { id, status: 'sending', sendAttempts: attempt, dataStartedAt: null }, data: { dataStartedAt: at } });
      if (count !== 1) throw new AdjutantError('CONFLICT', `draft ${id} is no longer being sent by this worker; not sending`, { retryable: false });
    },
    markSent(id, at, audit) {
      // From unknown too: a worker whose lock lapsed may learn of the acceptance after another
      // worker gave the outcome up as unknown; the server's answer is the better record.
      return transition(id, ['sending', 'unknown'], [status('sent'), Prisma.sql`"sent_at" = ${at}`, error(null)], audit);
    },
    releaseForRetry(id, text, audit) {
      return transition(id, ['sending'], [status('approved'), error(text)], audit);
    },
    markFailed(id, from, text, audit) {
      return transition(id, from, [status('failed'), error(text)], audit);
    },
    markUnknown(id, text, audit) {
      return transition(id, ['sending'], [status('unknown'), error(text)], audit);
    },
    resend(id, by, at) {
      return transition(id, ['failed', 'unknown'], [status('approved'), Prisma.sql`"decided_by" = ${by}`, Prisma.sql`"decided_at" = ${at}`, error(null)], {
        actor: by,
        action: 'draft.resend',
      });
    },
    async inStatusSince(statuses, before) {
      return (await prisma.draft.findMany({ where: { status: { in: statuses }, updatedAt: { lt: before } }, orderBy: { updatedAt: 'asc' }, take: 200 })).map(toDraft);
    },
    async unpostedSince(before) {
      return (await prisma.draft.findMany({ where: { status: 'pending', slackDraftTs: null, createdAt: { lt: before } }, orderBy: { createdAt: 'asc' }, take: 200 })).map(toDraft);
    },
    async waiting(limit) {
      // Ordered by the first version's time in SQL: the oldest rows are not the longest waiting
      // (an old email's edited version is a new row), so LIMIT on rows would drop them.
      const [longest, total] = await Promise.all([
        prisma.$queryRaw<{ id: string; waiting_since: Date }[]>`
          SELECT d.id, f.first_at AS waiting_since FROM drafts d
          CROSS JOIN LATERAL (SELECT min(v.created_at) AS first_at FROM drafts v WHERE v.email_id = d.email_id) f
          WHERE d.status = 'pending' ORDER BY f.first_at, d.created_at, d.id LIMIT ${limit}`,
        prisma.draft.count({ where: { status: 'pending' } }),
      ]);
      const rows = new Map((await prisma.draft.findMany({ where: { id: { in: longest.map((row) => row.id) } } })).map((row) => [row.id, row]));
      const drafts = longest.flatMap((row) => {
        const draft = rows.get(row.id);
        return draft ? [{ ...toDraft(draft), waitingSince: row.waiting_since }] : [];
      });
      return { drafts, total };
    },
    async countByStatus() {
      const groups = await prisma.draft.groupBy({ by: ['status'], _count: { _all: true } });
      return Object.fromEntries(groups.map((group) => [group.status, group._count._all]));
    },
  };
}
