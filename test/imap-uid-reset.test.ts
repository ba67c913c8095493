import { afterEach, describe, expect, it } from 'vitest';
import type { MailboxWatcher } from '../src/channels/email/imap-watcher.ts';
import { createMailboxStateStore } from '../src/channels/email/mailbox-state.ts';
import { appendWithDate, createWatcherRig, deliver, plainMessage, resetUidValidity, saveMessage, type WatcherRig } from './support/mailbox.ts';
import { waitUntil } from './support/wait.ts';

const DAY_MS = 24 * 60 * 60_000;

/** A server that renumbers its mailbox (UIDVALIDITY) must never make the watcher replay history. */
describe('mailbox watcher after a UIDVALIDITY change', () => {
  let rig: WatcherRig | undefined;

  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  async function watching(watcher: MailboxWatcher): Promise<void> {
    await watcher.start();
    await waitUntil('the watcher to watch', () => watcher.health().state === 'watching');
    await watcher.syncNow();
  }

  /** Runs a watcher once so the mailbox has a saved position, then backdates when it was last seen. */
  async function lastSeen(current: WatcherRig, ago: number): Promise<string> {
    const first = current.watcher();
    await watching(first);
    await first.stop();
    const mailbox = first.health().mailbox;
    await current.database.pool.query(`UPDATE mailbox_states SET updated_at = now() - make_interval(secs => $2), checked_at = now() - make_interval(secs => $2) WHERE mailbox = $1`, [mailbox, ago / 1000]);
    return mailbox;
  }

  it('replays nothing on a quiet mailbox last seen three days ago, and then handles new mail', async () => {
    const current = (rig = await createWatcherRig('reset-quiet'));
    // History: appended with old arrival dates, and saved straight into the mailbox.
    for (const days of [30, 10, 4]) await appendWithDate(current.user, plainMessage(`old-${days}`, `${days} days old`), new Date(Date.now() - days * DAY_MS));
    saveMessage(current.user, plainMessage('saved-1', 'Saved history 1'));
    saveMessage(current.user, plainMessage('saved-2', 'Saved history 2'));
    const mailbox = await lastSeen(current, 3 * DAY_MS);
    resetUidValidity(current.user);

    const watcher = current.watcher();
    await watching(watcher);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await watcher.syncNow();
    expect(current.calls).toEqual([]);
    const state = await createMailboxStateStore(current.database.prisma).get(mailbox);
    expect(state).toMatchObject({ lastUid: 5, rescanUids: [] });
    expect(current.announcements).toHaveLength(1);
    expect(current.announcements[0]).toMatch(/UIDVALIDITY/);
    expect(current.announcements[0]).toMatch(/too long ago/);

    await deliver(current.user, plainMessage('new', 'New after the reset'));
    await waitUntil('the new message', () => current.calls.length === 1);
    expect(current.calls.map((call) => call.subject)).toEqual(['New after the reset']);
  });

  it('after a recent last look, hands over only the mail that arrived since, not the history', async () => {
    const current = (rig = await createWatcherRig('reset-gap'));
    for (const days of [30, 2]) await appendWithDate(current.user, plainMessage(`old-${days}`, `${days} days old`), new Date(Date.now() - days * DAY_MS));
    const mailbox = await lastSeen(current, 60 * 60_000);
    // Arrived while the watcher was down, before the server renumbered the mailbox.
    await appendWithDate(current.user, plainMessage('gap', 'Arrived while down'), new Date(Date.now() - 20 * 60_000));
    resetUidValidity(current.user);

    const watcher = current.watcher();
    await watching(watcher);
    await waitUntil('the message from the gap', () => current.calls.length === 1);
    await watcher.syncNow();
    expect(current.calls.map((call) => call.subject)).toEqual(['Arrived while down']);
    const state = await createMailboxStateStore(current.database.prisma).get(mailbox);
    expect(state).toMatchObject({ lastUid: 3, rescanUids: [], attempt: null });
    expect(current.announcements[0]).toMatch(/looked again at 1 message/);
  });

  it('caps how much it looks at again', async () => {
    const current = (rig = await createWatcherRig('reset-cap'));
    await lastSeen(current, 60 * 60_000);
    for (let index = 0; index < 5; index += 1) saveMessage(current.user, plainMessage(`burst-${index}`, `Burst ${index}`));
    resetUidValidity(current.user);

    const watcher = current.watcher({ limits: { resetRescanMax: 2 } });
    await watching(watcher);
    await waitUntil('the capped rescan', () => current.calls.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await watcher.syncNow();
    // The newest two, in order.
    expect(current.calls.map((call) => call.subject)).toEqual(['Burst 3', 'Burst 4']);
    expect(current.announcements[0]).toMatch(/3 more arrived in that time and were not looked at/);
  });
});
