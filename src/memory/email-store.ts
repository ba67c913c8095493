import { createHash, randomUUID } from 'node:crypto';
import type { ForwardedEmail } from '../channels/email/forward.ts';
import type { EmailAddress, ParsedEmail } from '../channels/email/parse-email.ts';
import { boundedReferences, derivedMessageId, isDerivedMessageId, MAX_ADDRESSES, usableMessageId, withoutNul, withoutNulOrNull } from '../channels/email/safe-text.ts';
import type { SenderVerification } from '../channels/email/sender-authentication.ts';
import type { Database } from '../db/database.ts';
import { jobInsert } from '../db/job-table.ts';
import { relaxedCommit } from '../db/relaxed-commit.ts';
import { conversationLookup, threadSubject } from './conversations.ts';
import { AdjutantError } from '../errors.ts';
import type { Prisma } from '../db/generated/client.ts';

/** A stored email as the pipeline reads it (the raw source stays in the database). */
export interface Email {
  id: string;
  messageId: string;
  mailbox: string;
  uid: number | null;
  fromAddress: string | null;
  fromName: string | null;
  toAddresses: string[];
  subject: string;
  sentAt: Date | null;
  text: string;
  inReplyTo: string | null;
  references: string[];
  /** The receiving server vouched for the From domain; `senderVerification` says how, for people. */
  senderVerified: boolean;
  senderVerification: string | null;
  /** A team address the receiving server did not vouch for: handled as outside mail. */
  claimedTeammate: string | null;
  /** A verified teammate's forward: the recovered original and the teammate's note. */
  isForward: boolean;
  forwardedBy: string | null;
  instruction: string | null;
  originalFrom: string | null;
  originalFromName: string | null;
  originalFromMissing: boolean;
  originalSubject: string | null;
  originalSentAt: Date | null;
  originalMessageId: string | null;
  originalReferences: string[];
  originalText: string | null;
  receivedAt: Date;
  conversationId: string | null;
  threadSubject: string;
  /** Set once triaged (direct mail): see src/agents/triage.ts. */
  triageCategory: string | null;
  triageUrgency: string | null;
  triageSummary: string | null;
  triageConfidence: number | null;
  /** rule:<name>, model:<provider>/<model> or default:no-model. */
  triagedBy: string | null;
}

/** What triage decided about an email, as stored with it. */
export interface StoredTriage {
  category: string;
  urgency: string;
  summary: string;
  confidence: number;
  by: string;
  details: { people: unknown[]; organisations: string[]; dates: unknown[] };
}

/** One earlier message of a conversation: theirs, or a reply of ours that was sent. */
export interface ThreadMessage {
  from: string;
  ours: boolean;
  at: Date | null;
  subject: string;
  text: string;
}

export interface IncomingEmail {
  raw: Buffer;
  parsed: ParsedEmail;
  /** verifySender's verdict on the From address. */
  sender: SenderVerification;
  /** Stored only when `sender.teammate`: a forward from an unverified "teammate" is plain mail, its note no instruction. */
  forward: ForwardedEmail | null;
  mailbox: string;
  uid: number | null;
}

/** The job to start for a newly stored email, created in the same commit (given the email's id). */
export type FollowUp = (emailId: string) => { name: string; key: string; data: Record<string, unknown> };

export interface EmailStore {
  /**
   * Store once per Message-ID, with its email.received audit entry. `created` is false when it
   * was already there (IMAP re-delivery, a second replica). `messageId` is the one stored (a
   * derived one for a missing or oversized header).
   */
  save(incoming: IncomingEmail, followUp?: FollowUp): Promise<{ id: string; messageId: string; created: boolean }>;
  get(id: string): Promise<Email | null>;
  /** For jobs: an id in job data that no longer resolves is not worth retrying. */
  require(id: string): Promise<Email>;
  /** The start of the raw source, enough for its headers (the whole source can be 25 MB). */
  rawStart(id: string, bytes: number): Promise<Buffer | null>;
  setTriage(id: string, triage: StoredTriage, at: Date): Promise<void>;
  /**
   * The messages of the email's conversation before it, oldest first, with the replies we sent
   * in it: at most `limit`, the latest ones.
   */
  thread(email: Email, limit: number): Promise<ThreadMessage[]>;
  /** Replies we sent to this address, newest first. */
  repliesSentTo(address: string, limit: number): Promise<ThreadMessage[]>;
}

