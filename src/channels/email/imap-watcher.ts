import type { ImapFlow } from 'imapflow';
import { errorMessage } from '../../errors.ts';
import type { LockProvider, HeldLock } from '../../db/advisory-lock.ts';
import type { Logger } from '../../logger.ts';
import type { MailboxStateStore } from './mailbox-state.ts';
import { createImapClient, describeImapError, type ImapOptions } from './imap-connection.ts';
import { withDeadline } from './imap-deadline.ts';
import { createStallAlarm } from './imap-stall-alarm.ts';
import { handedOffWhileStalledText, recoveredText, stalledText } from './mailbox-announcements.ts';
import { createInMemoryFailureStore, type MailboxFailureStore } from './mailbox-failures.ts';
import { MAILBOX_LIMIT_DEFAULTS, syncMailbox, type MailboxLimits } from './mailbox-sync.ts';
import { WATCHER_TIMING_DEFAULTS, type WatcherTimings } from './imap-watcher-settings.ts';

/** 'stalled': responsible for the mailbox but no contact with the server for longer than `stallAfterMs`. */
export type WatcherState = 'stopped' | 'connecting' | 'watching' | 'standby' | 'reconnecting' | 'stalled';

export interface WatcherHealth {
  state: WatcherState;
  mailbox: string;
  lastError: string | null;
  lastSyncAt: Date | null;
  lastUid: number | null;
  /** Last successful exchange with the IMAP server. */
  lastContactAt: Date | null;
  /** Set while stalled: when the stall was declared (and announced). */
  stalledSince: Date | null;
}

export interface MailboxWatcher {
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): WatcherHealth;
  /** Resolves after the next full sync (for the CLI and tests); while a retry is pending, after the current one. */
  syncNow(): Promise<void>;
}

export type { ImapOptions } from './imap-connection.ts';
export { WATCHER_TIMING_DEFAULTS, type WatcherTimings } from './imap-watcher-settings.ts';
export { MAILBOX_LIMIT_DEFAULTS, type MailboxLimits } from './mailbox-sync.ts';

export interface WatcherDeps {
  options: ImapOptions;
  state: MailboxStateStore;
  locks: LockProvider;
  logger: Logger;
  /**
   * Store one message. Throwing retries it with backoff; after `limits.maxAttempts` it is kept
   * in `failures` with the error, announced, and skipped so later mail still flows.
   *
   * Called for one message at a time, in UID order. While a call runs, the next message is
   * already fetched and its parse started (parseAhead in parse-email.ts), so that a
   * `parseEmail` of the bytes passed here usually finds its result ready.
   */
  onMessage(raw: Buffer, uid: number, mailbox: string): Promise<void>;
  /** Where given-up and oversized messages are kept. Default: in memory (attempts are still capped). */
  failures?: MailboxFailureStore;
  /** Tell the team (the approvals channel): given-up and oversized messages, UID resets, stalls and recoveries. */
  announce?: (text: string) => Promise<void>;
  /** Delay before reconnecting after the n-th consecutive failure. */
  reconnectDelayMs?: (failures: number) => number;
  limits?: Partial<MailboxLimits>;
  timings?: Partial<WatcherTimings>;
  now?: () => Date;
}

/**
 * Watches one mailbox with IDLE and hands each new message to `onMessage`, in UID order, at
 * least once (the next one read ahead while one is handed over: mailbox-sync.ts). Only one
 * replica watches a mailbox (advisory lock); the others wait in standby, and a replica that
 * loses the lock stops at once. imapflow does not reconnect and a closed client cannot be
 * reused, so each connection is a new client.
 */
