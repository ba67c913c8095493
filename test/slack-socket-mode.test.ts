import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { startService, type Service } from '../src/main.ts';
import { buttonClick, startSlackFake, type SlackFake } from './fakes/slack-fake.ts';
import { startSocketModeFake, type SocketModeFake } from './fakes/socket-mode-fake.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
import { startSmtpCapture } from './support/smtp-capture.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Socket Mode through the running service: with SLACK_APP_TOKEN set, Adjutant asks
 * apps.connections.open (on the Web API fake, with the app-level token) for a WebSocket URL,
 * connects to the Socket Mode fake, acknowledges each envelope by its envelope_id and acts on
 * it; when Slack asks it to reconnect it opens a new URL and a new connection and carries on;
 * and an event Slack delivers again after a reconnect is handled once.
 */
const BOT_TOKEN = 'xoxb-test-bot-token';
const APP_TOKEN = 'xapp-1-A000FAKE-1-test-app-token';
const APPROVALS = 'C0APPROVALS';
const ALICE = 'U0ALICE';
const BOB = 'U0BOB';

function appHomeOpened(user: string, eventId: string): Record<string, unknown> {
  return {
    token: 'legacy-verification-token',
    team_id: 'T000FAKE',
    api_app_id: 'A000FAKE',
    type: 'event_callback',
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ team_id: 'T000FAKE', user_id: 'U000BOT', is_bot: true }],
    event: { type: 'app_home_opened', user, channel: 'D0HOME', tab: 'home', event_ts: `${Date.now() / 1000}` },
  };
}

describe('Slack over Socket Mode', () => {
  let database: TestDatabase;
  let socket: SocketModeFake;
  let slack: SlackFake;
  let smtp: Awaited<ReturnType<typeof startSmtpCapture>>;
  let service: Service;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    socket = await startSocketModeFake({ appToken: APP_TOKEN });
    slack = await startSlackFake({ botToken: BOT_TOKEN, channelMembers: { [APPROVALS]: [ALICE] }, appsConnectionsOpen: (token) => socket.open(token) });
    smtp = await startSmtpCapture();
    const config = loadConfig({
      envFile: null,
      env: {
        ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
        DATA_DIR: database.dataDir,
        PORT: '0',
        LOG_LEVEL: 'error',
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_APP_TOKEN: APP_TOKEN,
        SLACK_API_URL: slack.apiUrl,
        SLACK_APPROVALS_CHANNEL: APPROVALS,
        SLACK_APPROVERS: ALICE,
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(smtp.port),
        SMTP_TLS: 'false',
        MAIL_FROM: 'Acme Ops <ops@team.example>',
        TEAM_DOMAINS: 'team.example',
        EMBEDDER: 'none',
      },
    });
    service = await startService(config, { host: '127.0.0.1', jobPollMs: 200, shutdownGraceMs: 1000, reconcileEveryMs: 500, reconcile: { graceMs: 300 } });
  });

  afterAll(async () => {
    await service?.stop();
    await Promise.all([socket?.close(), slack?.close(), smtp?.close()]);
    await database?.drop();
  });

  it('connects with the app-level token, acknowledges an Approve click by its envelope_id, and sends the reply', async () => {
    // start() resolves on hello: the service is connected by the time it is running.
    expect(socket.connections).toBe(1);
    expect(socket.openConnections).toBe(1);
    const opens = slack.callsTo('apps.connections.open');
    expect(opens).toHaveLength(1);
    expect(opens[0]?.token).toBe(APP_TOKEN);
    expect((await service.health.report()).parts.slack).toMatchObject({ status: 'ok', detail: expect.stringContaining('socket mode') });

    // A pending draft, as the draft job leaves it; the reconciler posts its card.
    const email = await service.database.prisma.email.create({
      data: { messageId: `<${randomUUID()}@client.example>`, mailbox: 'test', subject: 'Delivery on Friday?', text: 'Can you deliver on Friday?', raw: new Uint8Array(Buffer.from('x')), fromAddress: 'dana@client.example' },
    });
    const created = await service.database.prisma.draft.create({
      data: { emailId: email.id, toAddress: 'dana@client.example', subject: 'Re: Delivery on Friday?', body: 'Hi Dana, yes: Friday works.', inReplyTo: email.messageId, references: [email.messageId] },
    });
    const draft = await waitUntil('the draft card to be posted', () => service.database.prisma.draft.findFirst({ where: { id: created.id, slackDraftTs: { not: null } } }));

    const click = buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: draft.slackDraftTs ?? '', actionId: 'draft_approve', value: draft.id });
    const ack = await socket.send({ type: 'interactive', envelope_id: 'env-approve-1', payload: click });
    expect(ack.envelope_id).toBe('env-approve-1');

    const [sent] = await smtp.waitFor(1, 15_000);
    expect(sent?.envelope.to).toEqual(['dana@client.example']);
    expect(sent?.parsed.text?.trim()).toBe('Hi Dana, yes: Friday works.');
    await waitUntil('the draft to be recorded as sent', async () => (await service.database.prisma.draft.findUniqueOrThrow({ where: { id: draft.id } })).status === 'sent');
    expect(socket.acks.get('env-approve-1')).toHaveLength(1);
  });

  it('reconnects when Slack asks (a new apps.connections.open and a new WebSocket) and handles the next envelope', async () => {
    await socket.disconnect('refresh_requested');
    // The client waits its reconnect delay (5 s in @slack/socket-mode), then opens a fresh URL.
    await socket.waitForConnection(2, 15_000);
    const opens = slack.callsTo('apps.connections.open');
    expect(opens).toHaveLength(2);
    expect(opens[1]?.token).toBe(APP_TOKEN);
    expect(socket.openConnections).toBe(1);

    const ack = await socket.send({ type: 'events_api', envelope_id: 'env-home-1', payload: appHomeOpened(ALICE, 'Ev0HOME0001') });
    expect(ack.envelope_id).toBe('env-home-1');
    const [publish] = await slack.waitFor('views.publish', 1, 10_000);
    expect(publish?.args.user_id).toBe(ALICE);
    expect(JSON.stringify(publish?.args.view)).toContain('"type":"home"');
  });

  it('handles an event Slack delivers again with the same event_id once, and still acknowledges it', async () => {
    const replay = await socket.send({ type: 'events_api', envelope_id: 'env-home-1-replay', retry_attempt: 1, retry_reason: 'timeout', payload: appHomeOpened(ALICE, 'Ev0HOME0001') });
    expect(replay.envelope_id).toBe('env-home-1-replay');
    // A different event after it: once that one is handled, the replay has had its chance.
    await socket.send({ type: 'events_api', envelope_id: 'env-home-2', payload: appHomeOpened(BOB, 'Ev0HOME0002') });
    await slack.waitFor('views.publish', 2, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(slack.callsTo('views.publish').map((call) => call.args.user_id)).toEqual([ALICE, BOB]);
    const seen = await service.database.pool.query<{ event_id: string }>('SELECT event_id FROM slack_events ORDER BY event_id');
    expect(seen.rows.map((row) => row.event_id)).toEqual(['Ev0HOME0001', 'Ev0HOME0002']);
    // Still the second connection: nothing dropped it (pings answered, acks on time).
    expect(socket.connections).toBe(2);
    expect(slack.callsTo('apps.connections.open')).toHaveLength(2);
  });
});
