/**
 * One error type for the whole service. A `code` lets callers branch without string
 * matching, `retryable` is decided here once (jobs use it for backoff), and the message
 * is written for the person who has to fix the problem.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'DB_UNAVAILABLE'
  | 'MIGRATION_FAILED'
  | 'MAIL_PARSE_FAILED'
  | 'IMAP_FAILED'
  | 'SMTP_FAILED'
  | 'SMTP_OUTCOME_UNKNOWN'
  | 'SLACK_FAILED'
  | 'MODEL_UNAVAILABLE'
  | 'MODEL_FAILED'
  | 'MODEL_OUTPUT_INVALID'
  /** The model was offered tools it cannot call (an Ollama model without tool support). */
  | 'MODEL_NO_TOOLS'
  | 'NOT_CONFIGURED'
  | 'NOT_FOUND'
  | 'FORBIDDEN'
  | 'CONFLICT';

const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set([
  'DB_UNAVAILABLE',
  'IMAP_FAILED',
  'SMTP_FAILED',
  'SLACK_FAILED',
  'MODEL_UNAVAILABLE',
]);

export class AdjutantError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AdjutantError';
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE_CODES.has(code);
  }
}

export function isRetryable(error: unknown): boolean {
  if (error instanceof AdjutantError) return error.retryable;
  // Unknown failures (network resets, driver errors) are worth another attempt.
  return true;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
