import { ImapFlow } from 'imapflow';
import { errorMessage } from '../../errors.ts';
import type { LockProvider, HeldLock } from '../../db/advisory-lock.ts';
import type { Logger } from '../../logger.ts';
import type { MailboxStateStore } from '../../memory/mailbox-state.ts';

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

export type WatcherState = 'stopped' | 'connecting' | 'watching' | 'standby' | 'reconnecting';

export interface WatcherHealth {
  state: WatcherState;
  mailbox: string;
  lastError: string | null;
  lastSyncAt: Date | null;
  lastUid: number | null;
}

export interface MailboxWatcher {
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): WatcherHealth;
  /** Resolves after the next full sync (for the CLI and tests). */
  syncNow(): Promise<void>;
}

export interface WatcherDeps {
  options: ImapOptions;
  state: MailboxStateStore;
  locks: LockProvider;
  logger: Logger;
  /** Store one message. Throwing leaves the UID unacknowledged: it is fetched again on the next sync. */
  onMessage(raw: Buffer, uid: number, mailbox: string): Promise<void>;
  /** Delay before reconnecting after the n-th consecutive failure. */
  reconnectDelayMs?: (failures: number) => number;
}

/**
 * Watches one mailbox with IDLE and hands each new message to `onMessage`, in UID order, at
 * least once. Only one replica watches a mailbox (advisory lock); the others wait in standby.
 * imapflow does not reconnect and a closed client cannot be reused, so each connection is a
 * new client.
 */
