import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface CapturedMail {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  parsed: ParsedMail;
}

/** A real SMTP server on loopback that keeps every message it accepts. */
export async function startSmtpCapture(): Promise<{ port: number; messages: CapturedMail[]; waitFor(count: number, timeoutMs?: number): Promise<CapturedMail[]>; close(): Promise<void> }> {
  const messages: CapturedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    // smtp-server's bundled certificate has expired; the sender is configured with SMTP_TLS=false.
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        void simpleParser(raw).then((parsed) => {
          const from = session.envelope.mailFrom;
          messages.push({ envelope: { from: from ? from.address : '', to: session.envelope.rcptTo.map((rcpt) => rcpt.address) }, raw, parsed });
          callback();
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