export function createImapWatcher(deps: WatcherDeps): MailboxWatcher {
  const { options, logger } = deps;
  const port = options.port ?? (options.tls ? 993 : 143);
  const mailboxKey = `${options.user}@${options.host}:${port}/${options.mailbox}`;
  const log = logger.child({ component: 'imap-watcher', mailbox: mailboxKey });
  const reconnectDelay = deps.reconnectDelayMs ?? ((failures: number) => Math.min(60_000, 1000 * 2 ** Math.min(failures, 6)));
  const limits: MailboxLimits = { ...MAILBOX_LIMIT_DEFAULTS, ...deps.limits };
  const timings: WatcherTimings = { ...WATCHER_TIMING_DEFAULTS, ...deps.timings };
  const now = deps.now ?? (() => new Date());
  const failureStore = deps.failures ?? createInMemoryFailureStore();
  const alarm = createStallAlarm({ thresholdMs: timings.stallAfterMs, now });

  let stopping = false;
  // Bumped whenever the current connection stops speaking for the watcher, so work begun on it writes nothing more.
  let session = 0;
  let client: ImapFlow | null = null;
  let lock: HeldLock | null = null;
  let sawLockHeld = false;
  let failures = 0;
  let syncFailures = 0;
  let connectTimer: NodeJS.Timeout | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let probeTimer: NodeJS.Timeout | null = null;
  let holdUntil = 0;
  let syncing: Promise<void> = Promise.resolve();
  let syncRequested = false;
  let syncRunning = false;
  let probing = false;
  let lastSyncStartedAt = 0;
  const health = { state: 'stopped' as Exclude<WatcherState, 'stalled'>, lastError: null as string | null, lastSyncAt: null as Date | null, lastUid: null as number | null };

  async function say(text: string): Promise<boolean> {
    if (!deps.announce) {
      log.warn({ announcement: text }, 'nobody to announce to (no announce port)');
      return false;
    }
    try {
      await withDeadline(deps.announce(text), 30_000, 'announcing');
      return true;
    } catch (error) {
      log.error({ err: error, announcement: text }, 'could not announce');
      return false;
    }
  }

  function contact(): void {
    const recovered = alarm.contact();
    if (!recovered) return;
    log.info({ afterMs: recovered.recoveredAfterMs }, 'in contact with the IMAP server again');
    void say(recoveredText({ mailbox: mailboxKey, afterMs: recovered.recoveredAfterMs }));
  }

  function schedule(delayMs: number): void {
    if (stopping) return;
    if (connectTimer) clearTimeout(connectTimer);
    connectTimer = setTimeout(() => {
      connectTimer = null;
      void connect();
    }, delayMs);
  }

  async function takeLock(): Promise<boolean> {
    let acquired: HeldLock | null = null;
    try {
      acquired = await deps.locks.tryAcquire(`imap:${mailboxKey}`);
    } catch (error) {
      health.lastError = `could not take the mailbox lock: ${errorMessage(error)}`;
      health.state = 'standby';
      schedule(reconnectDelay(1));
      return false;
    }
    if (stopping) {
      await acquired?.release();
      return false;
    }
    if (!acquired) {
      // Another replica watches this mailbox; check again later in case it goes away.
      sawLockHeld = true;
      health.state = 'standby';
      schedule(timings.standbyRetryMs);
      return false;
    }
    lock = acquired;
    acquired.onLost((reason) => lockLost(acquired, reason));
    alarm.resume();
    if (sawLockHeld && timings.takeoverDelayMs > 0) {
      sawLockHeld = false;
      health.state = 'connecting';
      log.info({ delayMs: timings.takeoverDelayMs }, 'took over the mailbox lock; letting the previous holder notice before watching');
      schedule(timings.takeoverDelayMs);
      return false;
    }
    return true;
  }

  /** Losing the lock's connection means losing the lock: stop watching now, then try to take it again. */
  function lockLost(held: HeldLock, reason: string): void {
    if (lock !== held) return;
    lock = null;
    session += 1;
    sawLockHeld = true;
    health.lastError = `lost the mailbox lock: ${reason}`;
    log.error({ reason }, 'lost the mailbox lock; stopped watching');
    dropConnection();
    health.state = 'standby';
    if (alarm.pause()) void say(handedOffWhileStalledText({ mailbox: mailboxKey, reason: `lost the mailbox lock: ${reason}` }));
    schedule(reconnectDelay(1));
  }

  function dropConnection(): void {
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = null;
    const current = client;
    client = null;
    current?.close();
  }

  async function connect(): Promise<void> {
    if (stopping) return;
    if (!lock && !(await takeLock())) return;
    if (stopping || !lock) return;
    const mySession = ++session;
    health.state = failures === 0 ? 'connecting' : 'reconnecting';
    const next = createImapClient(options, port, timings, limits);
    next.on('error', (error: Error) => {
      health.lastError = errorMessage(error);
      log.warn({ err: error }, 'IMAP connection error');
    });
    next.on('close', () => {
      if (client !== next) return;
      client = null;
      session += 1;
      if (stopping || !lock) return;
      failures += 1;
      health.state = 'reconnecting';
      log.warn({ failures }, 'IMAP connection closed; reconnecting');
      schedule(reconnectDelay(failures));
    });
    next.on('exists', () => {
      contact();
      void requestSync();
    });
    try {
      await withDeadline(
        next.connect().then(() => next.mailboxOpen(options.mailbox)),
        timings.greetingTimeoutMs + 2 * timings.commandTimeoutMs,
        `connecting to ${options.host}:${port}`,
      );
    } catch (error) {
      next.close();
      if (mySession !== session || stopping) return;
      const message = describeImapError(error, options.host, port, options.mailbox);
      health.lastError = message;
      failures += 1;
      health.state = 'reconnecting';
      log.error({ failures, error: message }, 'IMAP connect failed');
      schedule(reconnectDelay(failures));
      return;
    }
    if (mySession !== session || stopping || !lock) {
      next.close();
      return;
    }
    client = next;
    failures = 0;
    health.state = 'watching';
    health.lastError = null;
    contact();
    log.info('watching mailbox');
    await requestSync();
  }

  function scheduleRetry(delayMs: number): void {
    holdUntil = Date.now() + delayMs;
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      retryTimer = null;
      void requestSync();
    }, delayMs);
  }

  /** Syncs run one at a time; a request during a sync runs once more after it. */
  function requestSync(): Promise<void> {
    // Backing off after a failure: new mail waits for the retry rather than burning attempts.
    const wait = holdUntil - Date.now();
    if (wait > 0) {
      if (!retryTimer && !stopping) scheduleRetry(wait);
      return syncing;
    }
    if (syncRequested) return syncing;
    syncRequested = true;
    syncing = syncing.then(async () => {
      syncRequested = false;
      const current = client;
      const mySession = session;
      if (!current || stopping) return;
      syncRunning = true;
      lastSyncStartedAt = Date.now();
      try {
        const result = await syncMailbox({
          client: current,
          mailboxKey,
          state: deps.state,
          failures: failureStore,
          limits,
          onMessage: deps.onMessage,
          announce: say,
          log,
          now,
          isCurrent: () => session === mySession && client === current,
          keepGoing: () => !stopping,
          contact,
        });
        syncFailures = 0;
        if (!result) return;
        health.lastUid = result.lastUid;
        health.lastSyncAt = now();
        if (result.retryAfterMs !== null) scheduleRetry(result.retryAfterMs);
        else if (health.state === 'watching') health.lastError = null;
      } catch (error) {
        if (session !== mySession || stopping) return;
        syncFailures += 1;
        health.lastError = errorMessage(error);
        log.error({ err: error, syncFailures }, 'mailbox sync failed; will retry');
        scheduleRetry(reconnectDelay(syncFailures));
      } finally {
        syncRunning = false;
      }
    });
    return syncing;
  }

  /** The heartbeat: stall alarm, NOOP probe (a hung connection is closed and replaced), periodic resync. */
  async function tick(): Promise<void> {
    if (stopping) return;
    const stalled = alarm.check();
    if (stalled) {
      log.error({ lastContactAt: stalled.lastContactAt, lastError: health.lastError }, 'no contact with the IMAP server; stalled');
      void say(stalledText({ mailbox: mailboxKey, lastContactAt: stalled.lastContactAt, thresholdMs: timings.stallAfterMs, lastError: health.lastError }));
    }
    const current = client;
    // A running sync talks to the server itself (and counts as contact); no need to queue behind it.
    if (!current || syncRunning || probing) return;
    probing = true;
    try {
      await withDeadline(current.noop(), timings.commandTimeoutMs, 'IMAP NOOP');
      if (client === current) contact();
    } catch (error) {
      if (client === current) {
        health.lastError = `the IMAP server stopped answering: ${errorMessage(error)}`;
        log.warn({ err: error }, 'IMAP probe failed; reconnecting');
        // The 'close' handler counts the failure and reconnects.
        current.close();
      }
      return;
    } finally {
      probing = false;
    }
    if (Date.now() - lastSyncStartedAt >= timings.resyncEveryMs) void requestSync();
  }

  return {
    async start() {
      stopping = false;
      if (!probeTimer) {
        probeTimer = setInterval(() => void tick(), timings.probeEveryMs);
        probeTimer.unref();
      }
      if (!deps.failures) log.warn('no failure store: messages given up on are announced but not kept');
      await connect();
    },
    async stop() {
      stopping = true;
      for (const timer of [connectTimer, retryTimer]) if (timer) clearTimeout(timer);
      if (probeTimer) clearInterval(probeTimer);
      connectTimer = retryTimer = probeTimer = null;
      // The message being handed over finishes and is recorded; no further one is started.
      await syncing.catch(() => undefined);
      session += 1;
      const current = client;
      client = null;
      if (current) await current.logout().catch(() => current.close());
      const held = lock;
      lock = null;
      if (held) await held.release();
      alarm.pause();
      health.state = 'stopped';
    },
    health() {
      const { lastContactAt, stalledSince } = alarm.snapshot();
      return { ...health, state: stalledSince ? 'stalled' : health.state, mailbox: mailboxKey, lastContactAt, stalledSince };
    },
    syncNow() {
      return requestSync();
    },
  };
}
