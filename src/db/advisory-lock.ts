import pg from 'pg';
import { errorMessage } from '../errors.ts';

export interface HeldLock {
  release(): Promise<void>;
  /**
   * Called once when the lock is lost: its connection closed, failed, or stopped answering.
   * The server frees a session lock with its session, so from then on someone else may hold
   * it. Called at once when the lock is already lost. Never called for the embedded database.
   */
  onLost(listener: (reason: string) => void): void;
}

export interface LockProvider {
  /** Take the lock if free; null when another process holds it. */
  tryAcquire(key: string): Promise<HeldLock | null>;
}

export interface AdvisoryLockOptions {
  /** How often the lock's connection is checked. */
  livenessIntervalMs?: number;
  /** A check without an answer within this time counts as a lost connection. */
  livenessTimeoutMs?: number;
  /** How long opening the lock's connection may take. */
  connectTimeoutMs?: number;
}

export const LOCK_DEFAULTS: Required<AdvisoryLockOptions> = { livenessIntervalMs: 5000, livenessTimeoutMs: 5000, connectTimeoutMs: 10_000 };

/** Seen in pg_stat_activity, so an operator can tell the lock's connection from the pool's. */
export const LOCK_APPLICATION_NAME = 'adjutant-lock';

/**
 * Session-level advisory locks, each on a connection of its own outside the pool: the lock
 * lives exactly as long as that connection, so a crashed replica frees it and a standby takes
 * over. A pooled connection could be closed or replaced by the pool without anyone noticing
 * the lock went with it; this one is watched ('error', 'end' and a periodic query), and its
 * loss is reported to the holder, who must stop doing what the lock guards.
 */
export function createAdvisoryLocks(pool: pg.Pool, embedded: boolean, options: AdvisoryLockOptions = {}): LockProvider {
  const settings = { ...LOCK_DEFAULTS, ...options };
  return {
    async tryAcquire(key) {
      // The embedded database belongs to one process: there is nobody to exclude, and holding
      // its only connection would stall everything else.
      if (embedded) return { release: async () => undefined, onLost: () => undefined };
      const client = new pg.Client({
        ...pool.options,
        application_name: LOCK_APPLICATION_NAME,
        keepAlive: true,
        connectionTimeoutMillis: settings.connectTimeoutMs,
      });
      // Until the lock is held, errors surface through connect() and query(); without a
      // listener a late one would be an uncaught exception.
      let onError: (error: Error) => void = () => undefined;
      client.on('error', (error) => onError(error));
      try {
        await client.connect();
        const { rows } = await answerWithin(client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [key]), settings.livenessTimeoutMs);
        if (!rows[0]?.locked) {
          await client.end().catch(() => undefined);
          return null;
        }
      } catch (error) {
        await client.end().catch(() => undefined);
        throw error;
      }
      return watch(client, key, settings, (handler) => {
        onError = handler;
      });
    },
  };
}

function watch(client: pg.Client, key: string, settings: Required<AdvisoryLockOptions>, setErrorHandler: (handler: (error: Error) => void) => void): HeldLock {
  let state: 'held' | 'lost' | 'released' = 'held';
  let lostReason = '';
  const listeners: ((reason: string) => void)[] = [];
  let checking = false;

  const lose = (reason: string) => {
    if (state !== 'held') return;
    state = 'lost';
    lostReason = reason;
    clearInterval(timer);
    // Whatever is left of the connection is useless now; make sure it does not linger holding the lock.
    void client.end().catch(() => undefined);
    for (const listener of listeners.splice(0)) listener(reason);
  };

  setErrorHandler((error) => lose(`lock connection failed: ${errorMessage(error)}`));
  client.on('end', () => lose('lock connection closed'));
  const timer = setInterval(() => {
    if (checking || state !== 'held') return;
    checking = true;
    // A connection whose server vanished without a word (a network partition) never errors by
    // itself; an unanswered check is treated as losing it.
    answerWithin(client.query('SELECT 1'), settings.livenessTimeoutMs)
      .catch((error: unknown) => lose(`lock connection stopped answering: ${errorMessage(error)}`))
      .finally(() => {
        checking = false;
      });
  }, settings.livenessIntervalMs);
  timer.unref();

  return {
    onLost(listener) {
      if (state === 'lost') queueMicrotask(() => listener(lostReason));
      else if (state === 'held') listeners.push(listener);
    },
    async release() {
      if (state !== 'held') return;
      state = 'released';
      clearInterval(timer);
      try {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
      } catch {
        // Ending the connection frees the lock as well.
      }
      await client.end().catch(() => undefined);
    },
  };
}

function answerWithin<T>(query: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([query, late]).finally(() => clearTimeout(timer));
}
