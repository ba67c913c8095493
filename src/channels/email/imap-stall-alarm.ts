/**
 * Notices a watcher that has heard nothing from its IMAP server for too long, whatever the
 * reason (server down, a connection that hangs, a login that keeps failing), and says so once;
 * then once more when contact is back. Pure bookkeeping: the watcher feeds it contacts and
 * ticks, and turns its transitions into announcements.
 */
export interface StallAlarm {
  /** A successful exchange with the server. When this ends a stall: how long there was no contact. */
  contact(): { recoveredAfterMs: number } | null;
  /** Returns the moment of last contact when the watcher has just become stalled. */
  check(): { lastContactAt: Date } | null;
  /**
   * Not responsible for the mailbox (standby, stopped): silent, and the clock starts over on
   * resume. Returns true when a stall was announced and is now dropped unresolved.
   */
  pause(): boolean;
  resume(): void;
  snapshot(): { lastContactAt: Date | null; stalledSince: Date | null };
}

export function createStallAlarm(options: { thresholdMs: number; now: () => Date }): StallAlarm {
  let active = false;
  // Counted from when the watcher became responsible, so a server that never answers at all is noticed too.
  let since: Date = options.now();
  let lastContactAt: Date | null = null;
  let stalledSince: Date | null = null;
  let silentSince: Date = since;

  return {
    contact() {
      const now = options.now();
      lastContactAt = now;
      since = now;
      if (!stalledSince) return null;
      const recoveredAfterMs = now.getTime() - silentSince.getTime();
      stalledSince = null;
      return { recoveredAfterMs };
    },
    check() {
      if (!active || stalledSince) return null;
      const now = options.now();
      if (now.getTime() - since.getTime() <= options.thresholdMs) return null;
      stalledSince = now;
      silentSince = since;
      return { lastContactAt: since };
    },
    pause() {
      active = false;
      // A standby replica is not stalled; whoever takes over reports for itself.
      const wasStalled = stalledSince !== null;
      stalledSince = null;
      return wasStalled;
    },
    resume() {
      if (active) return;
      active = true;
      since = options.now();
    },
    snapshot() {
      return { lastContactAt, stalledSince };
    },
  };
}
