import { ImapFlow } from 'imapflow';
import { errorMessage } from '../../errors.ts';
import type { MailboxLimits } from './mailbox-sync.ts';

export interface ImapOptions {
  host: string;
  port?: number;
  user: string;
  password: string;
  /** true: implicit TLS (993); false: plain, no STARTTLS. */
  tls: boolean;
  mailbox: string;
  /** Extra TLS options (a test CA, for instance). */
  tlsOptions?: { rejectUnauthorized?: boolean; ca?: string };
}

/** The timings a connection is opened with (see WatcherTimings). */
export interface ConnectionTimings {
  greetingTimeoutMs: number;
  commandTimeoutMs: number;
  idleRestartMs: number;
}

/** One IMAP connection for the watcher. imapflow cannot reconnect a client: each attempt is a new one. */
export function createImapClient(options: ImapOptions, port: number, timings: ConnectionTimings, limits: Pick<MailboxLimits, 'maxMessageBytes' | 'keepRawBytes'>): ImapFlow {
  // Sizes are checked before fetching; this also stops a server that lies about them.
  const largestLiteral = Math.max(limits.maxMessageBytes, limits.keepRawBytes) + 1024 * 1024;
  return new ImapFlow({
    ...imapLogin(options, port),
    // IDLE a quarter second after our last command (imapflow's default is 15 s): mail that arrives
    // right after a sync is seen at once rather than when IDLE starts.
    autoIdleDelay: 250,
    // Some servers drop IDLE sessions silently, and RFC 2177 lets them after 29 minutes.
    maxIdleTime: timings.idleRestartMs,
    greetingTimeout: timings.greetingTimeoutMs,
    connectionTimeout: timings.commandTimeoutMs,
    maxLiteralSize: largestLiteral,
    maxResponseSize: 2 * largestLiteral,
  } as ConstructorParameters<typeof ImapFlow>[0]);
}

/** Where and how to log in, the same for every connection to the mailbox's server. */
export function imapLogin(options: Pick<ImapOptions, 'host' | 'user' | 'password' | 'tls' | 'tlsOptions'>, port: number) {
  return {
    host: options.host,
    port,
    secure: options.tls,
    // IMAP_TLS=false means plain: imapflow would otherwise upgrade with STARTTLS when offered.
    doSTARTTLS: options.tls ? undefined : false,
    auth: { user: options.user, pass: options.password },
    logger: false as const,
    ...(options.tlsOptions ? { tls: options.tlsOptions } : {}),
  };
}

/** An IMAP failure in words that point at the setting to fix. */
export function describeImapError(error: unknown, host: string, port: number, mailbox: string): string {
  const record = error as { authenticationFailed?: boolean; code?: string; responseText?: string; serverResponseCode?: string };
  if (record.authenticationFailed) return `IMAP login to ${host}:${port} failed: check IMAP_USER and IMAP_PASSWORD`;
  if (record.code === 'ECONNREFUSED' || record.code === 'ENOTFOUND' || record.code === 'ETIMEDOUT') {
    return `IMAP server ${host}:${port} is not reachable (${record.code}): check IMAP_HOST, IMAP_PORT and IMAP_TLS`;
  }
  if (record.serverResponseCode === 'NONEXISTENT' || /doesn't exist|not exist|unknown mailbox/i.test(record.responseText ?? '')) {
    return `IMAP mailbox "${mailbox}" does not exist on ${host}: check IMAP_MAILBOX`;
  }
  return `IMAP ${host}:${port}: ${errorMessage(error)}`;
}
