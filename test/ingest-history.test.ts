import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { startService } from '../src/main.ts';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { startSlackFake, type SlackFake } from './fakes/slack-fake.ts';
import { runCli } from './support/cli.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
import { waitUntil } from './support/wait.ts';

/**
 * `adjutant ingest` loads history: an mbox (with mboxrd quoting), a Maildir and .eml files, each
 * message stored once, remembered, and never drafted or posted, even a teammate's forward.
 */
const fixture = (name: string) => readFileSync(new URL(`./fixtures/email/${name}`, import.meta.url), 'utf8');
const message = (id: string, subject: string, body: string) =>
  `From: Dana Client <dana@client.example>\r\nTo: ops@team.example\r\nSubject: ${subject}\r\nMessage-ID: <${id}@client.example>\r\nDate: Mon, 6 Jan 2025 10:00:00 +0000\r\n\r\n${body}\r\n`;

async function run(args: string[], env: Record<string, string>) {
  const proc = runCli(args, env);
  const code = await proc.exited;
  return { code, ...proc.output() };
}

describe('adjutant ingest', () => {
  let database: TestDatabase;
  let directory: string;
  let slack: SlackFake;
  let anthropic: AnthropicFake;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    directory = mkdtempSync(join(tmpdir(), 'adjutant-ingest-'));
    // An mbox: a ">From " line in a body is stored quoted and read back unquoted; a duplicate Message-ID.
    const mbox = [
      `From dana@client.example Mon Jan  6 10:00:00 2025\n${message('one', 'Chairs', 'The chairs arrived.\n>From the warehouse, with love.')}`,
      `From dana@client.example Mon Jan  6 11:00:00 2025\n${message('two', 'Tables', 'Tables next week.')}`,
      `From dana@client.example Mon Jan  6 12:00:00 2025\n${message('one', 'Chairs', 'The chairs arrived.')}`,
      `From sam@team.example Mon Jan  6 13:00:00 2025\n${fixture('gmail-forward.eml')}`,
    ].join('\n');
    writeFileSync(join(directory, 'archive.mbox'), mbox);
    const maildir = join(directory, 'Maildir');
    for (const folder of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, folder), { recursive: true });
    writeFileSync(join(maildir, 'cur', '1700000000.1.host:2,S'), message('three', 'Lamps', 'Lamps are fine.'));
    writeFileSync(join(maildir, 'new', '1700000001.2.host'), message('four', 'Rugs', 'Rugs too.'));
    writeFileSync(join(directory, 'single.eml'), message('five', 'Desks', 'Desks on Friday.'));
    writeFileSync(join(directory, 'empty.eml'), '');
    slack = await startSlackFake({ botToken: 'xoxb-ingest' });
    anthropic = await startAnthropicFake({ apiKey: 'sk-ant-ingest', respond: () => 'a draft nobody asked for' });
  });

  afterAll(async () => {
    await Promise.all([slack?.close(), anthropic?.close()]);
    await database?.drop();
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it('stores each message once with progress, reports what it could not read, and never drafts for old mail', async () => {
    const env = { DATABASE_URL: database.databaseUrl ?? '', TEAM_DOMAINS: 'team.example', LOG_LEVEL: 'error' };
    const paths = [join(directory, 'archive.mbox'), join(directory, 'Maildir'), join(directory, 'single.eml'), join(directory, 'empty.eml')];
    const first = await run(['ingest', ...paths], env);
    expect(first.stdout).toContain('Read 8 message(s)');
    expect(first.stdout).toContain('6 stored, 1 already there, 1 failed');
    expect(first.stdout).toContain('empty.eml');
    expect(first.stderr).toContain('8/8');
    expect(first.code).toBe(1);

    const again = await run(['ingest', join(directory, 'archive.mbox')], env);
    expect(again.stdout).toContain('0 stored, 4 already there, 0 failed');
    expect(again.code).toBe(0);

    // The service then remembers them all and drafts nothing, not even for the teammate's forward.
    const service = await startService(
      loadConfig({
        envFile: null,
        env: {
          ...env,
          DATA_DIR: database.dataDir,
          PORT: '0',
          SLACK_BOT_TOKEN: 'xoxb-ingest',
          SLACK_SIGNING_SECRET: 'ingest-secret',
          SLACK_API_URL: slack.apiUrl,
          SLACK_APPROVALS_CHANNEL: 'C0APPROVALS',
          ANTHROPIC_API_KEY: 'sk-ant-ingest',
          ANTHROPIC_BASE_URL: anthropic.url,
        },
      }),
      { host: '127.0.0.1', jobPollMs: 200, shutdownGraceMs: 500 },
    );
    try {
      const emails = await service.database.prisma.email.findMany({ orderBy: { messageId: 'asc' } });
      expect(emails).toHaveLength(6);
      const chairs = emails.find((email) => email.messageId === '<one@client.example>');
      // Written as ">From" by the mbox writer (mboxrd), read back as the sender wrote it.
      expect(chairs?.text).toMatch(/^From the warehouse, with love\./m);
      expect(emails.some((email) => email.isForward)).toBe(true);
      await waitUntil('every email to be remembered', async () => (await service.database.prisma.memoryItem.count()) === 6, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await service.database.prisma.draft.count()).toBe(0);
      expect(anthropic.requests).toHaveLength(0);
      expect(slack.callsTo('chat.postMessage')).toHaveLength(0);
    } finally {
      await service.stop();
    }
  });
});
