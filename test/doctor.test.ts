import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { formatDoctor, runDoctor } from '../src/doctor.ts';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { startOllamaFake, type OllamaFake } from './fakes/ollama-fake.ts';
import { startSlackFake, type SlackFake } from './fakes/slack-fake.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
import { freshMailboxUser } from './support/mailbox.ts';
import { testServices } from './support/services.ts';
import { startSmtpCapture } from './support/smtp-capture.ts';

describe('adjutant doctor', () => {
  let database: TestDatabase;
  let slack: SlackFake;
  let anthropic: AnthropicFake;
  let ollama: OllamaFake;
  let smtp: Awaited<ReturnType<typeof startSmtpCapture>>;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    slack = await startSlackFake({ botToken: 'xoxb-doctor' });
    anthropic = await startAnthropicFake({ apiKey: 'sk-ant-doctor' });
    ollama = await startOllamaFake({ models: ['llama3.1:8b'] }); // the embedding model is not pulled
    smtp = await startSmtpCapture();
  });
  afterAll(async () => {
    await Promise.all([slack?.close(), anthropic?.close(), ollama?.close(), smtp?.close()]);
    await database?.drop();
  });

  function config(overrides: Record<string, string>) {
    const services = testServices();
    return loadConfig({
      envFile: null,
      env: {
        DATABASE_URL: database.databaseUrl ?? '',
        SLACK_BOT_TOKEN: 'xoxb-doctor',
        SLACK_SIGNING_SECRET: 'secret',
        SLACK_API_URL: slack.apiUrl,
        SLACK_APPROVALS_CHANNEL: 'C0APPROVALS',
        IMAP_HOST: services.imapHost,
        IMAP_PORT: String(services.imapPort),
        IMAP_USER: freshMailboxUser('doctor'),
        IMAP_PASSWORD: services.imapPassword,
        IMAP_TLS: 'false',
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(smtp.port),
        SMTP_TLS: 'false',
        MAIL_FROM: 'ops@team.example',
        ANTHROPIC_API_KEY: 'sk-ant-doctor',
        ANTHROPIC_BASE_URL: anthropic.url,
        OLLAMA_HOST: ollama.url,
        ...overrides,
      },
    });
  }

  it('checks every configured connection and says what to fix', async () => {
    const results = await runDoctor(config({}), { timeoutMs: 5000 });
    const byName = (prefix: string) => results.find((result) => result.name.startsWith(prefix));

    expect(byName('database')).toMatchObject({ status: 'ok' });
    // A fresh database has every migration in prisma/migrations pending.
    const migrations = readdirSync('prisma/migrations', { withFileTypes: true }).filter((entry) => entry.isDirectory()).length;
    expect(byName('database')?.detail).toContain(`${migrations} pending migration`);
    expect(byName('Slack')).toMatchObject({ status: 'ok' });
    expect(slack.callsTo('auth.test')).toHaveLength(1);
    expect(byName('IMAP')).toMatchObject({ status: 'ok' });
    expect(byName('SMTP')).toMatchObject({ status: 'ok' });
    expect(byName('Anthropic')).toMatchObject({ status: 'ok' });
    expect(byName('Ollama')).toMatchObject({ status: 'failed', fix: 'ollama pull nomic-embed-text' });
    // With OLLAMA_HOST set, EMBEDDER defaults to ollama: the missing model is also the embedder's failure.
    expect(byName('Embedder')).toMatchObject({ status: 'failed', fix: 'ollama pull nomic-embed-text, or set EMBEDDER=builtin' });

    const text = formatDoctor(results);
    expect(text).toContain('✘ Ollama');
    expect(text).toContain('fix: ollama pull nomic-embed-text');
    expect(text).toContain('2 check(s) failed.');
  });

  it('names the fix for wrong credentials and unreachable servers, and skips what is not configured', async () => {
    const results = await runDoctor(
      config({ IMAP_PASSWORD: 'wrong', SLACK_BOT_TOKEN: 'xoxb-wrong', SMTP_PORT: '1', ANTHROPIC_API_KEY: 'sk-ant-wrong', OLLAMA_HOST: '' }),
      { timeoutMs: 5000 },
    );
    const byName = (prefix: string) => results.find((result) => result.name.startsWith(prefix));
    expect(byName('IMAP')).toMatchObject({ status: 'failed' });
    expect(byName('IMAP')?.fix).toContain('IMAP_PASSWORD');
    expect(byName('Slack')).toMatchObject({ status: 'failed' });
    expect(byName('Slack')?.detail).toContain('invalid_auth');
    expect(byName('Slack')?.fix).toContain('SLACK_BOT_TOKEN');
    expect(byName('SMTP')).toMatchObject({ status: 'failed' });
    expect(byName('SMTP')?.fix).toContain('SMTP_HOST');
    expect(byName('Anthropic')).toMatchObject({ status: 'failed' });
    expect(byName('Anthropic')?.detail).toContain('ANTHROPIC_API_KEY');
    expect(byName('Ollama')).toMatchObject({ status: 'skipped' });
    expect(byName('Ollama')?.detail).toContain('OLLAMA_HOST');
    // Without Ollama the built-in embedder is used, and it works here with no network.
    expect(byName('Embedder')).toMatchObject({ status: 'ok', name: 'Embedder (builtin:use-lite)', detail: 'embeds text (512 dimensions)' });
  });

  it('connects to each external MCP server and lists its tools with their policy, or says which is down', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'adjutant-doctor-mcp-'));
    const file = join(dir, 'servers.json');
    const helpdesk = { command: process.execPath, args: [new URL('./fakes/mcp-tools-server.mjs', import.meta.url).pathname], tools: { lookup_order: 'read' } };
    writeFileSync(file, JSON.stringify({ mcpServers: { helpdesk } }));
    const healthy = (await runDoctor(config({ MCP_SERVERS_FILE: file, OLLAMA_HOST: '', EMBEDDER: 'none' }), { timeoutMs: 5000 })).find((result) => result.name.startsWith('MCP servers'));
    expect(healthy).toMatchObject({ status: 'ok', detail: 'helpdesk: lookup_order (read), create_ticket (write), crash (write)' });

    writeFileSync(file, JSON.stringify({ mcpServers: { helpdesk, calendar: { command: process.execPath, args: ['-e', 'process.stderr.write("no calendar token\\n"); process.exit(1)'] } } }));
    const broken = (await runDoctor(config({ MCP_SERVERS_FILE: file, OLLAMA_HOST: '', EMBEDDER: 'none' }), { timeoutMs: 5000 })).find((result) => result.name.startsWith('MCP servers'));
    expect(broken).toMatchObject({ status: 'failed', fix: expect.stringContaining('start or fix calendar') });
    expect(broken?.detail).toContain('calendar: unavailable (could not connect');
    expect(broken?.detail).toContain('no calendar token');

    const missing = (await runDoctor(config({ MCP_SERVERS_FILE: join(dir, 'missing.json'), OLLAMA_HOST: '', EMBEDDER: 'none' }), { timeoutMs: 5000 })).find((result) => result.name.startsWith('MCP servers'));
    expect(missing).toMatchObject({ status: 'failed', detail: expect.stringContaining('cannot be read') });
  });
});
