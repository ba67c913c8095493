/** How often and how long the mailbox watcher waits for things; tests shorten them. */
export interface WatcherTimings {
  /** How often a standby replica tries to take the mailbox lock. */
  standbyRetryMs: number;
  /**
   * After taking the lock that another replica held, wait this long before watching: a replica
   * that lost its lock connection silently needs up to its liveness interval + timeout to notice.
   */
  takeoverDelayMs: number;
  /** How often the connection is probed with NOOP and the stall alarm checked. */
  probeEveryMs: number;
  /** A NOOP, or a connect + login + SELECT, without an answer in this time closes the connection. */
  commandTimeoutMs: number;
  /** How long the server may wait before greeting. */
  greetingTimeoutMs: number;
  /** No successful contact with the server for this long is announced once and fails /healthz. */
  stallAfterMs: number;
  /** A full pass this often even without news from the server, in case a notification was lost. */
  resyncEveryMs: number;
  /** IDLE is restarted this often, well inside RFC 2177's 29 minutes. */
  idleRestartMs: number;
}

export const WATCHER_TIMING_DEFAULTS: WatcherTimings = {
  standbyRetryMs: 30_000,
  takeoverDelayMs: 10_000,
  probeEveryMs: 60_000,
  commandTimeoutMs: 30_000,
  greetingTimeoutMs: 16_000,
  stallAfterMs: 10 * 60_000,
  resyncEveryMs: 15 * 60_000,
  idleRestartMs: 5 * 60_000,
};
