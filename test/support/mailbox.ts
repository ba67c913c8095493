import { randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import { testServices } from './services.ts';

/** A fresh Dovecot user (the test server accepts any name with the shared password). */
export function freshMailboxUser(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}@example.test`;
}

/** Deliver a raw message into a user's INBOX over LMTP, as a mail server would (fires IDLE). */
export async function deliver(user: string, raw: Buffer | string, envelopeFrom = 'sender@example.test'): Promise<void> {
  const services = testServices();
  const transport = nodemailer.createTransport({ host: services.imapHost, port: services.lmtpPort, lmtp: true, secure: false, ignoreTLS: true } as Parameters<typeof nodemailer.createTransport>[0]);
  try {
    await transport.sendMail({ envelope: { from: envelopeFrom, to: [user] }, raw });
  } finally {
    transport.close();
  }
}

/** APPEND a message with a chosen arrival date (INTERNALDATE), e.g. old history. */
export async function appendWithDate(user: string, raw: Buffer | string, date: Date): Promise<void> {
  const { ImapFlow } = await import('imapflow');
  const services = testServices();
  const client = new ImapFlow({ host: services.imapHost, port: services.imapPort, secure: false, doSTARTTLS: false, auth: { user, pass: services.imapPassword }, logger: false } as ConstructorParameters<typeof ImapFlow>[0]);
  await client.connect();
  try {
    await client.append('INBOX', raw, [], date);
  } finally {
    await client.logout();
  }
}
