import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerEventDedupe, type EventDedupeQueryable } from '../src/channels/slack/event-dedupe.ts';
import { createSlackApp, type SlackApp } from '../src/channels/slack/slack-app.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { buttonClick, sendSignedEvent, sendSignedInteraction, startSlackFake, type SlackFake } from './fakes/slack-fake.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.ts';
import { waitUntil } from './support/wait.ts';
import { captureLogs } from './support/log-capture.ts';
import type { Logger } from '../src/logger.ts';

const SECRET = 'event-dedupe-signing-secret';
const TOKEN = 'xoxb-event-dedupe-test';

/** A Slack app in HTTP mode (its front thread, signature check included) with the dedupe installed, served on loopback. */
async function serveSlackApp(slack: SlackFake, pool: EventDedupeQueryable, logger: Logger): Promise<{ app: SlackApp; url: string }> {
  const app = createSlackApp({ botToken: TOKEN, signingSecret: SECRET, apiUrl: slack.apiUrl, logger });
  registerEventDedupe(app.app, { pool, logger });
  if (!app.serveHttp) throw new Error('expected HTTP mode');
  // Nothing but /slack/events is asked here: other paths would go to a port nothing listens on.
  const port = await app.serveHttp({ port: 0, host: '127.0.0.1', upstreamPort: 9 });
  return { app, url: `http://127.0.0.1:${port}/slack/events` };
}

const message = (ts: string, text: string) => ({ type: 'message', channel: 'C0GENERAL', channel_type: 'channel', user: 'U0ANA', ts, event_ts: ts, text });