export function createImapWatcher(deps: WatcherDeps): MailboxWatcher {
  const { options, logger } = deps;
  const port = options.port ?? (options.tls ? 993 : 143);
  const mailboxKey = `${options.user}@${options.host}:${port}/${options.mailbox}`;
  const log = logger.child({ component: 'imap-watcher', mailbox: mailboxKey });
  const reconnectDelay = deps.reconnectDelayMs ?? ((failures: number) => Math.min(60_000, 1000 * 2 ** Math.min(failures, 6)));

  let stopping = false;
  let client: ImapFlow | null = null;
  let lock: HeldLock | null = null;
  let failures = 0;
  let timer: NodeJS.Timeout | null = null;
  let syncing: Promise<void> = Promise.resolve();
  let syncRequested = false;
  const health: WatcherHealth = { state: 'stopped', mailbox: mailboxKey, lastError: null, lastSyncAt: null, lastUid: null };

  function schedule(delayMs: number): void {
    if (stopping) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void connect();
    }, delayMs);
  }

  async function connect(): Promise<void> {
    if (stopping) return;
    if (!lock) {
      try {
        lock = await deps.locks.tryAcquire(`imap:${mailboxKey}`);
      } catch (error) {
        health.lastError = `could not take the mailbox lock: ${errorMessage(error)}`;
      }
      if (!lock) {
        // Another replica watches this mailbox; check again later in case it goes away.
        health.state = 'standby';
        schedule(30_000);
        return;
      }
    }
    health.state = failures === 0 ? 'connecting' : 'reconnecting';
    const next = new ImapFlow({
      host: options.host,
      port,
      secure: options.tls,
      doSTARTTLS: options.tls ? undefined : false,
      auth: { user: options.user, pass: options.password },
      logger: false,
      // IDLE soon after our last command: new mail is seen within a second, not after imapflow's 15 s default.
      autoIdleDelay: 1000,
      // Some servers drop IDLE sessions silently; re-issue it periodically.
      maxIdleTime: 5 * 60_000,
      ...(options.tlsOptions ? { tls: options.tlsOptions } : {}),
    } as ConstructorParameters<typeof ImapFlow>[0]);
    next.on('error', (error: Error) => {
      health.lastError = errorMessage(error);
      log.warn({ err: error }, 'IMAP connection error');
    });
    next.on('close', () => {
      if (client !== next) return;
      client = null;
      if (stopping) return;
      failures += 1;
      health.state = 'reconnecting';
      log.warn({ failures }, 'IMAP connection closed; reconnecting');
      schedule(reconnectDelay(failures));
    });
    next.on('exists', () => requestSync());
    try {
      await next.connect();
      await next.mailboxOpen(options.mailbox);
    } catch (error) {
      const message = describeImapError(error, options.host, port, options.mailbox);
      health.lastError = message;
      failures += 1;
      log.error({ failures, error: message }, 'IMAP connect failed');
      next.close();
      schedule(reconnectDelay(failures));
      return;
    }
    client = next;
    failures = 0;
    health.state = 'watching';
    health.lastError = null;
    log.info('watching mailbox');
    await requestSync();
  }

  /** Syncs run one at a time; a request during a sync runs once more after it. */
  function requestSync(): Promise<void> {
    if (syncRequested) return syncing;
    syncRequested = true;
    syncing = syncing.then(async () => {
      syncRequested = false;
      try {
        await sync();
      } catch (error) {
        health.lastError = errorMessage(error);
        log.error({ err: error }, 'mailbox sync failed; will retry');
        if (!stopping) setTimeout(() => void requestSync(), reconnectDelay(1)).unref();
      }
    });
    return syncing;
  }

  async function sync(): Promise<void> {
    const current = client;
    if (!current || stopping) return;
    const mailbox = current.mailbox;
    if (!mailbox || typeof mailbox === 'boolean') return;
    const uidValidity = BigInt(mailbox.uidValidity);
    const saved = await deps.state.get(mailboxKey);
    let lastUid: number;
    let uids: number[];
    if (!saved) {
      // First sight of this mailbox: start at its end rather than drafting replies to its whole history.
      lastUid = Math.max(0, mailbox.uidNext - 1);
      await deps.state.set(mailboxKey, { uidValidity, lastUid });
      log.info({ skipped: mailbox.exists, lastUid }, 'new mailbox: existing messages are not processed, only new mail');
      uids = [];
    } else if (saved.uidValidity !== uidValidity) {
      // The server reset its UIDs, so ours mean nothing. Rescan what arrived since the day we last
      // advanced (IMAP SINCE has day granularity); Message-IDs keep stored mail from repeating, and
      // the history skipped on first start stays skipped.
      log.warn({ was: saved.uidValidity.toString(), now: uidValidity.toString(), since: saved.updatedAt }, 'UIDVALIDITY changed; rescanning recent mail');
      const since = new Date(saved.updatedAt.getTime() - 24 * 60 * 60 * 1000);
      uids = ((await current.search({ since }, { uid: true })) || []).sort((a, b) => a - b);
      lastUid = 0;
      await deps.state.set(mailboxKey, { uidValidity, lastUid });
    } else {
      lastUid = saved.lastUid;
      const found = await current.search({ uid: `${lastUid + 1}:*` }, { uid: true });
      // `N:*` always matches the last message, even when its UID is below N.
      uids = (found || []).filter((uid) => uid > lastUid).sort((a, b) => a - b);
    }
    for (const uid of uids) {
      if (stopping) return;
      const message = await current.fetchOne(String(uid), { source: true }, { uid: true });
      if (message && message.source) {
        await deps.onMessage(message.source, uid, mailboxKey);
      } else {
        log.warn({ uid }, 'message vanished before it could be read (expunged?)');
      }
      lastUid = uid;
      await deps.state.set(mailboxKey, { uidValidity, lastUid });
    }
    health.lastUid = lastUid;
    health.lastSyncAt = new Date();
  }

  return {
    async start() {
      stopping = false;
      await connect();
    },
    async stop() {
      stopping = true;
      if (timer) clearTimeout(timer);
      timer = null;
      const current = client;
      client = null;
      await syncing.catch(() => undefined);
      if (current) await current.logout().catch(() => current.close());
      if (lock) await lock.release();
      lock = null;
      health.state = 'stopped';
    },
    health() {
      return { ...health };
    },
    syncNow() {
      return requestSync();
    },
  };
}

function describeImapError(error: unknown, host: string, port: number, mailbox: string): string {
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

