import type { PrismaClient } from '../db/database.ts';
import type { Draft } from '../db/generated/client.ts';

export type { Draft } from '../db/generated/client.ts';

export type DraftStatus = 'pending' | 'approved' | 'sending' | 'sent' | 'rejected' | 'failed';

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
}

export interface DraftStore {
  /** The first draft for an email; a second call returns the existing one (jobs can run twice). */
  createFirst(draft: NewDraft): Promise<{ draft: Draft; created: boolean }>;
  get(id: string): Promise<Draft | null>;
  latestForEmail(emailId: string): Promise<Draft | null>;
  /** The card is recorded as soon as it is posted, so a retry posts only the missing draft message. */
  setSlackCard(id: string, channel: string, cardTs: string): Promise<void>;
  setSlackDraft(id: string, draftTs: string): Promise<void>;
  /**
   * Move pending → approved/rejected for exactly one caller. Double clicks and Slack retries
   * race here; the conditional update lets only the first win.
   */
  decide(id: string, decision: 'approved' | 'rejected', by: string, at: Date): Promise<Draft | null>;
  /** approved → sending, once. Returns null when another worker already took it. */
  claimForSending(id: string): Promise<Draft | null>;
  markSent(id: string, messageId: string, at: Date): Promise<void>;
  markFailed(id: string, error: string): Promise<void>;
  /** A send that failed before reaching the server may be retried: sending → approved. */
  releaseForRetry(id: string, error: string): Promise<void>;
}

export function createDraftStore(prisma: PrismaClient): DraftStore {
  const transition = async (id: string, from: DraftStatus, data: Parameters<PrismaClient['draft']['updateMany']>[0]['data']) => {
    const { count } = await prisma.draft.updateMany({ where: { id, status: from }, data });
    return count === 1 ? prisma.draft.findUnique({ where: { id } }) : null;
  };
  return {
    async createFirst(draft) {
      const existing = await prisma.draft.findUnique({ where: { emailId_version: { emailId: draft.emailId, version: 1 } } });
      if (existing) return { draft: existing, created: false };
      const created = await prisma.draft.create({ data: { ...draft, version: 1 } });
      return { draft: created, created: true };
    },
    get(id) {
      return prisma.draft.findUnique({ where: { id } });
    },
    latestForEmail(emailId) {
      return prisma.draft.findFirst({ where: { emailId }, orderBy: { version: 'desc' } });
    },
    async setSlackCard(id, channel, cardTs) {
      await prisma.draft.update({ where: { id }, data: { slackChannel: channel, slackCardTs: cardTs } });
    },
    async setSlackDraft(id, draftTs) {
      await prisma.draft.update({ where: { id }, data: { slackDraftTs: draftTs } });
    },
    decide(id, decision, by, at) {
      return transition(id, 'pending', { status: decision, decidedBy: by, decidedAt: at });
    },
    claimForSending(id) {
      return transition(id, 'approved', { status: 'sending' });
    },
    async markSent(id, messageId, at) {
      await prisma.draft.update({ where: { id }, data: { status: 'sent', sentMessageId: messageId, sentAt: at, error: null } });
    },
    async markFailed(id, error) {
      await prisma.draft.update({ where: { id }, data: { status: 'failed', error } });
    },
    async releaseForRetry(id, error) {
      await prisma.draft.updateMany({ where: { id, status: 'sending' }, data: { status: 'approved', error } });
    },
  };
}
