import { describe, expect, it } from 'vitest';
import { createStallAlarm } from '../src/channels/email/imap-stall-alarm.ts';

/** The stall alarm's bookkeeping on a hand-driven clock: one alert per stall, one per recovery. */
describe('IMAP stall alarm', () => {
  function clock() {
    let at = Date.parse('2026-11-21T10:00:00Z');
    return { now: () => new Date(at), advance: (ms: number) => (at += ms) };
  }

  it('fires once when contact is lost for longer than the threshold, and once when it is back', () => {
    const time = clock();
    const alarm = createStallAlarm({ thresholdMs: 600_000, now: time.now });
    alarm.resume();
    alarm.contact();
    time.advance(600_000);
    expect(alarm.check()).toBeNull();
    time.advance(1);
    expect(alarm.check()).toEqual({ lastContactAt: new Date('2026-11-21T10:00:00Z') });
    time.advance(300_000);
    expect(alarm.check()).toBeNull();
    expect(alarm.snapshot().stalledSince).toEqual(new Date('2026-11-21T10:10:00.001Z'));
    expect(alarm.contact()).toEqual({ recoveredAfterMs: 900_001 });
    expect(alarm.contact()).toBeNull();
    expect(alarm.snapshot().stalledSince).toBeNull();
  });

  it('counts a server that never answered from when the watcher became responsible', () => {
    const time = clock();
    const alarm = createStallAlarm({ thresholdMs: 1000, now: time.now });
    time.advance(60_000);
    alarm.resume();
    time.advance(1000);
    expect(alarm.check()).toBeNull();
    time.advance(1);
    expect(alarm.check()).not.toBeNull();
    expect(alarm.snapshot().lastContactAt).toBeNull();
  });

  it('is silent in standby, and drops a stall it announced when the watcher stops being responsible', () => {
    const time = clock();
    const alarm = createStallAlarm({ thresholdMs: 1000, now: time.now });
    expect(alarm.pause()).toBe(false);
    time.advance(5000);
    expect(alarm.check()).toBeNull();
    alarm.resume();
    time.advance(1001);
    expect(alarm.check()).not.toBeNull();
    expect(alarm.pause()).toBe(true);
    expect(alarm.snapshot().stalledSince).toBeNull();
  });
});
