import { Readable } from 'node:stream';
import MailComposer from 'nodemailer/lib/mail-composer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { AdjutantError, errorMessage } from '../../errors.ts';

export interface OutgoingEmail {
  to: { address: string; name: string | null };
  subject: string;
  text: string;
  inReplyTo: string | null;
  references: string[];
  /** Our own Message-ID, fixed before the first attempt so every attempt carries the same one. */
  messageId: string;
}

export interface SentEmail {
  messageId: string;
  accepted: string[];
  /** The exact bytes the server accepted (a copy goes to the Sent folder). */
  raw: Buffer;
}

/**
 * How a failed send ended, which decides what may happen next:
 * - `not-sent`: the server never got the message data, or answered it with a temporary refusal:
 *   sending again is safe.
 * - `refused`: the server refused for good (5xx): sending again will not help.
 * - `unknown`: the connection failed while or after the data went out, before the server's
 *   answer: the mail may have been accepted. Only a person may decide to send it again.
 */
export type SendFailure = 'not-sent' | 'refused' | 'unknown';

export class SendError extends AdjutantError {
  readonly outcome: SendFailure;
  constructor(outcome: SendFailure, message: string, cause: unknown) {
    super(outcome === 'unknown' ? 'SMTP_OUTCOME_UNKNOWN' : 'SMTP_FAILED', message, { cause, retryable: outcome === 'not-sent' });
    this.outcome = outcome;
  }
}

export interface MailSender {
  /**
   * Throws a SendError that says whether the mail may have left. `beforeData` runs after the
   * server said go ahead (354) and before the first byte of the message leaves: a caller records
   * there that the outcome is about to become uncertain. If it throws, nothing is sent.
   */
  send(email: OutgoingEmail, beforeData?: () => Promise<void>): Promise<SentEmail>;
  verify(): Promise<void>;
  close(): void;
}

export interface SmtpOptions {
  host: string;
  port?: number;
  user?: string;
  password?: string;
  /** true: implicit TLS on 465, else STARTTLS required; false: plain, no STARTTLS. */
  tls: boolean;
  from: string;
  /** Inactivity limit per command, including the wait for the answer to the message data. */
  socketTimeoutMs?: number;
}

/**
 * The one place mail leaves Adjutant. It speaks SMTP through nodemailer's connection class rather
 * than its transport so it can tell whether the message data had started to go out when a
 * failure happened: the message stream is only read after the server's 354 to DATA.
 */
export function createSmtpSender(options: SmtpOptions): MailSender {
  const port = options.port ?? (options.tls ? 465 : 25);
  const where = `${options.host}:${port}`;
  const connectionOptions: SMTPConnection.Options = {
    host: options.host,
    port,
    secure: options.tls && port === 465,
    ignoreTLS: !options.tls,
    requireTLS: options.tls && port !== 465,
    connectionTimeout: 15_000,
    greetingTimeout: 10_000,
    socketTimeout: options.socketTimeoutMs ?? 60_000,
  };
  const open = connector(connectionOptions, options, where);

  return {
    async send(email, beforeData) {
      const raw = await compose(options.from, email);
      const envelope = { from: addressOf(options.from), to: [email.to.address] };
      let dataStarted = false;
      let reading = false;
      const message = new Readable({
        read() {
          if (reading) return;
          reading = true;
          // Called only once the connection pipes the message, after the server's 354 to DATA.
          (beforeData ? beforeData() : Promise.resolve()).then(
            () => {
              dataStarted = true;
              this.push(raw);
              this.push(null);
            },
            (error: unknown) => this.destroy(error instanceof Error ? error : new Error(String(error))),
          );
        },
      });
      let connection: SMTPConnection;
      try {
        connection = await open();
      } catch (error) {
        throw failure(error, false, where);
      }
      try {
        const info = await new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) => {
          connection.once('error', reject);
          connection.send(envelope, message, (error, result) => (error ? reject(error) : resolve(result)));
        });
        return { messageId: email.messageId, accepted: (info.accepted ?? []).map(String), raw };
      } catch (error) {
        throw failure(error, dataStarted, where);
      } finally {
        connection.quit();
      }
    },
    async verify() {
      try {
        const connection = await open();
        connection.quit();
      } catch (error) {
        throw new AdjutantError('SMTP_FAILED', `SMTP ${where}: ${errorMessage(error)}`, { cause: error });
      }
    },
    close() {
      // Each send opens its own connection; nothing is pooled.
    },
  };
}

function connector(connectionOptions: SMTPConnection.Options, options: SmtpOptions, where: string): () => Promise<SMTPConnection> {
  return () =>
    new Promise<SMTPConnection>((resolve, reject) => {
      const connection = new SMTPConnection(connectionOptions);
      const fail = (error: unknown) => {
        connection.close();
        reject(error);
      };
      connection.once('error', fail);
      connection.connect(() => {
        const ready = () => {
          connection.removeListener('error', fail);
          // Later errors are reported by send(); keep one listener so none is unhandled.
          connection.on('error', () => undefined);
          resolve(connection);
        };
        if (!options.user) return ready();
        connection.login({ user: options.user, pass: options.password ?? '' }, (error) => {
          if (error) return fail(new AdjutantError('SMTP_FAILED', `SMTP ${where} refused the login: check SMTP_USER and SMTP_PASSWORD (${errorMessage(error)})`, { cause: error }));
          ready();
        });
      });
    });
}

function failure(error: unknown, dataStarted: boolean, where: string): SendError {
  const code = (error as { responseCode?: number }).responseCode;
  const answered = typeof code === 'number';
  // A 5xx is a permanent refusal (bad recipient, policy), whenever it came.
  if (answered && code >= 500) return new SendError('refused', `SMTP ${where} refused the reply: ${errorMessage(error)}`, error);
  // Before the data, or a definite temporary answer to it: nothing was accepted.
  if (!dataStarted || answered) return new SendError('not-sent', `SMTP ${where} did not take the reply: ${errorMessage(error)}`, error);
  return new SendError(
    'unknown',
    `SMTP ${where}: the connection failed after the message was sent and before the server answered (${errorMessage(error)}); the reply may have been delivered`,
    error,
  );
}

function compose(from: string, email: OutgoingEmail): Promise<Buffer> {
  const composer = new MailComposer({
    from,
    to: email.to.name ? { name: email.to.name, address: email.to.address } : email.to.address,
    subject: email.subject,
    text: email.text,
    messageId: email.messageId,
    date: new Date(),
    ...(email.inReplyTo ? { inReplyTo: email.inReplyTo } : {}),
    ...(email.references.length > 0 ? { references: email.references } : {}),
  });
  return new Promise((resolve, reject) => composer.compile().build((error, message) => (error ? reject(error) : resolve(message))));
}

/** "Acme Ops <ops@acme.com>" → "ops@acme.com". */
function addressOf(mailbox: string): string {
  return /<([^>]+)>/.exec(mailbox)?.[1] ?? mailbox.trim();
}

/** "Re: subject" with exactly one reply prefix, however many the thread had collected. */
export function replySubject(subject: string): string {
  const stripped = subject.replace(/^\s*((re|aw|sv)\s*:\s*)+/i, '').trim();
  return `Re: ${stripped === '' ? '(no subject)' : stripped}`;
}
