import { existsSync, readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import { AdjutantError } from './errors.ts';

/**
 * The environment contract from PRODUCT.md, parsed once at start-up. Tools outside the repo
 * drive the product through these names: never rename one.
 */
const emptyToUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const optionalString = z.preprocess(emptyToUndefined, z.string().trim().optional());
const optionalUrl = (form: string) =>
  z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/, error: `expected ${form}` }).optional());
const portNumber = z.coerce
  .number({ error: 'expected a port number (1-65535)' })
  .int({ error: 'expected a port number (1-65535)' })
  .min(1, { error: 'expected a port number (1-65535)' })
  .max(65535, { error: 'expected a port number (1-65535)' });
const optionalPort = z.preprocess(emptyToUndefined, portNumber.optional());
const booleanFlag = (fallback: boolean) =>
  z.preprocess(
    emptyToUndefined,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' })
      .default(fallback ? 'true' : 'false')
      .transform((value) => value === 'true' || value === '1' || value === 'yes'),
  );
const commaList = <T extends z.ZodType<string>>(item: T) =>
  z.preprocess(
    (value) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((part) => part.trim())
            .filter((part) => part !== '')
        : (value ?? []),
    z.array(item),
  );
const slackChannelId = z.preprocess(
  emptyToUndefined,
  z
    .string()
    .regex(/^[CGD][A-Z0-9]{2,}$/, { error: 'expected a Slack channel ID such as C0123456789 (not a #name)' })
    .optional(),
);

export const configSchema = z.object({
  DATABASE_URL: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, { error: 'expected a PostgreSQL URL: postgresql://user:password@host:5432/database' })
      .optional(),
  ),
  DATA_DIR: z.preprocess(emptyToUndefined, z.string().default('./data')),
  // 0 asks the OS for a free port (tests).
  PORT: z.preprocess(emptyToUndefined, z.coerce.number({ error: 'expected a port number (0-65535)' }).int({ error: 'expected a port number (0-65535)' }).min(0, { error: 'expected a port number (0-65535)' }).max(65535, { error: 'expected a port number (0-65535)' }).default(3000)),

  SLACK_BOT_TOKEN: z.preprocess(
    emptyToUndefined,
    z.string().startsWith('xoxb-', { error: 'expected a bot token starting with xoxb-' }).optional(),
  ),
  SLACK_SIGNING_SECRET: optionalString,
  SLACK_APP_TOKEN: z.preprocess(
    emptyToUndefined,
    z.string().startsWith('xapp-', { error: 'expected an app-level token starting with xapp-' }).optional(),
  ),
  SLACK_API_URL: optionalUrl('a URL such as https://slack.com/api/'),
  SLACK_APPROVALS_CHANNEL: slackChannelId,
  SLACK_BRIEFING_CHANNEL: slackChannelId,
  // Channels whose messages become memory: all (every channel the bot is in), none, or channel IDs.
  SLACK_MEMORY_CHANNELS: z.preprocess(
    (value) => {
      const text = typeof value === 'string' ? value.trim() : '';
      if (text === '' || text.toLowerCase() === 'all') return 'all';
      if (text.toLowerCase() === 'none') return 'none';
      return text.split(',').map((part) => part.trim()).filter((part) => part !== '');
    },
    z.union([z.literal('all'), z.literal('none'), z.array(z.string().regex(/^[CG][A-Z0-9]{2,}$/, { error: 'expected all, none, or Slack channel IDs such as C0123456789, comma-separated' }))]),
  ),
  SLACK_APPROVERS: commaList(z.string().regex(/^[UW][A-Z0-9]{2,}$/, { error: 'expected Slack user IDs such as U0123456789, comma-separated' })),

  IMAP_HOST: optionalString,
  IMAP_PORT: optionalPort,
  IMAP_USER: optionalString,
  IMAP_PASSWORD: optionalString,
  IMAP_TLS: booleanFlag(true),
  IMAP_MAILBOX: z.preprocess(emptyToUndefined, z.string().default('INBOX')),

  SMTP_HOST: optionalString,
  SMTP_PORT: optionalPort,
  SMTP_USER: optionalString,
  SMTP_PASSWORD: optionalString,
  SMTP_TLS: booleanFlag(true),
  MAIL_FROM: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^(?:[^<>]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/, {
        error: 'expected an address such as ops@example.com or "Ops <ops@example.com>"',
      })
      .optional(),
  ),

  TEAM_DOMAINS: commaList(
    z
      .string()
      .toLowerCase()
      .regex(/^[a-z0-9.-]+\.[a-z]{2,}$/, { error: 'expected domains such as example.com, comma-separated' }),
  ),
  // Whose Authentication-Results header decides whether a sender is verified (RFC 8601's
  // authserv-id, usually the receiving server's host name). Unset: the topmost header.
  MAIL_AUTHSERV_ID: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .trim()
      .toLowerCase()
      .max(253, { error: "expected the receiving mail server's authserv-id, a host name such as mx.example.com" })
      .regex(/^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)*$/, {
        error: "expected the receiving mail server's authserv-id, a host name such as mx.example.com",
      })
      .optional(),
  ),

  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalUrl('a URL such as https://api.anthropic.com'),
  ANTHROPIC_MODEL: z.preprocess(emptyToUndefined, z.string().default('claude-sonnet-5-5')),

  OLLAMA_HOST: optionalUrl('a URL such as http://127.0.0.1:11434'),
  OLLAMA_MODEL: z.preprocess(emptyToUndefined, z.string().default('llama3.1:8b')),
  OLLAMA_EMBED_MODEL: z.preprocess(emptyToUndefined, z.string().default('nomic-embed-text')),
  // builtin: a sentence encoder inside the process (no server); unset: ollama when OLLAMA_HOST is set, else builtin.
  EMBEDDER: z.preprocess(
    (value) => (typeof value === 'string' ? emptyToUndefined(value.trim().toLowerCase()) : value),
    z.enum(['builtin', 'ollama', 'none'], { error: 'expected builtin, ollama or none' }).optional(),
  ),

  LLM_WEEKLY_BUDGET_USD: z.preprocess(
    emptyToUndefined,
    z.coerce.number({ error: 'expected a number of US dollars such as 25' }).nonnegative({ error: 'expected a number of US dollars such as 25' }).default(25),
  ),

  BRIEFING_CRON: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^\S+(\s+\S+){4,5}$/, { error: 'expected a cron expression with 5 fields such as "0 8 * * 1-5"' })
      .default('0 8 * * 1-5'),
  ),
  BRIEFING_TIMEZONE: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .refine(isTimeZone, { error: 'expected an IANA time zone such as Europe/Berlin or UTC' })
      .default('UTC'),
  ),

  // Days a sent reply may go unanswered before it is raised in its card's thread; 0 turns it off.
  FOLLOW_UP_AFTER_DAYS: z.preprocess(
    emptyToUndefined,
    z.coerce.number({ error: 'expected a whole number of days such as 3 (0 turns follow-ups off)' }).int({ error: 'expected a whole number of days such as 3 (0 turns follow-ups off)' }).min(0, { error: 'expected a whole number of days such as 3 (0 turns follow-ups off)' }).max(365, { error: 'expected at most 365 days' }).default(3),
  ),

  // External MCP servers our agents may use, and each tool's policy (read / write); unset: mcp-servers.json in the working directory, if there is one.
  MCP_SERVERS_FILE: z.preprocess(emptyToUndefined, z.string().optional()),
  MCP_TOKEN: z.preprocess((value) => emptyToUndefined(typeof value === 'string' ? value.trim() : value), z.string().min(16, { error: 'expected at least 16 characters' }).optional()),
  LOG_LEVEL: z.preprocess(
    emptyToUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'expected one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
  ),
});