/** Prisma for reading; the pg pool for the writes and lookups on the ingest path, which run for every message. */
export function createEmailStore({ prisma, pool, kind }: Pick<Database, 'prisma' | 'pool' | 'kind'>): EmailStore {
  return {
    async save({ raw, parsed, sender, forward: found, mailbox, uid }, followUp) {
      const forward = sender.teammate ? found : null;
      const original = forward?.original;
      const messageId = storableMessageId(parsed.messageId);
      const inReplyTo = parsed.inReplyTo === null ? null : usableMessageId(parsed.inReplyTo);
      const references = boundedReferences(parsed.references);
      const originalMessageId = original?.messageId ? usableMessageId(withoutNul(original.messageId)) : null;
      const originalReferences = boundedReferences(original?.references ?? []);
      const subject = withoutNul(original?.subject ?? parsed.subject);
      const values: unknown[] = [];
      const param = (value: unknown) => `$${values.push(value)}`;
      // The conversation is looked up inside the insert (null: a new one, id below).
      const conversation = conversationLookup(
        {
          messageIds: [...(inReplyTo ? [inReplyTo] : []), ...references, ...(originalMessageId ? [originalMessageId] : []), ...originalReferences],
          subject,
          counterparty: withoutNulOrNull(original?.from?.address ?? (forward ? null : parsed.from?.address)),
          at: new Date(),
        },
        param,
      );
      // Everything below reaches PostgreSQL: no NUL anywhere, ids and lists bounded (safe-text.ts).
      // parseEmail already guarantees this for its own fields; forwards are recovered from free text.
      const row: Record<string, unknown> = {
        id: randomUUID(),
        message_id: messageId,
        mailbox: withoutNul(mailbox),
        uid,
        from_address: withoutNulOrNull(parsed.from?.address),
        from_name: withoutNul(parsed.from?.name ?? '') || null,
        to_addresses: addresses(parsed.to),
        subject: withoutNul(parsed.subject),
        sent_at: parsed.date,
        text: withoutNul(parsed.text),
        in_reply_to: inReplyTo,
        references,
        raw,
        sender_verified: sender.verified,
        sender_verification: withoutNul(sender.description),
        claimed_teammate: sender.claimedTeammate ? withoutNulOrNull(parsed.from?.address) : null,
        is_forward: forward !== null,
        forwarded_by: withoutNulOrNull(forward?.forwardedBy.address),
        instruction: withoutNulOrNull(forward?.note),
        original_from: withoutNulOrNull(original?.from?.address),
        original_from_name: withoutNul(original?.from?.name ?? '') || null,
        original_from_missing: forward !== null && !original?.from,
        original_subject: withoutNulOrNull(original?.subject),
        original_sent_at: original?.date ?? null,
        original_message_id: originalMessageId,
        original_references: originalReferences,
        original_text: withoutNulOrNull(original?.body),
        thread_subject: threadSubject(subject),
      };
      const id = String(row.id);
      const columns = Object.keys(row);
      const placeholders = columns.map((column) => param(row[column]));
      const audit = param(JSON.stringify(receivedAudit({ messageId, uid, from: withoutNulOrNull(parsed.from?.address), sender, forward })));
      const job = followUp ? jobInsert(followUp(id), { source: 'inserted', embedded: kind === 'pglite', param }) : null;
      // One statement on the pg pool, one commit: the row; its audit entry and its first job only
      // if the row is new (the audit log never misses a stored email, and no stored email waits
      // for a job that a crash kept from being enqueued). This runs for every message the
      // watcher sees; through Prisma the same inserts cost about three times as long.
      // Mail from a watched mailbox (it has a UID) commits without waiting for the disk (relaxed-commit.ts).
      const sql = `WITH inserted AS (
           INSERT INTO emails (${columns.map((column) => `"${column}"`).join(', ')}, conversation_id)
           VALUES (${placeholders.join(', ')}, COALESCE(${conversation}, ${param(id)}::uuid))
           ON CONFLICT (message_id) DO NOTHING
           RETURNING id
         ), logged AS (
           INSERT INTO audit_log (actor, action, entity_type, entity_id, data)
           SELECT 'imap-watcher', 'email.received', 'email', id::text, ${audit}::jsonb FROM inserted
         )${job ? `, ${job.cte}` : ''}
         SELECT (SELECT id::text FROM inserted) AS id${job ? `, ${job.created} AS jobs` : ''}, ${relaxedCommit(`${param(uid !== null)}::boolean`)} AS commit_mode`;
      // Named, so the server parses and plans it once per connection instead of once a message.
      const inserted = await pool.query<{ id: string | null }>({ name: `email_save_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`, text: sql, values });
      const created = inserted.rows[0]?.id;
      if (created) return { id: created, messageId, created: true };
      const existing = await pool.query<{ id: string }>('SELECT id::text FROM emails WHERE message_id = $1', [messageId]);
      const stored = existing.rows[0];
      if (!stored) throw new AdjutantError('CONFLICT', `email ${messageId} was neither stored nor found`);
      return { id: stored.id, messageId, created: false };
    },
    get(id) {
      return prisma.email.findUnique({ where: { id }, omit: { raw: true } });
    },
    async require(id) {
      const email = await prisma.email.findUnique({ where: { id }, omit: { raw: true } });
      if (!email) throw new AdjutantError('NOT_FOUND', `email ${id} does not exist`, { retryable: false });
      return email;
    },
    async rawStart(id, bytes) {
      const result = await pool.query<{ head: Buffer }>('SELECT substring(raw FROM 1 FOR $2) AS head FROM emails WHERE id = $1', [id, bytes]);
      return result.rows[0]?.head ?? null;
    },
    async setTriage(id, triage, at) {
      await prisma.email.update({
        where: { id },
        data: {
          triageCategory: triage.category,
          triageUrgency: triage.urgency,
          triageSummary: withoutNul(triage.summary),
          triageConfidence: triage.confidence,
          triagedBy: triage.by,
          triageDetails: JSON.parse(withoutNul(JSON.stringify(triage.details))) as Prisma.InputJsonValue,
          triagedAt: at,
        },
      });
    },
    async thread(email, limit) {
      if (!email.conversationId) return [];
      const result = await pool.query<{ from: string; ours: boolean; at: Date | null; subject: string; text: string }>(
        `SELECT * FROM (
           SELECT COALESCE(e.original_from, e.from_address, '') AS "from", false AS ours, COALESCE(e.original_sent_at, e.sent_at, e.received_at) AS at,
                  COALESCE(e.original_subject, e.subject) AS subject, COALESCE(e.original_text, e.text) AS text
             FROM emails e
            WHERE e.conversation_id = $1 AND e.id <> $2 AND e.received_at <= $3
           UNION ALL
           SELECT 'us', true, d.sent_at, d.subject, d.body
             FROM drafts d JOIN emails e ON e.id = d.email_id
            WHERE e.conversation_id = $1 AND d.status = 'sent' AND d.sent_at <= $3
         ) AS messages ORDER BY at DESC NULLS LAST LIMIT $4`,
        [email.conversationId, email.id, email.receivedAt, limit],
      );
      return result.rows.reverse();
    },
    async repliesSentTo(address, limit) {
      const result = await pool.query<{ at: Date | null; subject: string; text: string }>(
        `SELECT sent_at AS at, subject, body AS text FROM drafts WHERE lower(to_address) = lower($1) AND status = 'sent' ORDER BY sent_at DESC LIMIT $2`,
        [address, limit],
      );
      return result.rows.map((row) => ({ from: 'us', ours: true, ...row }));
    },
  };
}

