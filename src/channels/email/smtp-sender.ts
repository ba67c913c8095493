import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { AdjutantError, errorMessage } from '../../errors.ts';

export interface OutgoingEmail {
  to: { address: string; name: string | null };
  subject: string;
  text: string;
  inReplyTo: string | null;
  references: string[];
  /** Our own Message-ID, decided before sending so a retry reuses it and the record says what went out. */
  messageId: string;
}

export interface MailSender {
  send(email: OutgoingEmail): Promise<{ messageId: string; accepted: string[] }>;
  verify(): Promise<void>;
  close(): void;
}

export interface SmtpOptions {
  host: string;
  port?: number;
  user?: string;
  password?: string;
  /** true: implicit TLS on 465, else STARTTLS when offered; false: plain, no STARTTLS. */
  tls: boolean;
  from: string;
}

/** The one place mail leaves Adjutant. */
export function createSmtpSender(options: SmtpOptions): MailSender {
  const port = options.port ?? (options.tls ? 465 : 25);
  const transporter: Transporter = nodemailer.createTransport({
    host: options.host,
    port,
    secure: options.tls && port === 465,
    ignoreTLS: !options.tls,
    requireTLS: options.tls && port !== 465,
    auth: options.user ? { user: options.user, pass: options.password ?? '' } : undefined,
    connectionTimeout: 15_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  const where = `${options.host}:${port}`;
  return {
    async send(email) {
      try {
        const info = await transporter.sendMail({
          from: options.from,
          to: email.to.name ? { name: email.to.name, address: email.to.address } : email.to.address,
          subject: email.subject,
          text: email.text,
          messageId: email.messageId,
          ...(email.inReplyTo ? { inReplyTo: email.inReplyTo } : {}),
          ...(email.references.length > 0 ? { references: email.references } : {}),
        });
        return { messageId: info.messageId, accepted: (info.accepted ?? []).map(String) };
      } catch (error) {
        const code = (error as { responseCode?: number }).responseCode;
        // 5xx is a permanent refusal (bad recipient, policy): sending again will not help.
        const permanent = typeof code === 'number' && code >= 500;
        throw new AdjutantError('SMTP_FAILED', `SMTP ${where} refused the reply: ${errorMessage(error)}`, { cause: error, retryable: !permanent });
      }
    },
    async verify() {
      try {
        await transporter.verify();
      } catch (error) {
        throw new AdjutantError('SMTP_FAILED', `SMTP ${where}: ${errorMessage(error)}`, { cause: error });
      }
    },
    close() {
      transporter.close();
    },
  };
}

/** "Re: subject" with exactly one reply prefix, however many the thread had collected. */
export function replySubject(subject: string): string {
  const stripped = subject.replace(/^\s*((re|aw|sv)\s*:\s*)+/i, '').trim();
  return `Re: ${stripped === '' ? '(no subject)' : stripped}`;
}
