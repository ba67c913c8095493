import type { ForwardedEmail } from '../channels/email/forward.ts';
import type { ParsedEmail } from '../channels/email/parse-email.ts';
import type { PrismaClient } from '../db/database.ts';
import { AdjutantError } from '../errors.ts';
import { Prisma } from '../db/generated/client.ts';
import type { Email } from '../db/generated/client.ts';

export type { Email } from '../db/generated/client.ts';

export interface IncomingEmail {
  raw: Buffer;
  parsed: ParsedEmail;
  forward: ForwardedEmail | null;
  mailbox: string;
  uid: number | null;
}

export interface EmailStore {
  /** Store once per Message-ID. `created` is false when it was already there (IMAP re-delivery, a second replica). */
  save(incoming: IncomingEmail): Promise<{ email: Email; created: boolean }>;
  get(id: string): Promise<Email | null>;
  /** For jobs: an id in job data that no longer resolves is not worth retrying. */
  require(id: string): Promise<Email>;
}

export function createEmailStore(prisma: PrismaClient): EmailStore {
  return {
    async save({ raw, parsed, forward, mailbox, uid }) {
      const original = forward?.original;
      try {
        const email = await prisma.email.create({
          data: {
            messageId: parsed.messageId,
            mailbox,
            uid,
            fromAddress: parsed.from?.address ?? null,
            fromName: parsed.from?.name || null,
            toAddresses: parsed.to.map((address) => address.address),
            subject: parsed.subject,
            sentAt: parsed.date,
            text: parsed.text,
            inReplyTo: parsed.inReplyTo,
            references: parsed.references,
            raw: new Uint8Array(raw),
            isForward: forward !== null,
            forwardedBy: forward?.forwardedBy.address ?? null,
            instruction: forward ? forward.note : null,
            originalFrom: original?.from?.address ?? null,
            originalFromName: original?.from?.name || null,
            originalSubject: original?.subject ?? null,
            originalSentAt: original?.date ?? null,
            originalMessageId: original?.messageId ?? null,
            originalReferences: original?.references ?? [],
            originalText: original?.body ?? null,
          },
        });
        return { email, created: true };
      } catch (error) {
        if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
          const email = await prisma.email.findUnique({ where: { messageId: parsed.messageId } });
          if (email) return { email, created: false };
        }
        throw error;
      }
    },
    get(id) {
      return prisma.email.findUnique({ where: { id } });
    },
    async require(id) {
      const email = await prisma.email.findUnique({ where: { id } });
      if (!email) throw new AdjutantError('NOT_FOUND', `email ${id} does not exist`, { retryable: false });
      return email;
    },
  };
}

/** Who a reply to this email goes to, and what it answers: the original for a forward. */
export function replyTarget(email: Email): {
  address: string | null;
  name: string | null;
  subject: string;
  messageId: string | null;
  references: string[];
  body: string;
  sentAt: Date | null;
} {
  if (email.isForward) {
    return {
      address: email.originalFrom,
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
    name: email.fromName,
    subject: email.subject,
    messageId: email.messageId.endsWith('@adjutant.invalid>') ? null : email.messageId,
    references: email.references,
    body: email.text,
    sentAt: email.sentAt,
  };
}
