import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

/**
 * Paths whose values never reach a log line. Config objects and SDK errors tend to carry
 * tokens in these fields; pino replaces them before serialisation.
 */
const REDACTED_PATHS = [
  '*.password',
  '*.token',
  '*.apiKey',
  '*.authorization',
  '*.Authorization',
  '*.SLACK_BOT_TOKEN',
  '*.SLACK_APP_TOKEN',
  '*.SLACK_SIGNING_SECRET',
  '*.IMAP_PASSWORD',
  '*.SMTP_PASSWORD',
  '*.ANTHROPIC_API_KEY',
  '*.MCP_TOKEN',
  '*.DATABASE_URL',
  'password',
  'token',
  'apiKey',
  'headers.authorization',
  'config.headers.Authorization',
];

/** Secret-looking substrings (Slack tokens, Anthropic keys, URL passwords) inside free text. */
const SECRET_PATTERNS: RegExp[] = [
  /xox[abposr]-[A-Za-z0-9-]+/g,
  /xapp-[A-Za-z0-9-]+/g,
  /sk-ant-[A-Za-z0-9_-]+/g,
  /(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]+@/g,
];

export function redactText(text: string): string {
  let result = text;
  for (const pattern of SECRET_PATTERNS) {
    result = result.replace(pattern, (match, prefix: unknown) =>
      typeof prefix === 'string' ? `${prefix}[REDACTED]@` : '[REDACTED]',
    );
  }
  return result;
}

export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'adjutant' },
      redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
      hooks: {
        // Free-text messages can quote a token (an SDK error echoing a header, say).
        logMethod(args, method) {
          const redacted = args.map((arg) => (typeof arg === 'string' ? redactText(arg) : arg));
          method.apply(this, redacted as Parameters<typeof method>);
        },
      },
      serializers: {
        err: (error: unknown) => {
          const serialized = pino.stdSerializers.err(error as Error);
          if (typeof serialized.message === 'string') serialized.message = redactText(serialized.message);
          if (typeof serialized.stack === 'string') serialized.stack = redactText(serialized.stack);
          return serialized;
        },
      },
    },
    options.destination,
  );
}
