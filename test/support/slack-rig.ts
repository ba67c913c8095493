import { loadConfig } from '../../src/config.ts';
import { startService, type Service } from '../../src/main.ts';
import { startSlackFake, type SlackFake, type SlackFakeOptions } from '../fakes/slack-fake.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './databases.ts';
import { freshMailboxUser } from './mailbox.ts';
import { databaseEnv, imapEnv, slackEnv, smtpEnv } from './service-env.ts';
import { startSmtpCapture } from './smtp-capture.ts';
import { waitUntil } from './wait.ts';

/**
 * The whole service as Slack and a mailbox see it, for tests that drive it end to end: its own
 * database, the Slack Web API fake, a fresh Dovecot mailbox, an SMTP capture, and the service
 * listening for signed Slack requests at `url`.
 */
export interface SlackRig {
  database: TestDatabase;
  slack: SlackFake;
  smtp: Awaited<ReturnType<typeof startSmtpCapture>>;
  service: Service;
  mailboxUser: string;
  /** Where signed Slack requests go. */
  url: string;
}

export async function startSlackRig(options: {
  /** The mailbox user's prefix. */
  name: string;
  database?: DatabaseKind;
  slack: { botToken: string; signingSecret: string; approvalsChannel: string } & Omit<SlackFakeOptions, 'botToken'>;
  /** More of the service's configuration (a model, SLACK_APPROVERS…). */
  env?: Record<string, string>;
  /** false: start without waiting for the mailbox watcher (a test of a failing mailbox). */
  waitForWatcher?: boolean;
}): Promise<SlackRig> {
  const { botToken, signingSecret, approvalsChannel, ...fake } = options.slack;
  const database = await createTestDatabase(options.database ?? 'postgres');
  const slack = await startSlackFake({ botToken, ...fake });
  const smtp = await startSmtpCapture();
  const mailboxUser = freshMailboxUser(options.name);
  const config = loadConfig({
    envFile: null,
    env: {
      ...databaseEnv(database),
      ...slackEnv({ botToken, signingSecret, apiUrl: slack.apiUrl, approvalsChannel }),
      ...imapEnv(mailboxUser),
      ...smtpEnv(smtp.port),
      MAIL_FROM: 'Acme Ops <ops@team.example>',
      TEAM_DOMAINS: 'team.example',
      EMBEDDER: 'none',
      ...options.env,
    },
  });
  const service = await startService(config, { host: '127.0.0.1', jobPollMs: 200, shutdownGraceMs: 1000 });
  if (options.waitForWatcher !== false) await waitUntil('the watcher to watch the mailbox', () => service.watcher?.health().state === 'watching');
  return { database, slack, smtp, service, mailboxUser, url: `http://127.0.0.1:${service.port}/slack/events` };
}

export async function stopSlackRig(rig: SlackRig | undefined): Promise<void> {
  await rig?.service.stop();
  await Promise.all([rig?.slack.close(), rig?.smtp.close()]);
  await rig?.database.drop();
}