describe.each<DatabaseKind>(['postgres', 'pglite'])('Slack events deduplicated by event_id on %s', { timeout: 120_000 }, (kind) => {
  let testDatabase: TestDatabase;
  let database: Database;
  let slack: SlackFake;
  let app: SlackApp;
  let url: string;
  const logs = captureLogs();
  const seen: string[] = [];
  let failNext = false;

  beforeAll(async () => {
    testDatabase = await createTestDatabase(kind);
    database = await createDatabase({ ...(testDatabase.databaseUrl ? { databaseUrl: testDatabase.databaseUrl } : {}), dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    slack = await startSlackFake({ botToken: TOKEN, botUserId: 'U000BOT' });
    const served = await serveSlackApp(slack, database.pool, logs.logger);
    ({ app, url } = served);
    served.app.app.event('message', async ({ event }) => {
      const text = (event as { text?: string }).text ?? '';
      if (failNext) {
        failNext = false;
        throw new Error(`listener failed on: ${text}`);
      }
      seen.push(text);
    });
    served.app.app.action('dedupe_test_button', async ({ ack, action }) => {
      await ack();
      seen.push(`click ${(action as { value?: string }).value ?? ''}`);
    });
  });
  afterAll(async () => {
    await app?.stop();
    await slack?.close();
    await database?.close();
    await testDatabase?.drop();
  });

  const storedIds = async () => (await database.pool.query<{ event_id: string }>('SELECT event_id FROM slack_events ORDER BY event_id')).rows.map((row) => row.event_id);

  it('handles an event once however often Slack delivers it, and prunes ids older than a week', async () => {
    // An id from long ago: the first event prunes it.
    await database.pool.query("INSERT INTO slack_events (event_id, type, received_at) VALUES ('EvOLD', 'message', now() - interval '8 days')");
    const first = message('1767225600.000100', 'Kiln two is broken until Monday.');
    expect((await sendSignedEvent(url, SECRET, first, { eventId: 'Ev0001' })).status).toBe(200);
    // Slack's retry (it did not see our answer in time), then a Socket Mode style replay without the header.
    expect((await sendSignedEvent(url, SECRET, first, { eventId: 'Ev0001', retryNum: 1 })).status).toBe(200);
    expect((await sendSignedEvent(url, SECRET, first, { eventId: 'Ev0001' })).status).toBe(200);
    // Another event, even with the same text, is handled.
    expect((await sendSignedEvent(url, SECRET, message('1767225700.000100', 'Kiln two is broken until Monday.'), { eventId: 'Ev0002' })).status).toBe(200);

    expect(seen).toEqual(['Kiln two is broken until Monday.', 'Kiln two is broken until Monday.']);
    await waitUntil('the old event id to be pruned', async () => !(await storedIds()).includes('EvOLD'), 5_000);
    expect(await storedIds()).toEqual(['Ev0001', 'Ev0002']);
    const duplicates = logs.records().filter((line) => line.msg.includes('already handled'));
    expect(duplicates).toMatchObject([
      { level: 30, eventId: 'Ev0001', retryNum: 1 },
      { level: 30, eventId: 'Ev0001' },
    ]);

    // Pruned at most hourly: an old id stays until the next pruning.
    await database.pool.query("INSERT INTO slack_events (event_id, type, received_at) VALUES ('EvOLD2', 'message', now() - interval '8 days')");
    await sendSignedEvent(url, SECRET, message('1767225800.000100', 'Third.'), { eventId: 'Ev0003' });
    expect(await storedIds()).toContain('EvOLD2');
  });

  it('handles again an event whose handling failed, when Slack delivers it again', async () => {
    seen.length = 0;
    failNext = true;
    const event = message('1767225900.000100', 'Bandsaw serviced.');
    await sendSignedEvent(url, SECRET, event, { eventId: 'Ev0004' });
    expect(seen).toEqual([]);
    expect(await storedIds()).not.toContain('Ev0004');
    await sendSignedEvent(url, SECRET, event, { eventId: 'Ev0004', retryNum: 1 });
    await sendSignedEvent(url, SECRET, event, { eventId: 'Ev0004', retryNum: 2 });
    expect(seen).toEqual(['Bandsaw serviced.']);
  });

  it('lets interactions through untouched: they have no event_id', async () => {
    seen.length = 0;
    const click = buttonClick({ userId: 'U0ANA', channel: 'C0APPROVALS', messageTs: '1767226000.000100', actionId: 'dedupe_test_button', value: 'one' });
    expect((await sendSignedInteraction(url, SECRET, click)).status).toBe(200);
    expect((await sendSignedInteraction(url, SECRET, click)).status).toBe(200);
    // A click is answered by the front thread before its listener runs.
    await waitUntil('both clicks’ listeners', () => seen.length >= 2, 5_000);
    expect(seen).toEqual(['click one', 'click one']);
  });

  it('refuses a forged request and records nothing from it', async () => {
    seen.length = 0;
    const forged = await sendSignedEvent(url, SECRET, message('1767226100.000100', 'Forged: new bank details attached.'), { eventId: 'EvFORGED', signature: 'v0=deadbeef' });
    expect(forged.status).toBe(401);
    expect(seen).toEqual([]);
    expect(await storedIds()).not.toContain('EvFORGED');
  });
});

describe('Slack event dedupe without its database', () => {
  it('handles the event anyway (better twice than never) and warns', async () => {
    const slack = await startSlackFake({ botToken: TOKEN });
    const logs = captureLogs();
    const broken: EventDedupeQueryable = { query: () => Promise.reject(new Error('connection refused')) };
    const { app, url } = await serveSlackApp(slack, broken, logs.logger);
    const seen: string[] = [];
    app.app.event('message', async ({ event }) => {
      seen.push((event as { text?: string }).text ?? '');
    });
    try {
      const event = message('1767226200.000100', 'Database down, still heard.');
      expect((await sendSignedEvent(url, SECRET, event, { eventId: 'Ev0100' })).status).toBe(200);
      expect((await sendSignedEvent(url, SECRET, event, { eventId: 'Ev0100', retryNum: 1 })).status).toBe(200);
      expect(seen).toEqual(['Database down, still heard.', 'Database down, still heard.']);
      const warnings = logs.records().filter((line) => line.level === 40 && line.msg.includes('event id'));
      expect(warnings).toHaveLength(2);
    } finally {
      await app.stop();
      await slack.close();
    }
  });
});
