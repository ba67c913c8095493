import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import nodemailer from 'nodemailer';
import { createImapWatcher, type MailboxWatcher, type WatcherDeps } from '../../src/channels/email/imap-watcher.ts';
import { createMailboxFailureStore } from '../../src/channels/email/mailbox-failures.ts';
import type { Config } from '../../src/config.ts';
import { createAdvisoryLocks, type LockProvider } from '../../src/db/advisory-lock.ts';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/logger.ts';
import { createMailboxStateStore } from '../../src/channels/email/mailbox-state.ts';
import { createTestDatabase } from './databases.ts';
import { testServices } from './services.ts';
import { waitUntil } from './wait.ts';

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

function doveadm(args: string[], input?: Buffer | string): void {
  execFileSync('doveadm', ['-c', testServices().dovecotConfig, ...args], { input: input ?? '', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Store a message straight into a user's INBOX with `doveadm save` (arrival date: now; no IDLE push needed). */
export function saveMessage(user: string, raw: Buffer | string): void {
  doveadm(['save', '-u', user, '-m', 'INBOX'], raw);
}

/**
 * Give the user's INBOX a new UIDVALIDITY, as a server does when it rebuilds its index. Not the
 * current time: Dovecot took that when it created the mailbox, maybe within the same second.
 */
export function resetUidValidity(user: string, uidValidity = 1_000_000 + Math.floor(Math.random() * 1_000_000_000)): void {
  doveadm(['mailbox', 'update', '-u', user, '--uid-validity', String(uidValidity), 'INBOX']);
}

/** Drop every IMAP session of a user on the server side, as a server restart would. */
export function kickUser(user: string): void {
  try {
    doveadm(['kick', user]);
  } catch (error) {
    // Exit code 68: nobody was connected.
    if ((error as { status?: number }).status !== 68) throw error;
  }
}

/**
 * A TCP relay between a client and a real server, for faults the server will not produce on
 * demand: `freeze()` stops every byte both ways while connections stay open (a hung server or
 * a network partition), and `bytesToClient` counts what the server sent.
 */
export interface TcpRelay {
  port: number;
  bytesToClient: number;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

export async function startTcpRelay(targetHost: string, targetPort: number): Promise<TcpRelay> {
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let frozen = false;
  const relay: TcpRelay = {
    port: 0,
    bytesToClient: 0,
    freeze() {
      frozen = true;
      for (const pair of pairs) {
        pair.client.pause();
        pair.upstream.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const pair of pairs) {
        pair.client.resume();
        pair.upstream.resume();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) {
          pair.client.destroy();
          pair.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
  const server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    const pair = { client, upstream };
    pairs.add(pair);
    if (frozen) {
      client.pause();
      upstream.pause();
    }
    upstream.on('data', (chunk: Buffer) => {
      relay.bytesToClient += chunk.length;
      client.write(chunk);
    });
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.port = (server.address() as AddressInfo).port;
  return relay;
}

/** One onMessage call as a test watcher saw it. */
export interface HandedOver {
  uid: number;
  messageId: string | null;
  subject: string | null;
  bytes: number;
}

/**
 * A mailbox watcher against the real Dovecot and a fresh, migrated PostgreSQL database, with
 * the stores the service uses, short timings, and its hand-overs and announcements recorded.
 */
export interface WatcherRig {
  user: string;
  database: Database;
  calls: HandedOver[];
  announcements: string[];
  /** `fail` makes onMessage throw for the messages it returns an error for. */
  watcher(overrides?: Partial<WatcherDeps> & { fail?: (call: HandedOver) => Error | null; port?: number; locks?: LockProvider }): MailboxWatcher;
  close(): Promise<void>;
}

export async function createWatcherRig(prefix: string): Promise<WatcherRig> {
  const services = testServices();
  const testDatabase = await createTestDatabase('postgres');
  const database = await createDatabase({ databaseUrl: testDatabase.databaseUrl ?? '', dataDir: testDatabase.dataDir });
  await applyMigrations(database.pool);
  const user = freshMailboxUser(prefix);
  const logger = createLogger({ level: (process.env.TEST_LOG_LEVEL ?? 'silent') as Config['LOG_LEVEL'] });
  const watchers: MailboxWatcher[] = [];
  const rig: WatcherRig = {
    user,
    database,
    calls: [],
    announcements: [],
    watcher(overrides = {}) {
      const { fail, port, timings, limits, ...rest } = overrides;
      const watcher = createImapWatcher({
        options: { host: services.imapHost, port: port ?? services.imapPort, user, password: services.imapPassword, tls: false, mailbox: 'INBOX' },
        state: createMailboxStateStore(database.prisma),
        failures: createMailboxFailureStore(database.prisma),
        locks: createAdvisoryLocks(database.pool, false, { livenessIntervalMs: 100, livenessTimeoutMs: 500 }),
        logger,
        async onMessage(raw, uid) {
          const head = raw.subarray(0, 64 * 1024).toString('latin1');
          const call = { uid, messageId: /^Message-ID:\s*(.+)$/im.exec(head)?.[1]?.trim() ?? null, subject: /^Subject:\s*(.+)$/im.exec(head)?.[1]?.trim() ?? null, bytes: raw.length };
          rig.calls.push(call);
          const error = fail?.(call);
          if (error) throw error;
        },
        announce: async (text) => {
          rig.announcements.push(text);
        },
        reconnectDelayMs: () => 100,
        timings: { standbyRetryMs: 200, takeoverDelayMs: 0, probeEveryMs: 100, commandTimeoutMs: 1000, greetingTimeoutMs: 1000, ...timings },
        limits: { retryDelayMs: () => 100, ...limits },
        ...rest,
      });
      watchers.push(watcher);
      return watcher;
    },
    async close() {
      for (const watcher of watchers) await watcher.stop().catch(() => undefined);
      await database.close();
      await testDatabase.drop();
    },
  };
  return rig;
}

/** A small message with a known Message-ID and subject. */
export function plainMessage(id: string, subject: string, body = 'Hello from a client.'): string {
  return [
    'From: Client <client@client.example>',
    'To: ops@team.example',
    `Subject: ${subject}`,
    `Message-ID: <${id}@client.example>`,
    'Date: Fri, 20 Nov 2026 09:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    body,
    '',
  ].join('\r\n');
}

/** Start a watcher and wait until it watches and has done its first sync. */
export async function startWatching(watcher: MailboxWatcher): Promise<void> {
  await watcher.start();
  await waitUntil('the watcher to watch', () => watcher.health().state === 'watching');
  await watcher.syncNow();
}
