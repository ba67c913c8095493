/** What an email says about the thread it belongs to. */
export interface ThreadClues {
  /** In-Reply-To and References, and for a forward the original's too: any of them already stored ties the thread. */
  messageIds: string[];
  /** The subject without reply/forward prefixes, for mail whose client dropped the headers. */
  subject: string;
  /** The outside party: the original sender of a forward, or the sender of direct mail. */
  counterparty: string | null;
  at: Date;
}

/** How far back a subject-and-counterparty match may reach. */
const SUBJECT_MATCH_DAYS = 30;

/** "Re: Fwd: AW: Invoice" → "invoice". */
export function threadSubject(subject: string): string {
  return subject
    .replace(/^\s*((re|fwd?|aw|wg|sv|vs|tr|rv|odp|pd|enc)\s*(\[\d+\])?\s*:\s*)+/i, '')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}

/**
 * The conversation an incoming email belongs to, as a scalar subquery for the statement that
 * stores it: the one of any stored email it refers to (References / In-Reply-To, a forward's
 * original, the Message-IDs of our own sent replies), else the one of a recent email with the
 * same subject and counterparty; null when nothing matches (the email starts a new one).
 * `param` binds a value and names it.
 */
export function conversationLookup(clues: ThreadClues, param: (value: unknown) => string): string {
  const ids = param([...new Set(clues.messageIds.filter((id) => id.length > 0))]);
  const subject = threadSubject(clues.subject);
  const since = new Date(clues.at.getTime() - SUBJECT_MATCH_DAYS * 24 * 60 * 60 * 1000);
  const counterparty = param(clues.counterparty);
  return `(SELECT conversation_id FROM (
       (SELECT 1 AS rank, conversation_id FROM emails
         WHERE conversation_id IS NOT NULL AND (message_id = ANY(${ids}::text[]) OR original_message_id = ANY(${ids}::text[]))
         ORDER BY received_at DESC LIMIT 1)
       UNION ALL
       (SELECT 2, e.conversation_id FROM drafts d JOIN emails e ON e.id = d.email_id
         WHERE e.conversation_id IS NOT NULL AND d.sent_message_id = ANY(${ids}::text[])
         LIMIT 1)
       UNION ALL
       (SELECT 3, conversation_id FROM emails
         WHERE ${param(subject !== '' && clues.counterparty !== null)} AND conversation_id IS NOT NULL AND thread_subject = ${param(subject)}
           AND received_at >= ${param(since)} AND (from_address = ${counterparty} OR original_from = ${counterparty})
         ORDER BY received_at DESC LIMIT 1)
     ) AS found ORDER BY rank LIMIT 1)`;
}
