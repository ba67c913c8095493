import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { startService, type Service } from '../src/main.ts';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { buttonClick, sendSignedInteraction, startSlackFake, type SlackFake } from './fakes/slack-fake.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
import { deliver, freshMailboxUser } from './support/mailbox.ts';
import { testServices } from './support/services.ts';
import { startSmtpCapture } from './support/smtp-capture.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Two replicas on one PostgreSQL, one mailbox: one watches while the other stands by, every
 * job runs once between them, and approvals clicked on both at once send each reply once.
 */
const BOT_TOKEN = 'xoxb-two';
const SIGNING_SECRET = 'two-instances-secret';
const APPROVALS = 'C0APPROVALS';
const ALICE = 'U0ALICE';
const FORWARD = readFileSync(new URL('./fixtures/email/gmail-forward.eml', import.meta.url), 'utf8');

describe('two service instances on one PostgreSQL', () => {
  let database: TestDatabase;
  let slack: SlackFake;
  let anthropic: AnthropicFake;
  let smtp: Awaited<ReturnType<typeof startSmtpCapture>>;
  const services: Service[] = [];
  const mailboxUser = freshMailboxUser('two');

  beforeAll(async () => {
    const local = testServices();
    database = await createTestDatabase('postgres');
    slack = await startSlackFake({ botToken: BOT_TOKEN, channelMembers: { [APPROVALS]: [ALICE] }, responseDelayMs: 40 });
    anthropic = await startAnthropicFake({ apiKey: 'sk-ant-two', respond: () => JSON.stringify({ body: 'Tuesday works for us.', sources: [], confidence: 0.9, rationale: 'Agrees to Tuesday.' }) });
    smtp = await startSmtpCapture({ acceptDelayMs: 50 });
    const config = loadConfig({
      envFile: null,
      env: {
        DATABASE_URL: database.databaseUrl ?? '',
        DATA_DIR: database.dataDir,
        PORT: '0',
        LOG_LEVEL: 'silent',
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: slack.apiUrl,
        SLACK_APPROVALS_CHANNEL: APPROVALS,
        IMAP_HOST: local.imapHost,
        IMAP_PORT: String(local.imapPort),
        IMAP_USER: mailboxUser,
        IMAP_PASSWORD: local.imapPassword,
        IMAP_TLS: 'false',
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(smtp.port),
        SMTP_TLS: 'false',
        MAIL_FROM: 'Acme Ops <ops@team.example>',
        TEAM_DOMAINS: 'team.example',
        ANTHROPIC_API_KEY: 'sk-ant-two',
        ANTHROPIC_BASE_URL: anthropic.url,
      },
    });
    for (let index = 0; index < 2; index += 1) services.push(await startService(config, { host: '127.0.0.1', jobPollMs: 200, shutdownGraceMs: 500 }));
    await waitUntil('one replica to watch the mailbox', () => services.some((service) => service.watcher?.health().state === 'watching'));
  });

  afterAll(async () => {
    for (const service of services) await service.stop();
    await Promise.all([slack?.close(), anthropic?.close(), smtp?.close()]);
    await database?.drop();
  });

  it('stores, drafts, posts and sends each forward exactly once between them', async () => {
    expect(services.map((service) => service.watcher?.health().state).sort()).toEqual(['standby', 'watching']);
    const count = 4;
    for (let index = 0; index < count; index += 1) {
      await deliver(mailboxUser, FORWARD.replace(/^Message-ID: <([^>]+)>/m, `Message-ID: <two-${index}-$1>`), 'sam@team.example');
    }
    const prisma = services[0]?.database.prisma;
    if (!prisma) throw new Error('no service');
    const drafts = await waitUntil('every draft to be posted', async () => {
      const posted = await prisma.draft.findMany({ where: { slackDraftTs: { not: null } } });
      return posted.length === count ? posted : null;
    }, 40_000);

    // Each draft approved on both replicas at once, twice.
    await Promise.all(
      drafts.flatMap((draft) =>
        services.flatMap((service) =>
          [0, 1].map(() =>
            sendSignedInteraction(`http://127.0.0.1:${service.port}/slack/events`, SIGNING_SECRET, buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: draft.slackDraftTs ?? '', actionId: 'draft_approve', value: draft.id })),
          ),
        ),
      ),
    );
    await waitUntil('every reply to be sent', async () => (await prisma.draft.count({ where: { status: 'sent' } })) === count, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 2000));

    expect(await prisma.email.count()).toBe(count);
    expect(smtp.messages).toHaveLength(count);
    expect(new Set(smtp.messages.map((mail) => mail.parsed.messageId)).size).toBe(count);
    const cards = slack.callsTo('chat.postMessage').filter((call) => !call.args.thread_ts);
    expect(cards).toHaveLength(count);
    expect(anthropic.requests).toHaveLength(count);
    const jobs = await services[0]?.database.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM agenda_jobs WHERE name NOT IN ('pipeline.reconcile', 'memory.embed', 'schedules.tick', 'follow-ups.check')`);
    // remember, refresh contact, draft, post, send: one of each per email (the periodic jobs are one row each, left out)
    expect(jobs?.rows[0]?.n).toBe(count * 5);
  });
});
