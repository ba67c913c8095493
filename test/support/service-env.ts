import type { TestDatabase } from './databases.ts';
import { testServices } from './services.ts';

/**
 * The configuration a test gives the running service, in the contract's own variables, by part:
 * tests spread the parts they use and add what is particular to them.
 */

/** The test database, any free port, quiet logs. */
export function databaseEnv(database: TestDatabase): Record<string, string> {
  return { ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}), DATA_DIR: database.dataDir, PORT: '0', LOG_LEVEL: 'error' };
}

/** Slack in HTTP mode against the Web API fake, with the approvals channel. */
export function slackEnv(input: { botToken: string; signingSecret: string; apiUrl: string; approvalsChannel: string }): Record<string, string> {
  return { SLACK_BOT_TOKEN: input.botToken, SLACK_SIGNING_SECRET: input.signingSecret, SLACK_API_URL: input.apiUrl, SLACK_APPROVALS_CHANNEL: input.approvalsChannel };
}

/** The test mail server's mailbox for `user`, without TLS. */
export function imapEnv(user: string): Record<string, string> {
  const services = testServices();
  return { IMAP_HOST: services.imapHost, IMAP_PORT: String(services.imapPort), IMAP_USER: user, IMAP_PASSWORD: services.imapPassword, IMAP_TLS: 'false' };
}

/** A captured SMTP server on this machine, without TLS. */
export function smtpEnv(port: number): Record<string, string> {
  return { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(port), SMTP_TLS: 'false' };
}