/** parseEmail's ids already are; the same derivation here keeps a hand-built ParsedEmail from reaching the index unbounded. */
function storableMessageId(id: string): string {
  return usableMessageId(id) ?? derivedMessageId(`message-id:${id}`);
}

function addresses(list: readonly EmailAddress[]): string[] {
  return list.slice(0, MAX_ADDRESSES).map((address) => withoutNul(address.address));
}

/**
 * Who a reply to this email goes to, and what it answers: the original for a forward.
 *
 * `address` is null when there is nobody to reply to; then draft nothing and send nothing, and
 * say why on the card. For a forward whose original sender was not recovered
 * (`email.originalFromMissing`), no address is guessed, not even the forwarding teammate's:
 * the card says "original sender not recovered" and a person replies by hand.
 * `senderUnverified` is set for mail whose From claims a teammate but was not verified
 * (`email.claimedTeammate`): it is outside mail, and the card says the sender could not be
 * verified.
 */
export function replyTarget(email: Email): {
  address: string | null;
  /** Set for a forward whose original sender was not recovered: why `address` is null. */
  originalSenderMissing: boolean;
  /** From claims a teammate, but the receiving server did not vouch for it. */
  senderUnverified: boolean;
  name: string | null;
  subject: string;
  messageId: string | null;
  references: string[];
  body: string;
  sentAt: Date | null;
} {
  const senderUnverified = email.claimedTeammate !== null;
  if (email.isForward) {
    const missing = email.originalFromMissing || email.originalFrom === null;
    return {
      address: missing ? null : email.originalFrom,
      originalSenderMissing: missing,
      senderUnverified,
      name: email.originalFromName,
      subject: email.originalSubject ?? email.subject,
      messageId: email.originalMessageId,
      references: email.originalReferences,
      body: email.originalText ?? '',
      sentAt: email.originalSentAt,
    };
  }
  return {
    address: email.fromAddress,
    originalSenderMissing: false,
    senderUnverified,
    name: email.fromName,
    subject: email.subject,
    messageId: isDerivedMessageId(email.messageId) ? null : email.messageId,
    references: email.references,
    body: email.text,
    sentAt: email.sentAt,
  };
}

/** The audit entry for a newly stored email: who sent it, whether the sender was verified, the forward. */
function receivedAudit(input: { messageId: string; uid: number | null; from: string | null; sender: SenderVerification; forward: ForwardedEmail | null }): Prisma.InputJsonObject {
  const { forward, sender } = input;
  const original = forward?.original;
  return {
    messageId: input.messageId,
    uid: input.uid,
    from: input.from,
    sender: { verified: sender.verified, verification: withoutNul(sender.description), claimedTeammate: sender.claimedTeammate ? input.from : null },
    forward: forward
      ? {
          by: withoutNulOrNull(forward.forwardedBy.address),
          format: forward.format,
          originalFrom: withoutNulOrNull(original?.from?.address),
          originalFromMissing: !original?.from,
          via: forward.via.map((teammate) => withoutNul(teammate.address)),
        }
      : null,
  };
}
