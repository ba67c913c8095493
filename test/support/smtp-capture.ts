import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface CapturedMail {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  parsed: ParsedMail;
}

export interface SmtpCaptureOptions {
  /**
   * Milliseconds between keeping a message and answering 250 to its DATA (default 0). A real
   * server commits the message before it replies; a sender that dies in between has sent mail
   * it does not know about, the window crash drills look for.
   */
  acceptDelayMs?: number | (() => number);
  /** Called as each message is kept, before the (possibly delayed) 250. */
  onMessage?: (mail: CapturedMail) => void;
  /**
   * How to answer each message's data (default accept): a refusal with an SMTP code, or `hang`:
   * keep it and never answer, like a server that stalls or a connection lost after DATA.
   */
  answer?: (mail: CapturedMail) => 'accept' | 'hang' | { code: number; message: string };
  /** Refuse RCPT TO (before any data) with this code while it returns one. */
  refuseRecipient?: () => { code: number; message: string } | null;
}

/** A real SMTP server on loopback that keeps every message it accepts. */
export async function startSmtpCapture(options: SmtpCaptureOptions = {}): Promise<{ port: number; messages: CapturedMail[]; waitFor(count: number, timeoutMs?: number): Promise<CapturedMail[]>; close(): Promise<void> }> {
  const messages: CapturedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    // smtp-server's bundled certificate has expired; the sender is configured with SMTP_TLS=false.
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      const refusal = options.refuseRecipient?.();
      if (refusal) return callback(Object.assign(new Error(refusal.message), { responseCode: refusal.code }));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        void simpleParser(raw).then((parsed) => {
          const from = session.envelope.mailFrom;
          const mail = { envelope: { from: from ? from.address : '', to: session.envelope.rcptTo.map((rcpt) => rcpt.address) }, raw, parsed };
          messages.push(mail);
          options.onMessage?.(mail);
          const answer = options.answer?.(mail) ?? 'accept';
          if (answer === 'hang') return;
          if (answer !== 'accept') return callback(Object.assign(new Error(answer.message), { responseCode: answer.code }));
          const delayMs = typeof options.acceptDelayMs === 'function' ? options.acceptDelayMs() : (options.acceptDelayMs ?? 0);
          if (delayMs > 0) setTimeout(() => callback(), delayMs);
          else callback();
        }, callback);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    port,
    messages,
    async waitFor(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`SMTP capture: expected ${count} message(s), got ${messages.length}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return messages;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
