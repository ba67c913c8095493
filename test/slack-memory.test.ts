import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlackApp, type SlackApp } from '../src/channels/slack/slack-app.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createMemory, type Memory } from '../src/memory/memory.ts';
import { slackMemoryPort } from '../src/orchestrator/slack-memory.ts';
import { sendSignedEvent, startSlackFake, type SlackFake } from './fakes/slack-fake.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';

const SECRET = 'slack-memory-signing-secret';
const TOKEN = 'xoxb-slack-memory-test';

/** Slack messages become memory through Bolt's real HTTP receiver, signature check included. */
describe('Slack conversations in memory', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let memory: Memory;
  let slack: SlackFake;
  let served: SlackApp;
  let url: string;

  beforeAll(async () => {
    testDatabase = await createTestDatabase('postgres');
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    const logger = createLogger({ level: process.env.DEBUG_LOG ? 'debug' : 'silent' });
    memory = createMemory({ database, embedder: null, embedderOff: 'EMBEDDER is none', logger });
    slack = await startSlackFake({ botToken: TOKEN, botUserId: 'U000BOT' });
    const app = createSlackApp({ botToken: TOKEN, signingSecret: SECRET, apiUrl: slack.apiUrl, logger });
    // Only #general is configured; threads the bot is in are remembered wherever they are.
    app.rememberConversations(slackMemoryPort({ memory, prisma: database.prisma }), ['C0GENERAL', 'G0FINANCE']);
    if (!app.serveHttp) throw new Error('expected HTTP mode');
    served = app;
    // Only /slack/events is asked: other paths would go to a port nothing listens on.
    url = `http://127.0.0.1:${await app.serveHttp({ port: 0, host: '127.0.0.1', upstreamPort: 9 })}/slack/events`;
  });
  afterAll(async () => {
    await served?.stop();
    await slack?.close();
    await database?.close();
    await testDatabase?.drop();
  });

  const message = (fields: Record<string, unknown>) => ({ type: 'message', channel_type: 'channel', user: 'U0ANA', event_ts: fields.ts, ...fields });
  const find = async (text: string, askedIn?: string) => (await memory.search({ text, ...(askedIn ? { askedIn: { channel: askedIn } } : {}) })).hits;

  it('remembers a channel message with its permalink, once however often Slack delivers it', async () => {
    const event = message({ channel: 'C0GENERAL', ts: '1767225600.000100', text: 'The spray booth filters were changed today; next change due in March.' });
    expect((await sendSignedEvent(url, SECRET, event, { eventId: 'Ev0001' })).status).toBe(200);
    expect((await sendSignedEvent(url, SECRET, event, { eventId: 'Ev0001', retryNum: 1 })).status).toBe(200);
    const hits = await find('spray booth filters');
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ kind: 'slack_message', sourceType: 'slack', sourceRef: 'C0GENERAL/1767225600.000100', url: 'https://fake.slack.test/archives/C0GENERAL/p1767225600000100', author: 'U0ANA' });
    expect(hits[0]?.occurredAt?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it('keeps a private channel message to asks made in that channel', async () => {
    await sendSignedEvent(url, SECRET, message({ channel: 'G0FINANCE', channel_type: 'group', ts: '1767225700.000100', text: 'Overdraft limit raised to 20k until the Harrow invoice clears.' }));
    expect(await find('overdraft limit')).toEqual([]);
    expect(await find('overdraft limit', 'C0GENERAL')).toEqual([]);
    expect((await find('overdraft limit', 'G0FINANCE')).map((hit) => hit.sourceRef)).toEqual(['G0FINANCE/1767225700.000100']);
  });

  it('reads an edit anew and forgets a deleted message', async () => {
    const ts = '1767225800.000100';
    await sendSignedEvent(url, SECRET, message({ channel: 'C0GENERAL', ts, text: 'Kiln two is broken until Monday.' }));
    await sendSignedEvent(url, SECRET, { type: 'message', subtype: 'message_changed', channel: 'C0GENERAL', channel_type: 'channel', ts: '1767225900.000200', message: { type: 'message', user: 'U0ANA', text: 'Bandsaw two is broken until Monday.', ts }, previous_message: { type: 'message', user: 'U0ANA', text: 'Kiln two is broken until Monday.', ts } });
    expect(await find('kiln')).toEqual([]);
    expect((await find('bandsaw')).map((hit) => hit.sourceRef)).toEqual([`C0GENERAL/${ts}`]);
    await sendSignedEvent(url, SECRET, { type: 'message', subtype: 'message_deleted', channel: 'C0GENERAL', channel_type: 'channel', ts: '1767226000.000300', deleted_ts: ts, previous_message: { type: 'message', user: 'U0ANA', text: 'Bandsaw two is broken until Monday.', ts } });
    expect(await find('bandsaw')).toEqual([]);
    const row = await database.pool.query<{ content: string }>('SELECT content FROM memory_items WHERE source_ref = $1', [`C0GENERAL/${ts}`]);
    expect(row.rows[0]?.content).toBe('');
  });

  it('remembers the threads the bot is in beyond the configured channels, and nothing else', async () => {
    // A reply under one of the bot's messages in a channel that is not configured.
    await sendSignedEvent(url, SECRET, message({ channel: 'C0APPROVALS', ts: '1767226100.000200', thread_ts: '1767226100.000100', parent_user_id: 'U000BOT', text: 'Client called: they want the quote in euros.' }));
    // A reply in someone else's thread there, the bot's own message, and a direct message.
    await sendSignedEvent(url, SECRET, message({ channel: 'C0APPROVALS', ts: '1767226200.000200', thread_ts: '1767226200.000100', parent_user_id: 'U0SAM', text: 'Unrelated chatter about the euros football.' }));
    await sendSignedEvent(url, SECRET, message({ channel: 'C0GENERAL', ts: '1767226300.000100', bot_id: 'B000BOT', user: 'U000BOT', text: 'Draft ready for the euros quote.' }));
    await sendSignedEvent(url, SECRET, message({ channel: 'D0DIRECT', channel_type: 'im', ts: '1767226400.000100', text: 'Private note about euros to the bot.' }));
    expect((await find('euros')).map((hit) => hit.sourceRef)).toEqual(['C0APPROVALS/1767226100.000200']);
  });

  it('reads an edit anew in a thread the bot started, beyond the configured channels', async () => {
    const thread = { thread_ts: '1767226600.000100', parent_user_id: 'U000BOT' };
    const ts = '1767226600.000200';
    await sendSignedEvent(url, SECRET, message({ channel: 'C0APPROVALS', ts, ...thread, text: 'The courier collects the parcels from the loading bay.' }));
    expect((await find('courier parcels')).map((hit) => hit.sourceRef)).toEqual([`C0APPROVALS/${ts}`]);
    // Slack's edit carries the reply's thread and who started it, as the reply did.
    await sendSignedEvent(url, SECRET, {
      type: 'message',
      subtype: 'message_changed',
      channel: 'C0APPROVALS',
      channel_type: 'channel',
      ts: '1767226700.000300',
      message: { type: 'message', user: 'U0ANA', text: 'The courier collects the parcels from the side gate.', ts, ...thread },
      previous_message: { type: 'message', user: 'U0ANA', text: 'The courier collects the parcels from the loading bay.', ts, ...thread },
    });
    expect(await find('loading bay')).toEqual([]);
    expect((await find('side gate')).map((hit) => hit.sourceRef)).toEqual([`C0APPROVALS/${ts}`]);
  });

  it('refuses a forged request and stores nothing from it', async () => {
    const forged = await sendSignedEvent(url, SECRET, message({ channel: 'C0GENERAL', ts: '1767226500.000100', text: 'Forged: the new bank details for Hartwell are attached.' }), { signature: 'v0=deadbeef' });
    expect(forged.status).toBe(401);
    expect(await find('bank details Hartwell')).toEqual([]);
  });
});
