import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configuredParts, embedderChoice, loadConfig } from '../src/config.ts';
import { AdjutantError } from '../src/errors.ts';

function configError(env: Record<string, string>): AdjutantError {
  try {
    loadConfig({ env, envFile: null });
  } catch (error) {
    if (error instanceof AdjutantError) return error;
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('configuration', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = loadConfig({ env: {}, envFile: null });
    expect(config.DATA_DIR).toBe('./data');
    expect(config.PORT).toBe(3000);
    expect(config.IMAP_MAILBOX).toBe('INBOX');
    expect(config.BRIEFING_CRON).toBe('0 8 * * 1-5');
    expect(config.BRIEFING_TIMEZONE).toBe('UTC');
    expect(config.FOLLOW_UP_AFTER_DAYS).toBe(3);
    expect(config.LOG_LEVEL).toBe('info');
    expect(config.TEAM_DOMAINS).toEqual([]);
    expect(config.SLACK_APPROVERS).toEqual([]);
  });

  it('chooses the embedder: ollama when OLLAMA_HOST is set, else the built-in one, unless EMBEDDER says otherwise', () => {
    expect(embedderChoice(loadConfig({ env: {}, envFile: null }))).toBe('builtin');
    expect(embedderChoice(loadConfig({ env: { OLLAMA_HOST: 'http://127.0.0.1:11434' }, envFile: null }))).toBe('ollama');
    expect(embedderChoice(loadConfig({ env: { OLLAMA_HOST: 'http://127.0.0.1:11434', EMBEDDER: 'Builtin' }, envFile: null }))).toBe('builtin');
    expect(embedderChoice(loadConfig({ env: { EMBEDDER: 'none' }, envFile: null }))).toBe('none');
    expect(loadConfig({ env: {}, envFile: null }).SLACK_MEMORY_CHANNELS).toBe('all');
    expect(loadConfig({ env: { SLACK_MEMORY_CHANNELS: 'none' }, envFile: null }).SLACK_MEMORY_CHANNELS).toBe('none');
    expect(loadConfig({ env: { SLACK_MEMORY_CHANNELS: 'C012ABC, G0FINANCE' }, envFile: null }).SLACK_MEMORY_CHANNELS).toEqual(['C012ABC', 'G0FINANCE']);
  });

  it.each([
    ['PORT', 'eighty', 'port number'],
    ['IMAP_PORT', '99999', 'port number'],
    ['DATABASE_URL', 'mysql://localhost/db', 'PostgreSQL URL'],
    ['SLACK_BOT_TOKEN', 'xoxp-user-token', 'xoxb-'],
    ['SLACK_APPROVALS_CHANNEL', '#approvals', 'channel ID'],
    ['SLACK_APPROVERS', 'U012ABC, alice', 'user IDs'],
    ['IMAP_TLS', 'maybe', 'true or false'],
    ['TEAM_DOMAINS', 'team.example, not a domain', 'domains'],
    ['MAIL_AUTHSERV_ID', 'mx.example.com; dmarc=pass', 'authserv-id, a host name such as mx.example.com'],
    ['EMBEDDER', 'openai', 'builtin, ollama or none'],
    ['EMBEDDER', 'ollama', 'ollama needs OLLAMA_HOST'],
    ['SLACK_MEMORY_CHANNELS', 'C012ABC, #general', 'all, none, or Slack channel IDs'],
    ['MAIL_AUTHSERV_ID', 'mx..example.com', 'authserv-id'],
    ['LLM_WEEKLY_BUDGET_USD', '-5', 'US dollars'],
    ['BRIEFING_TIMEZONE', 'Mars/Olympus', 'IANA time zone'],
    ['BRIEFING_CRON', 'every morning', 'cron expression'],
    ['FOLLOW_UP_AFTER_DAYS', '2.5', 'whole number of days'],
    ['FOLLOW_UP_AFTER_DAYS', '-1', '0 turns follow-ups off'],
    ['MAIL_FROM', 'not an address', 'address'],
    ['OLLAMA_HOST', 'localhost:11434', 'URL'],
    ['LOG_LEVEL', 'loud', 'one of'],
  ])('rejects %s=%j with a message naming the variable and the expected form', (variable, value, form) => {
    const error = configError({ [variable]: value });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(`${variable}:`);
    expect(error.message).toContain(form);
  });

  it('reads MAIL_AUTHSERV_ID as a lower-cased host name; unset means the topmost header counts', () => {
    expect(loadConfig({ env: { MAIL_AUTHSERV_ID: ' MX.Team.Example ' }, envFile: null }).MAIL_AUTHSERV_ID).toBe('mx.team.example');
    expect(loadConfig({ env: { MAIL_AUTHSERV_ID: '' }, envFile: null }).MAIL_AUTHSERV_ID).toBeUndefined();
  });

  it('names every bad variable at once', () => {
    const error = configError({ PORT: 'x', SMTP_PORT: 'y' });
    expect(error.message).toContain('PORT:');
    expect(error.message).toContain('SMTP_PORT:');
  });

  it('reads .env, with the real environment taking precedence', () => {
    const directory = mkdtempSync(join(tmpdir(), 'adjutant-config-'));
    const file = join(directory, '.env');
    writeFileSync(file, 'PORT=4100\nTEAM_DOMAINS=Team.Example,ops.example\nLOG_LEVEL=debug\n');
    const config = loadConfig({ env: { LOG_LEVEL: 'warn' }, envFile: file });
    expect(config.PORT).toBe(4100);
    expect(config.TEAM_DOMAINS).toEqual(['team.example', 'ops.example']);
    expect(config.LOG_LEVEL).toBe('warn');
  });

  it('reports parts that are not configured as disabled, naming what to set', () => {
    const parts = configuredParts(loadConfig({ env: { IMAP_HOST: 'imap.example.com', SLACK_BOT_TOKEN: 'xoxb-1' }, envFile: null }));
    expect(parts.imap).toEqual({ enabled: false, reason: 'set IMAP_USER, IMAP_PASSWORD' });
    expect(parts.slack).toEqual({ enabled: false, reason: 'set SLACK_SIGNING_SECRET' });
    expect(parts.smtp.enabled).toBe(false);
    expect(parts.anthropic).toEqual({ enabled: false, reason: 'set ANTHROPIC_API_KEY' });
    expect(parts.database).toEqual({ enabled: true, reason: 'embedded PGlite in ./data' });
  });

  it('needs no signing secret in Socket Mode', () => {
    const parts = configuredParts(loadConfig({ env: { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' }, envFile: null }));
    expect(parts.slack.enabled).toBe(true);
  });
});
