/**
 * Each Slack event is handled once, by its event_id, across restarts and instances: Slack
 * retries an event it thinks went unanswered (x-slack-retry-num) and Socket Mode replays
 * envelopes after a reconnect. The first delivery records the id in `slack_events`; a later one
 * is acknowledged (Bolt acks events before any middleware) and goes no further. Interactions
 * and commands have no event_id and pass through: their handlers are idempotent themselves.
 */
import type { App } from '@slack/bolt';
import type { Logger } from '../../logger.ts';

/** What this needs of the database: `pg.Pool` (or a client) fits. */
export interface EventDedupeQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface EventDedupeDeps {
  pool: EventDedupeQueryable;
  logger: Logger;
  /** How long an event_id is remembered (default 7 days; Slack retries within minutes). */
  keepMs?: number;
  /** At most this often, rows older than `keepMs` are deleted (default hourly). */
  pruneEveryMs?: number;
  now?: () => number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export function registerEventDedupe(app: App, deps: EventDedupeDeps): void {
  const { pool, logger } = deps;
  const keepMs = deps.keepMs ?? 7 * DAY_MS;
  const pruneEveryMs = deps.pruneEveryMs ?? 60 * 60 * 1000;
  const now = deps.now ?? Date.now;
  let prunedAt: number | null = null;

  // Not awaited: nothing waits on the pruning, least of all Slack's answer.
  const pruneNowAndThen = () => {
    const at = now();
    if (prunedAt !== null && at - prunedAt < pruneEveryMs) return;
    prunedAt = at;
    pool
      .query('DELETE FROM slack_events WHERE received_at < $1 RETURNING event_id', [new Date(at - keepMs)])
      .then(({ rows }) => {
        if (rows.length > 0) logger.debug({ pruned: rows.length }, 'pruned old Slack event ids');
      })
      .catch((error: unknown) => logger.warn({ err: error }, 'could not prune old Slack event ids'));
  };

  app.use(async ({ body, context, next }) => {
    const event = eventOf(body);
    if (!event) return next();
    let first: boolean;
    try {
      const { rows } = await pool.query('INSERT INTO slack_events (event_id, type) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING RETURNING event_id', [event.id, event.type]);
      first = rows.length > 0;
    } catch (error) {
      // Better handled twice than never: the listeners are idempotent where it matters.
      logger.warn({ err: error, eventId: event.id, eventType: event.type }, 'could not record the Slack event id; handling the event without the duplicate check');
      return next();
    }
    pruneNowAndThen();
    if (!first) {
      logger.info({ eventId: event.id, eventType: event.type, retryNum: context.retryNum, retryReason: context.retryReason }, 'Slack event already handled: acknowledged, not handled again');
      return;
    }
    try {
      await next();
    } catch (error) {
      // Handling failed: forget the id, so a later delivery of the event is handled.
      await pool.query('DELETE FROM slack_events WHERE event_id = $1', [event.id]).catch((cleanup: unknown) => logger.warn({ err: cleanup, eventId: event.id }, 'could not forget a Slack event whose handling failed'));
      throw error;
    }
  });
}

/** An Events API callback's id and type; null for anything else (interactions, commands, options). */
function eventOf(body: unknown): { id: string; type: string | null } | null {
  if (typeof body !== 'object' || body === null) return null;
  const { type, event_id: id, event } = body as { type?: unknown; event_id?: unknown; event?: { type?: unknown } };
  if (type !== 'event_callback' || typeof id !== 'string' || id === '') return null;
  return { id, type: typeof event?.type === 'string' ? event.type : null };
}
