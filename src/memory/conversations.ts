import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../db/database.ts';

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
 * The conversation an incoming email belongs to: the one of any stored email it refers to
 * (References / In-Reply-To, and the Message-IDs of our own sent replies), else the one of a
 * recent email with the same subject and counterparty, else a new one.
 */
export async function resolveConversation(prisma: PrismaClient, clues: ThreadClues): Promise<string> {
  const ids = [...new Set(clues.messageIds.filter((id) => id.length > 0))];
  if (ids.length > 0) {
    const referenced = await prisma.email.findFirst({ where: { OR: [{ messageId: { in: ids } }, { originalMessageId: { in: ids } }], conversationId: { not: null } }, select: { conversationId: true }, orderBy: { receivedAt: 'desc' } });
    if (referenced?.conversationId) return referenced.conversationId;
    // A reply to one of our sent replies: the draft's email holds the conversation.
    const answered = await prisma.draft.findFirst({ where: { sentMessageId: { in: ids } }, select: { email: { select: { conversationId: true } } } });
    if (answered?.email.conversationId) return answered.email.conversationId;
  }
  const subject = threadSubject(clues.subject);
  if (subject !== '' && clues.counterparty) {
    const since = new Date(clues.at.getTime() - SUBJECT_MATCH_DAYS * 24 * 60 * 60 * 1000);
    const similar = await prisma.email.findFirst({
      where: {
        threadSubject: subject,
        receivedAt: { gte: since },
        conversationId: { not: null },
        OR: [{ fromAddress: clues.counterparty }, { originalFrom: clues.counterparty }],
      },
      select: { conversationId: true },
      orderBy: { receivedAt: 'desc' },
    });
    if (similar?.conversationId) return similar.conversationId;
  }
  return randomUUID();
}