export type Config = z.infer<typeof configSchema>;

/** EMBEDDER with its default applied. */
export function embedderChoice(config: Pick<Config, 'EMBEDDER' | 'OLLAMA_HOST'>): 'builtin' | 'ollama' | 'none' {
  return config.EMBEDDER ?? (config.OLLAMA_HOST ? 'ollama' : 'builtin');
}

/** Whether `zone` is an IANA time zone this runtime knows (Europe/Berlin, UTC). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Parse the environment. `.env` in the working directory fills in what the real environment
 * does not set (the real environment wins, as with dotenv's defaults).
 */
export function loadConfig(options: { env?: NodeJS.ProcessEnv; envFile?: string | null } = {}): Config {
  const env = { ...readEnvFile(options.envFile === undefined ? '.env' : options.envFile), ...(options.env ?? process.env) };
  const result = configSchema
    .refine((config) => config.EMBEDDER !== 'ollama' || config.OLLAMA_HOST !== undefined, { path: ['EMBEDDER'], error: 'ollama needs OLLAMA_HOST (or choose builtin or none)' })
    .safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? 'environment');
      return `  ${variable}: ${issue.message}`;
    });
    throw new AdjutantError('CONFIG_INVALID', `Invalid configuration:\n${lines.join('\n')}\nFix these variables in the environment or .env (see .env.example).`);
  }
  return result.data;
}

function readEnvFile(path: string | null): Record<string, string> {
  if (path === null || !existsSync(path)) return {};
  return parseDotenv(readFileSync(path));
}

/** A part of the service, and whether the configuration lets it run. */
export interface PartStatus {
  enabled: boolean;
  /** When disabled: which variables are missing. */
  reason?: string;
}

function requireAll(config: Config, names: (keyof Config)[]): PartStatus {
  const missing = names.filter((name) => config[name] === undefined);
  return missing.length === 0 ? { enabled: true } : { enabled: false, reason: `set ${missing.join(', ')}` };
}

/** What is configured. Used for the start-up summary, /healthz and doctor. */
export function configuredParts(config: Config) {
  return {
    database: { enabled: true, reason: config.DATABASE_URL ? undefined : `embedded PGlite in ${config.DATA_DIR}` } as PartStatus,
    slack: requireAll(config, config.SLACK_APP_TOKEN ? ['SLACK_BOT_TOKEN'] : ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET']),
    approvals: requireAll(config, ['SLACK_BOT_TOKEN', 'SLACK_APPROVALS_CHANNEL']),
    imap: requireAll(config, ['IMAP_HOST', 'IMAP_USER', 'IMAP_PASSWORD']),
    smtp: requireAll(config, ['SMTP_HOST', 'MAIL_FROM']),
    anthropic: requireAll(config, ['ANTHROPIC_API_KEY']),
    ollama: requireAll(config, ['OLLAMA_HOST']),
    // The MCP server is a later issue; until it exists, say so rather than claim it is enabled.
    // /mcp over HTTP needs the token; `adjutant mcp` (stdio) does not.
    mcp: requireAll(config, ['MCP_TOKEN']),
  };
}

export type ConfiguredParts = ReturnType<typeof configuredParts>;
