import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { MailboxWatcher, WatcherState } from '../src/channels/email/imap-watcher.ts';
import { createAdvisoryLocks } from '../src/db/advisory-lock.ts';
import { createWatcherRig, startWatching, deliver, kickUser, plainMessage, startTcpRelay, type TcpRelay, type WatcherRig } from './support/mailbox.ts';
import { testServices } from './support/services.ts';
import { waitUntil } from './support/wait.ts';

/** Records every state a watcher passes through, sampled often enough to see short ones. */
function recordStates(watchers: Record<string, MailboxWatcher>): { timeline: { at: number; states: Record<string, WatcherState> }[]; stop(): void } {
  const timeline: { at: number; states: Record<string, WatcherState> }[] = [];
  const timer = setInterval(() => {
    timeline.push({ at: Date.now(), states: Object.fromEntries(Object.entries(watchers).map(([name, watcher]) => [name, watcher.health().state])) });
  }, 5);
  return { timeline, stop: () => clearInterval(timer) };
}

describe('mailbox watcher when connections fail', () => {
  let rig: WatcherRig | undefined;
  let relay: TcpRelay | undefined;

  afterEach(async () => {
    await rig?.close();
    await relay?.close();
    rig = undefined;
    relay = undefined;
  });

  it('reconnects after the server drops its session while idling, and picks up mail delivered meanwhile', async () => {
    const current = (rig = await createWatcherRig('kick'));
    const watcher = current.watcher({ reconnectDelayMs: () => 500 });
    await startWatching(watcher);
    const states = recordStates({ watcher });
    try {
      kickUser(current.user);
      await waitUntil('the watcher to notice', () => watcher.health().state === 'reconnecting', 5000);
      await deliver(current.user, plainMessage('meanwhile', 'Delivered while disconnected'));
      await waitUntil('the message delivered meanwhile', () => current.calls.length === 1, 10_000);
    } finally {
      states.stop();
    }
    expect(current.calls.map((call) => call.subject)).toEqual(['Delivered while disconnected']);
    expect(watcher.health()).toMatchObject({ state: 'watching', stalledSince: null });
    expect(states.timeline.map((entry) => entry.states.watcher)).toContain('reconnecting');
  });

  it('announces once when the server stops answering, fails its health, and announces once when it is back', async () => {
    const services = testServices();
    relay = await startTcpRelay(services.imapHost, services.imapPort);
    const current = (rig = await createWatcherRig('stall'));
    const watcher = current.watcher({
      port: relay.port,
      timings: { probeEveryMs: 100, commandTimeoutMs: 300, greetingTimeoutMs: 300, stallAfterMs: 1000 },
    });
    await startWatching(watcher);

    // A server that accepts connections and then says nothing, old and new connections alike.
    relay.freeze();
    await waitUntil('the stall to be noticed', () => watcher.health().state === 'stalled', 5000);
    const stalled = watcher.health();
    expect(stalled.stalledSince).toBeInstanceOf(Date);
    expect(stalled.lastContactAt).toBeInstanceOf(Date);
    // Several more failed reconnects while stalled: still one announcement.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(watcher.health().state).toBe('stalled');
    expect(current.announcements).toHaveLength(1);
    expect(current.announcements[0]).toMatch(/no contact with the mail server/);
    expect(current.announcements[0]).toContain(current.user);

    await deliver(current.user, plainMessage('during-stall', 'Sent during the stall'));
    relay.thaw();
    await waitUntil('the mail sent during the stall', () => current.calls.length === 1, 10_000);
    await waitUntil('the recovery announcement', () => current.announcements.length === 2, 5000);
    expect(current.announcements[1]).toMatch(/again/);
    expect(watcher.health()).toMatchObject({ state: 'watching', stalledSince: null });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(current.announcements).toHaveLength(2);
  });

  it('stops watching as soon as the connection holding its lock is killed, and the standby takes over', async () => {
    const current = (rig = await createWatcherRig('lock'));
    // The first tries to take its lock back later than the standby looks, so the standby wins.
    const first = current.watcher({ timings: { takeoverDelayMs: 300 }, reconnectDelayMs: () => 2000 });
    await startWatching(first);
    const second = current.watcher({ timings: { takeoverDelayMs: 300 } });
    await second.start();
    await waitUntil('the second replica to stand by', () => second.health().state === 'standby');

    const states = recordStates({ first, second });
    try {
      const admin = new pg.Client({ connectionString: testServices().databaseUrl });
      await admin.connect();
      try {
        const { rows } = await admin.query<{ terminated: boolean }>(
          `SELECT pg_terminate_backend(pid) AS terminated FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = $1)`,
          [new URL(current.database.pool.options.connectionString ?? '').pathname.slice(1)],
        );
        expect(rows).toEqual([{ terminated: true }]);
      } finally {
        await admin.end();
      }
      await waitUntil('the standby to take over', () => second.health().state === 'watching', 10_000);
      // Settle, then look at the whole switch.
      await new Promise((resolve) => setTimeout(resolve, 1000));
    } finally {
      states.stop();
    }
    const firstStopped = states.timeline.find((entry) => entry.states.first !== 'watching');
    const secondWatching = states.timeline.find((entry) => entry.states.second === 'watching');
    expect(firstStopped && secondWatching && firstStopped.at <= secondWatching.at).toBe(true);
    expect(states.timeline.filter((entry) => entry.states.first === 'watching' && entry.states.second === 'watching')).toEqual([]);
    expect(first.health()).toMatchObject({ state: 'standby' });
    expect(first.health().lastError).toMatch(/lost the mailbox lock/);

    // Mail now goes through the new holder only.
    await deliver(current.user, plainMessage('after-switch', 'After the switch'));
    await waitUntil('the message after the switch', () => current.calls.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(current.calls).toHaveLength(1);
  });

  it('waits out a database outage without burning attempts, giving anything up or advancing', async () => {
    const current = (rig = await createWatcherRig('db-outage'));
    const name = new URL(current.database.pool.options.connectionString ?? '').pathname.slice(1);
    const watcher = current.watcher({
      limits: { maxAttempts: 2 },
      // The service's hand-over writes to the database; so does this one.
      onMessage: async (_raw, uid) => {
        await current.database.prisma.$queryRaw`SELECT 1`;
        current.calls.push({ uid, messageId: null, subject: null, bytes: 0 });
      },
    });
    await startWatching(watcher);
    const admin = new pg.Client({ connectionString: testServices().databaseUrl });
    await admin.connect();
    try {
      // The database refuses the service's connections; the lock's own connection is left alone,
      // so this replica keeps the mailbox and has to ride the outage out itself.
      await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name <> 'adjutant-lock'`, [name]);
      await deliver(current.user, plainMessage('during-outage', 'During the outage'));
      await waitUntil('the sync to fail', () => /allow connections|terminat|connect/i.test(watcher.health().lastError ?? ''), 5000);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(current.calls).toEqual([]);
      expect(watcher.health().state).toBe('watching');
    } finally {
      await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    await waitUntil('the message after the outage', () => current.calls.length === 1, 10_000);
    await watcher.syncNow();
    expect(await current.database.prisma.mailboxFailure.count()).toBe(0);
    expect(current.announcements).toEqual([]);
    expect(await current.database.prisma.mailboxState.findFirst()).toMatchObject({ lastUid: 1, attemptUid: null });
  });

  it('treats a lock connection that stops answering as a lost lock', async () => {
    const current = (rig = await createWatcherRig('lock-silent'));
    const target = new URL(current.database.pool.options.connectionString ?? '');
    relay = await startTcpRelay(target.hostname, Number(target.port || 5432));
    const viaRelay = new URL(target);
    viaRelay.port = String(relay.port);
    const relayedPool = new pg.Pool({ connectionString: viaRelay.toString() });
    try {
      const watcher = current.watcher({ locks: createAdvisoryLocks(relayedPool, false, { livenessIntervalMs: 100, livenessTimeoutMs: 300, connectTimeoutMs: 1000 }) });
      await startWatching(watcher);
      // The database is still there, but nothing reaches it from this connection any more.
      relay.freeze();
      await waitUntil('the watcher to stop watching', () => watcher.health().state !== 'watching', 3000);
      expect(watcher.health().lastError).toMatch(/lost the mailbox lock: lock connection stopped answering/);
      relay.thaw();
      // Its abandoned connection is closed, so the lock is free again and is taken back.
      await waitUntil('the watcher to watch again', () => watcher.health().state === 'watching', 10_000);
      await deliver(current.user, plainMessage('after', 'After the outage'));
      await waitUntil('mail to flow again', () => current.calls.length === 1);
    } finally {
      await relayedPool.end();
    }
  });
});
