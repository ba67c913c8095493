import { afterEach, describe, expect, it } from 'vitest';
import { createMailboxStateStore } from '../src/channels/email/mailbox-state.ts';
import { createWatcherRig, startWatching, deliver, plainMessage, startTcpRelay, type TcpRelay, type WatcherRig } from './support/mailbox.ts';
import { testServices } from './support/services.ts';
import { waitUntil } from './support/wait.ts';

/** Messages that cannot be handed over must not hold the mailbox: real Dovecot, real PostgreSQL. */
describe('mailbox watcher with messages it cannot hand over', () => {
  let rig: WatcherRig | undefined;
  let relay: TcpRelay | undefined;

  afterEach(async () => {
    await rig?.close();
    await relay?.close();
    rig = undefined;
    relay = undefined;
  });

  const failures = (current: WatcherRig) => current.database.prisma.mailboxFailure.findMany({ orderBy: { uid: 'asc' } });

  it('gives up on a message that always fails after N attempts, keeps its raw, announces it once and delivers later mail', async () => {
    const current = (rig = await createWatcherRig('poison'));
    // What a NUL byte in a header does to PostgreSQL text, every time.
    const poisonError = 'invalid byte sequence for encoding "UTF8": 0x00';
    const watcher = current.watcher({
      fail: (call) => (call.messageId === '<poison@client.example>' ? new Error(poisonError) : null),
      limits: { maxAttempts: 3, retryDelayMs: () => 150 },
    });
    await startWatching(watcher);

    const poison = plainMessage('poison', 'Quarterly numbers', 'Body of the poison message.');
    await deliver(current.user, poison);
    await deliver(current.user, plainMessage('after', 'After the poison'));

    await waitUntil('the message after the poison', () => current.calls.some((call) => call.messageId === '<after@client.example>'));
    const poisonCalls = current.calls.filter((call) => call.messageId === '<poison@client.example>');
    expect(poisonCalls).toHaveLength(3);
    expect(current.calls.map((call) => call.uid)).toEqual([1, 1, 1, 2]);

    const [kept, ...others] = await failures(current);
    expect(others).toEqual([]);
    expect(kept).toMatchObject({ uid: 1, status: 'given_up', attempts: 3, lastError: poisonError, subject: 'Quarterly numbers', messageId: '<poison@client.example>', rawTruncated: false });
    // As the server stores it: the delivery added its trace headers in front.
    expect(Buffer.from(kept?.raw ?? new Uint8Array()).toString().endsWith(poison)).toBe(true);
    expect(kept?.announcedAt).toBeInstanceOf(Date);

    expect(current.announcements).toHaveLength(1);
    const [announcement] = current.announcements;
    expect(announcement).toContain('UID 1');
    expect(announcement).toContain('Quarterly numbers');
    expect(announcement).toContain(poisonError);
    expect(announcement).toContain(current.user);
    expect(announcement).toContain(kept?.id);

    const state = await createMailboxStateStore(current.database.prisma).get(watcher.health().mailbox);
    expect(state).toMatchObject({ lastUid: 2, attempt: null });

    // Nothing more happens to it, here or after a restart.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await watcher.stop();
    const again = current.watcher();
    await startWatching(again);
    expect(current.calls).toHaveLength(4);
    expect(current.announcements).toHaveLength(1);
  });

  it('recovers a message whose failure was transient, without giving it up', async () => {
    const current = (rig = await createWatcherRig('transient'));
    let failuresLeft = 2;
    const watcher = current.watcher({
      fail: () => (failuresLeft-- > 0 ? new Error('connection terminated unexpectedly') : null),
      limits: { maxAttempts: 5, retryDelayMs: () => 150 },
    });
    await startWatching(watcher);
    await deliver(current.user, plainMessage('flaky', 'Flaky'));
    await waitUntil('the third attempt', () => current.calls.length === 3);
    await watcher.syncNow();
    const [record] = await failures(current);
    expect(record).toMatchObject({ uid: 1, status: 'resolved', attempts: 2, raw: null });
    expect(current.announcements).toEqual([]);
  });

  it('waits between attempts instead of retrying in a tight loop, even when new mail keeps arriving', async () => {
    const current = (rig = await createWatcherRig('backoff'));
    const watcher = current.watcher({ fail: (call) => (call.uid === 1 ? new Error('database is starting up') : null), limits: { maxAttempts: 3, retryDelayMs: () => 1500 } });
    await startWatching(watcher);
    await deliver(current.user, plainMessage('first', 'First'));
    await waitUntil('the first attempt', () => current.calls.length === 1);
    // Each arrival wakes the watcher; none of them may cut the wait short.
    for (let index = 0; index < 3; index += 1) await deliver(current.user, plainMessage(`more-${index}`, `More ${index}`));
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(current.calls.map((call) => call.uid)).toEqual([1]);
    await waitUntil('the second attempt after the backoff', () => current.calls.length >= 2, 5000);
  });

  it('gives up without handing it over again a message whose every attempt was cut short (a crash loop)', async () => {
    const current = (rig = await createWatcherRig('crashloop'));
    const first = current.watcher();
    await startWatching(first);
    await first.stop();
    await deliver(current.user, plainMessage('crasher', 'Crashes the parser'));
    await deliver(current.user, plainMessage('next', 'Next'));
    // As the state is left when the process died three times while handing UID 1 over.
    const store = createMailboxStateStore(current.database.prisma);
    const mailbox = first.health().mailbox;
    const saved = await store.get(mailbox);
    await store.set(mailbox, { ...(saved ?? { uidValidity: 0n, lastUid: 0, checkedAt: null, rescanUids: [] }), attempt: { uid: 1, count: 3 } });

    const restarted = current.watcher({ limits: { maxAttempts: 3 } });
    await startWatching(restarted);
    await waitUntil('the next message', () => current.calls.some((call) => call.uid === 2));
    expect(current.calls.map((call) => call.uid)).toEqual([2]);
    const [kept] = await failures(current);
    expect(kept).toMatchObject({ uid: 1, status: 'given_up', attempts: 3, subject: 'Crashes the parser' });
    expect(kept?.lastError).toMatch(/never finished/);
    expect(Buffer.from(kept?.raw ?? new Uint8Array()).toString()).toContain('Message-ID: <crasher@client.example>');
    expect(current.announcements).toHaveLength(1);
  });

  it('does not fetch an oversized message whole: keeps its metadata and first bytes, announces it, and later mail flows', async () => {
    const services = testServices();
    relay = await startTcpRelay(services.imapHost, services.imapPort);
    const current = (rig = await createWatcherRig('oversized'));
    const watcher = current.watcher({ port: relay.port, limits: { maxMessageBytes: 64 * 1024, keepRawBytes: 4096 } });
    await startWatching(watcher);

    const big = plainMessage('big', 'Scanned contract', `${'x'.repeat(76)}\r\n`.repeat(13_000));
    expect(big.length).toBeGreaterThan(1_000_000);
    const before = relay.bytesToClient;
    await deliver(current.user, big);
    await deliver(current.user, plainMessage('small', 'Small'));
    await waitUntil('the small message', () => current.calls.some((call) => call.messageId === '<small@client.example>'));
    // The server sent a few kilobytes for both messages, not the megabyte.
    expect(relay.bytesToClient - before).toBeLessThan(100_000);
    expect(current.calls.map((call) => call.messageId)).toEqual(['<small@client.example>']);

    const [kept] = await failures(current);
    expect(kept).toMatchObject({ uid: 1, status: 'oversized', subject: 'Scanned contract', messageId: '<big@client.example>', rawTruncated: true });
    // The server's size includes the trace headers its delivery added.
    expect(kept?.size).toBeGreaterThan(big.length);
    expect(kept?.size).toBeLessThan(big.length + 2000);
    const prefix = Buffer.from(kept?.raw ?? new Uint8Array()).toString();
    expect(prefix).toHaveLength(4096);
    expect(prefix).toContain('Subject: Scanned contract');
    expect(prefix.endsWith('x'.repeat(40))).toBe(true);
    expect(current.announcements).toHaveLength(1);
    expect(current.announcements[0]).toContain('Scanned contract');
    expect(current.announcements[0]).toContain('over the 64 KiB');
  });
});
