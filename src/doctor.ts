import { App } from '@slack/bolt';
import { ImapFlow } from 'imapflow';
import { createAnthropicChatModel } from './brains/anthropic/anthropic-chat-model.ts';
import { createConfiguredEmbedder } from './brains/embedder.ts';
import { createSmtpSender } from './channels/email/smtp-sender.ts';
import { configuredParts, embedderChoice, type Config } from './config.ts';
import { createDatabase } from './db/database.ts';
import { readMigrations } from './db/migrate.ts';
import { errorMessage } from './errors.ts';
import { createLogger } from './logger.ts';
import { connectExternalTools } from './mcp/client/external-tools.ts';
import { DEFAULT_SERVERS_FILE, loadServersFile } from './mcp/client/servers-file.ts';

export interface CheckResult {
  name: string;
  status: 'ok' | 'failed' | 'skipped';
  detail: string;
  /** What to do about a failure. */
  fix?: string;
}

type Check = () => Promise<CheckResult>;

/** Check every configured connection; report unconfigured parts as skipped with the variables to set. */
export async function runDoctor(config: Config, options: { timeoutMs?: number } = {}): Promise<CheckResult[]> {
  const parts = configuredParts(config);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const skipped = (name: string, reason: string | undefined): Check => async () => ({ name, status: 'skipped', detail: `not configured (${reason ?? 'disabled'})` });
  const checks: Check[] = [
    async () => {
      const name = config.DATABASE_URL ? 'database (PostgreSQL)' : `database (embedded PGlite in ${config.DATA_DIR})`;
      try {
        const database = await createDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR });
        try {
          const { rows: vector } = await database.pool.query<{ extversion: string }>("SELECT extversion FROM pg_extension WHERE extname = 'vector'");
          const available = await database.pool.query("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'");
          const migrations = await database.pool
            .query<{ migration_name: string }>('SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL')
            .then((result) => new Set(result.rows.map((row) => row.migration_name)))
            .catch(() => new Set<string>());
          const pending = readMigrations().filter((migration) => !migrations.has(migration.name));
          if (available.rowCount === 0) {
            return { name, status: 'failed', detail: 'the pgvector extension is not installed on this server', fix: 'install pgvector (https://github.com/pgvector/pgvector#installation) or use the pgvector/pgvector Docker image' };
          }
          const detail = `connected; pgvector ${vector[0]?.extversion ?? 'available, created at first start'}; ${pending.length} pending migration(s)`;
          return { name, status: 'ok', detail };
        } finally {
          await database.close();
        }
      } catch (error) {
        return { name, status: 'failed', detail: errorMessage(error), fix: config.DATABASE_URL ? 'check DATABASE_URL and that PostgreSQL is running' : `check that DATA_DIR (${config.DATA_DIR}) is writable and not used by a running Adjutant` };
      }
    },
    parts.slack.enabled && config.SLACK_BOT_TOKEN
      ? async () => {
          const name = 'Slack (auth.test)';
          const app = new App({
            token: config.SLACK_BOT_TOKEN,
            signingSecret: config.SLACK_SIGNING_SECRET ?? 'unused-for-doctor',
            deferInitialization: true,
            clientOptions: { ...(config.SLACK_API_URL ? { slackApiUrl: config.SLACK_API_URL } : {}), retryConfig: { retries: 0 } },
          });
          try {
            const result = await app.client.auth.test();
            let channel = '';
            if (config.SLACK_APPROVALS_CHANNEL) {
              const info = await app.client.conversations.info({ channel: config.SLACK_APPROVALS_CHANNEL }).catch((error: unknown) => ({ error }));
              if ('error' in info && info.error) {
                return { name, status: 'failed', detail: `token works, but the approvals channel ${config.SLACK_APPROVALS_CHANNEL} cannot be read: ${errorMessage(info.error)}`, fix: 'check SLACK_APPROVALS_CHANNEL (a channel ID like C0123…) and invite the bot: /invite @Adjutant' };
              }
              channel = `; approvals channel ${config.SLACK_APPROVALS_CHANNEL} found`;
            }
            return { name, status: 'ok', detail: `bot ${result.user ?? '?'} in ${result.team ?? '?'}${channel}` };
          } catch (error) {
            return { name, status: 'failed', detail: errorMessage(error), fix: 'check SLACK_BOT_TOKEN (xoxb-…) and that the app is installed in the workspace' };
          }
        }
      : skipped('Slack', parts.slack.reason),
    parts.imap.enabled && config.IMAP_HOST
      ? async () => {
          const port = config.IMAP_PORT ?? (config.IMAP_TLS ? 993 : 143);
          const name = `IMAP (${config.IMAP_HOST}:${port})`;
          const client = new ImapFlow({
            host: config.IMAP_HOST,
            port,
            secure: config.IMAP_TLS,
            doSTARTTLS: config.IMAP_TLS ? undefined : false,
            auth: { user: config.IMAP_USER ?? '', pass: config.IMAP_PASSWORD ?? '' },
            logger: false,
            connectionTimeout: timeoutMs,
          } as ConstructorParameters<typeof ImapFlow>[0]);
          client.on('error', () => undefined);
          try {
            await client.connect();
            const status = await client.status(config.IMAP_MAILBOX, { messages: true });
            await client.logout();
            return { name, status: 'ok', detail: `logged in; ${config.IMAP_MAILBOX} has ${status ? (status.messages ?? '?') : '?'} messages` };
          } catch (error) {
            client.close();
            const authFailed = (error as { authenticationFailed?: boolean }).authenticationFailed;
            return {
              name,
              status: 'failed',
              detail: errorMessage(error),
              fix: authFailed ? 'check IMAP_USER and IMAP_PASSWORD (an app password for Gmail/Microsoft 365)' : 'check IMAP_HOST, IMAP_PORT, IMAP_TLS and IMAP_MAILBOX',
            };
          }
        }
      : skipped('IMAP', parts.imap.reason),
    parts.smtp.enabled && config.SMTP_HOST && config.MAIL_FROM
      ? async () => {
          const name = `SMTP (${config.SMTP_HOST})`;
          const sender = createSmtpSender({
            host: config.SMTP_HOST ?? '',
            tls: config.SMTP_TLS,
            from: config.MAIL_FROM ?? '',
            ...(config.SMTP_PORT ? { port: config.SMTP_PORT } : {}),
            ...(config.SMTP_USER ? { user: config.SMTP_USER } : {}),
            ...(config.SMTP_PASSWORD ? { password: config.SMTP_PASSWORD } : {}),
          });
          try {
            await sender.verify();
            return { name, status: 'ok', detail: 'server accepts our connection and login' };
          } catch (error) {
            return { name, status: 'failed', detail: errorMessage(error), fix: 'check SMTP_HOST, SMTP_PORT, SMTP_TLS, SMTP_USER and SMTP_PASSWORD' };
          } finally {
            sender.close();
          }
        }
      : skipped('SMTP', parts.smtp.reason),
    config.OLLAMA_HOST
      ? async () => {
          const name = `Ollama (${config.OLLAMA_HOST})`;
          try {
            const response = await fetch(new URL('/api/tags', config.OLLAMA_HOST), { signal: AbortSignal.timeout(timeoutMs) });
            const body = (await response.json()) as { models?: { name: string }[] };
            const names = new Set((body.models ?? []).flatMap((model) => [model.name, model.name.replace(/:latest$/, '')]));
            const wanted = embedderChoice(config) === 'ollama' ? [config.OLLAMA_MODEL, config.OLLAMA_EMBED_MODEL] : [config.OLLAMA_MODEL];
            const missing = wanted.filter((model) => !names.has(model) && !names.has(`${model}:latest`));
            if (missing.length > 0) return { name, status: 'failed', detail: `models not pulled: ${missing.join(', ')}`, fix: missing.map((model) => `ollama pull ${model}`).join(' && ') };
            return { name, status: 'ok', detail: `${wanted.join(' and ')} available` };
          } catch (error) {
            return { name, status: 'failed', detail: errorMessage(error), fix: 'start Ollama (ollama serve) or fix OLLAMA_HOST (include the port, e.g. http://127.0.0.1:11434)' };
          }
        }
      : skipped('Ollama', parts.ollama.reason),
    embedderChoice(config) !== 'none'
      ? async () => {
          const embedder = createConfiguredEmbedder(config, createLogger({ level: 'silent' }));
          const name = `Embedder (${embedder?.model ?? 'none'})`;
          try {
            const [vector] = (await embedder?.embed(['doctor'])) ?? [];
            return { name, status: 'ok', detail: `embeds text (${vector?.length ?? 0} dimensions)` };
          } catch (error) {
            return { name, status: 'failed', detail: errorMessage(error), fix: embedderChoice(config) === 'builtin' ? 'reinstall the packages (npm ci), or set EMBEDDER=none for full-text search only' : `ollama pull ${config.OLLAMA_EMBED_MODEL}, or set EMBEDDER=builtin` };
          } finally {
            await embedder?.close?.();
          }
        }
      : skipped('Embedder', 'EMBEDDER is none: full-text search only'),
    config.ANTHROPIC_API_KEY
      ? async () => {
          const name = `Anthropic (${config.ANTHROPIC_MODEL})`;
          try {
            const model = createAnthropicChatModel({ apiKey: config.ANTHROPIC_API_KEY ?? '', model: config.ANTHROPIC_MODEL, maxRetries: 0, timeoutMs, ...(config.ANTHROPIC_BASE_URL ? { baseURL: config.ANTHROPIC_BASE_URL } : {}) });
            await model.chat({ system: 'Reply with OK.', messages: [{ role: 'user', content: 'ping' }], maxTokens: 5 });
            return { name, status: 'ok', detail: 'the API answers with this key and model' };
          } catch (error) {
            return { name, status: 'failed', detail: errorMessage(error), fix: 'check ANTHROPIC_API_KEY, ANTHROPIC_MODEL and ANTHROPIC_BASE_URL' };
          }
        }
      : skipped('Anthropic', parts.anthropic.reason),
    // External MCP servers: each one connected, its tools listed with their policy.
    async () => {
      const name = `MCP servers (${config.MCP_SERVERS_FILE ?? DEFAULT_SERVERS_FILE})`;
      let servers;
      try {
        servers = loadServersFile(config.MCP_SERVERS_FILE, { env: process.env });
      } catch (error) {
        return { name, status: 'failed', detail: errorMessage(error), fix: 'correct the file (see the README: Giving the agents other tools)' };
      }
      if (servers.length === 0) return { name, status: 'skipped', detail: 'no external MCP servers configured' };
      const tools = connectExternalTools(servers, { logger: createLogger({ level: 'silent' }), connectTimeoutMs: timeoutMs });
      try {
        const deadline = Date.now() + timeoutMs + 500;
        while (tools.status().some((server) => server.state === 'connecting') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
        const lines = tools.status().map((server) => {
          if (server.state !== 'connected') return `${server.name}: ${server.state}${server.problem ? ` (${server.problem})` : ''}`;
          const own = tools.list().filter((tool) => tool.server === server.name);
          return `${server.name}: ${own.map((tool) => `${tool.tool} (${tool.policy})`).join(', ') || 'no tools'}`;
        });
        const down = tools.status().filter((server) => server.state !== 'connected');
        if (down.length > 0) return { name, status: 'failed', detail: lines.join('; '), fix: `start or fix ${down.map((server) => server.name).join(', ')} (its command, URL or headers in the servers file)` };
        return { name, status: 'ok', detail: lines.join('; ') };
      } finally {
        await tools.close();
      }
    },
  ];
  const results: CheckResult[] = [];
  // One at a time: the embedded database cannot be opened twice, and the output reads in order.
  for (const check of checks) results.push(await check());
  return results;
}

export function formatDoctor(results: CheckResult[]): string {
  const mark = { ok: '✔', failed: '✘', skipped: '–' } as const;
  const lines = results.map((result) => {
    const line = `${mark[result.status]} ${result.name}: ${result.detail}`;
    return result.fix ? `${line}\n    fix: ${result.fix}` : line;
  });
  const failed = results.filter((result) => result.status === 'failed').length;
  lines.push('', failed === 0 ? 'All configured connections work.' : `${failed} check(s) failed.`);
  return lines.join('\n');
}
