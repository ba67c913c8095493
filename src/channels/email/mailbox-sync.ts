import type { FetchMessageObject, ImapFlow } from 'imapflow';
import { AdjutantError, errorMessage } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { MailboxPosition, MailboxStateStore, SavedMailboxPosition } from './mailbox-state.ts';
import { withDeadline } from './imap-deadline.ts';
import { givenUpText, oversizedText, uidResetText } from './mailbox-announcements.ts';
import type { KeptMessage, MailboxFailureStore, UnhandledMessage } from './mailbox-failures.ts';
import { parseAhead } from './parse-email.ts';

export interface MailboxLimits {
  /** Larger messages are not fetched; they are kept as metadata and announced. */
  maxMessageBytes: number;
  /** How much of a given-up or oversized message's raw source is kept. */
  keepRawBytes: number;
  /** Hand-overs of one message (failed, or cut short by a crash) before it is given up. */
  maxAttempts: number;
  /** Wait before the next attempt after the n-th failed one. */
  retryDelayMs: (attempt: number) => number;
  /** A hand-over that takes longer counts as failed. */
  messageTimeoutMs: number;
  /** After a UID reset, mail is looked at again only when the mailbox was last seen this recently. */
  resetRescanWindowMs: number;
  /** ...and then at most this many messages. */
  resetRescanMax: number;
}

export const MAILBOX_LIMIT_DEFAULTS: MailboxLimits = {
  maxMessageBytes: 25 * 1024 * 1024,
  keepRawBytes: 1024 * 1024,
  maxAttempts: 5,
  // 2 s, 8 s, 32 s, 2 min: a database blip or a restarting dependency is outlasted, a poison
  // message holds later mail back for about three minutes.
  retryDelayMs: (attempt) => Math.min(5 * 60_000, 2000 * 4 ** Math.max(0, attempt - 1)),
  messageTimeoutMs: 5 * 60_000,
  resetRescanWindowMs: 48 * 60 * 60_000,
  resetRescanMax: 50,
};

export interface SyncContext {
  client: ImapFlow;
  mailboxKey: string;
  state: MailboxStateStore;
  failures: MailboxFailureStore;
  limits: MailboxLimits;
  /** Store one message (see WatcherDeps.onMessage: its parse may have been started already). */
  onMessage(raw: Buffer, uid: number, mailbox: string): Promise<void>;
  /** Tell the team; resolves false when that failed (it is logged by the caller). */
  announce(text: string): Promise<boolean>;
  log: Logger;
  now(): Date;
  /** False once this connection no longer speaks for the watcher (lock lost, stopped): write nothing more. */
  isCurrent(): boolean;
  /** False when the watcher is stopping: the message in hand is finished and recorded, no other is started. */
  keepGoing(): boolean;
  /** The server answered a command. */
  contact(): void;
}

/** null: the sync was cut short because its connection is no longer current. */
export type SyncResult = { lastUid: number; retryAfterMs: number | null } | null;

type HandOver = 'done' | 'aborted' | { retryAfterMs: number };

/** What fetching a message for its hand-over found. */
type Fetched = { kind: 'vanished' } | { kind: 'oversized'; meta: FetchMessageObject; size: number } | { kind: 'message'; meta: FetchMessageObject; source: Buffer };

/** The next message, fetched and its parse started while the one before it is handed over. */
interface ReadAhead {
  uid: number;
  /** null: reading it failed; it is fetched again, the usual way, when its turn comes. */
  fetched: Promise<Fetched | null>;
}

const DAY_MS = 24 * 60 * 60_000;
/** INTERNALDATE is the server's clock and ours may differ; a little overlap only re-offers stored mail. */
const CLOCK_SLACK_MS = 10 * 60_000;

/**
 * One pass over the mailbox: hand every message not yet handed over to `onMessage`, in UID
 * order, one at a time. A message that keeps failing is retried with backoff, then kept with its
 * error and skipped, so it cannot hold later mail back for good.
 *
 * While one message is handed over (stored: mostly waiting on the database), the next one is
 * fetched and its parse started (CPU in this process), so the two overlap; its hand-over still
 * starts only once the one before it is done. Progress is saved with the next message's attempt,
 * in one write per message: the position never covers a message whose hand-over has not
 * finished, and a crash in between only hands the last message over again (stored once by
 * Message-ID).
 */
export async function syncMailbox(ctx: SyncContext): Promise<SyncResult> {
  const { client } = ctx;
  const box = client.mailbox;
  if (!box || typeof box === 'boolean') throw new AdjutantError('IMAP_FAILED', 'no mailbox is open');
  const uidValidity = BigInt(box.uidValidity);
  const end = Math.max(0, box.uidNext - 1);
  // Taken before looking, so mail arriving during this pass counts as arrived after it.
  const checkedAt = ctx.now();

  const saved = await ctx.state.get(ctx.mailboxKey);
  if (!ctx.isCurrent()) return null;
  if (!saved) {
    // First sight of this mailbox: start at its end rather than drafting replies to its whole history.
    await ctx.state.set(ctx.mailboxKey, { uidValidity, lastUid: end, checkedAt, attempt: null, rescanUids: [] });
    ctx.log.info({ skipped: box.exists, lastUid: end }, 'new mailbox: existing messages are not processed, only new mail');
    return { lastUid: end, retryAfterMs: null };
  }
  let position: MailboxPosition = saved.uidValidity === uidValidity ? saved : await afterReset(ctx, saved, uidValidity, end);
  if (!ctx.isCurrent()) return null;

  const found = await client.search({ uid: `${position.lastUid + 1}:*` }, { uid: true });
  ctx.contact();
  // `N:*` always matches the last message, even when its UID is below N.
  const fresh = (found || []).filter((uid) => uid > position.lastUid).sort((a, b) => a - b);
  const queue = [...[...position.rescanUids].sort((a, b) => a - b), ...fresh];
  // A hand-over the last run started and never finished (a crash, a stop): that message may be
  // what crashed the process, so it is not read ahead, only handed over on its own.
  const unfinished = position.attempt?.uid ?? null;

  // Typed by assertion: it is set in the callback handOver calls, which narrowing does not see.
  let ahead = null as ReadAhead | null;
  // A message finished in this pass: the saved state may be behind `position`.
  let progressed = false;
  for (const [index, uid] of queue.entries()) {
    if (!ctx.isCurrent()) return null;
    if (!ctx.keepGoing()) {
      if (progressed) await ctx.state.set(ctx.mailboxKey, position, { relaxed: true });
      return null;
    }
    const early: Promise<Fetched | null> | null = ahead?.uid === uid ? ahead.fetched : null;
    ahead = null;
    const next = queue[index + 1];
    const readNext =
      next === undefined || next === unfinished
        ? null
        : () => {
            ahead = { uid: next, fetched: readAhead(ctx, next) };
          };
    const outcome = await handOver(ctx, position, uidValidity, uid, early, readNext);
    if (outcome === 'aborted') return null;
    if (outcome !== 'done') return { lastUid: position.lastUid, retryAfterMs: outcome.retryAfterMs };
    // Saved with the next message's attempt (handOver), or at the end of the pass.
    position = {
      ...position,
      lastUid: position.rescanUids.includes(uid) ? position.lastUid : Math.max(position.lastUid, uid),
      rescanUids: position.rescanUids.filter((pending) => pending !== uid),
      attempt: null,
    };
    progressed = true;
  }
  if (!ctx.isCurrent()) return null;
  await ctx.state.set(ctx.mailboxKey, { ...position, checkedAt }, { relaxed: true });
  return { lastUid: position.lastUid, retryAfterMs: null };
}

/**
 * The server renumbered the mailbox, so saved UIDs mean nothing. Carry on from its current end
 * (never replay history), and look again only at mail whose arrival date is after we last saw
 * the whole mailbox, when that was recently, capped to a few messages. Message-IDs keep mail
 * already stored from being stored twice.
 */
async function afterReset(ctx: SyncContext, saved: SavedMailboxPosition, uidValidity: bigint, end: number): Promise<MailboxPosition> {
  const lastSeen = saved.checkedAt ?? saved.updatedAt;
  const tooOld = ctx.now().getTime() - lastSeen.getTime() > ctx.limits.resetRescanWindowMs;
  let recent: number[] = [];
  if (!tooOld) {
    // SEARCH SINCE has day granularity in the server's time zone: a day early, then exact dates.
    const found = (await ctx.client.search({ since: new Date(lastSeen.getTime() - DAY_MS) }, { uid: true })) || [];
    ctx.contact();
    const candidates = found.filter((uid) => uid <= end);
    if (candidates.length > 0) {
      const cutoff = lastSeen.getTime() - CLOCK_SLACK_MS;
      for await (const message of ctx.client.fetch(candidates, { uid: true, internalDate: true }, { uid: true })) {
        const arrived = message.internalDate ? new Date(message.internalDate).getTime() : Number.NaN;
        if (arrived >= cutoff) recent.push(message.uid);
      }
      ctx.contact();
    }
  }
  recent.sort((a, b) => a - b);
  const dropped = Math.max(0, recent.length - ctx.limits.resetRescanMax);
  if (dropped > 0) recent = recent.slice(-ctx.limits.resetRescanMax);
  const position: MailboxPosition = { uidValidity, lastUid: end, checkedAt: saved.checkedAt, attempt: null, rescanUids: recent };
  ctx.log.warn({ was: saved.uidValidity.toString(), now: uidValidity.toString(), lastSeen, rescan: recent.length, dropped, tooOld }, 'UIDVALIDITY changed; continuing from the end of the mailbox');
  if (!ctx.isCurrent()) return position;
  await ctx.state.set(ctx.mailboxKey, position);
  await ctx.announce(uidResetText({ mailbox: ctx.mailboxKey, was: saved.uidValidity, now: uidValidity, checkedAt: saved.checkedAt ?? saved.updatedAt, rescanned: recent.length, dropped, tooOld }));
  return position;
}

/**
 * Hand one message over. `early`: its fetch started while the message before it was handed
 * over. `readNext` starts reading the message after it; it is called only on a first attempt:
 * should reading the next one crash the process, this message's attempt is what the saved state
 * shows, so this message is blamed once, and handed over alone the next time.
 */
async function handOver(ctx: SyncContext, position: MailboxPosition, uidValidity: bigint, uid: number, early: Promise<Fetched | null> | null, readNext: (() => void) | null): Promise<HandOver> {
  const { client, limits } = ctx;
  const attempt = position.attempt?.uid === uid ? position.attempt.count + 1 : 1;
  if (attempt > limits.maxAttempts) {
    // Every earlier attempt was cut short (the process stopped or crashed while handling it):
    // this message may be what crashes it, so it is not handed over again.
    const recorded = await ctx.failures.lastError(ctx.mailboxKey, uidValidity, uid);
    const error = recorded ?? `handing it over was started ${attempt - 1} times and never finished (the service stopped or crashed while handling it)`;
    const prefix = await client
      .fetchOne(String(uid), { uid: true, size: true, envelope: true, source: { maxLength: limits.keepRawBytes } }, { uid: true })
      .catch((fetchError: unknown) => {
        ctx.log.warn({ uid, err: fetchError }, 'could not read the message being given up');
        return false as const;
      });
    const facts = factsOf(ctx.mailboxKey, uidValidity, uid, prefix || null);
    await giveUp(ctx, facts, attempt - 1, error, prefix ? (prefix.source ?? null) : null);
    return 'done';
  }
  // Counted before the hand-over, so a message that crashes the process is counted too. The same
  // write records the position reached by the messages before it.
  await ctx.state.set(ctx.mailboxKey, { ...position, attempt: { uid, count: attempt } }, { relaxed: true });

  const fetched = (early ? await early : null) ?? (await fetchForHandOver(ctx, uid));
  if (fetched.kind === 'vanished') {
    ctx.log.warn({ uid }, 'message vanished before it could be read (expunged?)');
    return 'done';
  }
  const facts = factsOf(ctx.mailboxKey, uidValidity, uid, fetched.meta);
  if (fetched.kind === 'oversized') {
    await keepOversized(ctx, facts, fetched.size);
    return 'done';
  }
  try {
    const handing = withDeadline(ctx.onMessage(fetched.source, uid, ctx.mailboxKey), limits.messageTimeoutMs, `handing over UID ${uid}`);
    // Started after the hand-over, so this message's own work goes first.
    if (attempt === 1) readNext?.();
    await handing;
  } catch (error) {
    // The lock went away meanwhile: whoever holds it now decides about this message.
    if (!ctx.isCurrent()) return 'aborted';
    const reason = errorMessage(error);
    if (attempt >= limits.maxAttempts) {
      await giveUp(ctx, facts, attempt, reason, fetched.source);
      return 'done';
    }
    // If this write fails too (the database is down), the sync fails and nothing advances.
    await ctx.failures.recordAttempt(facts, attempt, reason);
    const retryAfterMs = limits.retryDelayMs(attempt);
    ctx.log.warn({ uid, attempt, maxAttempts: limits.maxAttempts, retryAfterMs, error: reason }, 'handing over a message failed; will retry');
    return { retryAfterMs };
  }
  if (attempt > 1) await ctx.failures.resolve(ctx.mailboxKey, uidValidity, uid);
  return 'done';
}

/** Its size and envelope first: an oversized message's source is never fetched whole. */
async function fetchForHandOver(ctx: SyncContext, uid: number): Promise<Fetched> {
  const meta = await ctx.client.fetchOne(String(uid), { uid: true, size: true, envelope: true }, { uid: true });
  ctx.contact();
  if (!meta) return { kind: 'vanished' };
  if (meta.size !== undefined && meta.size > ctx.limits.maxMessageBytes) return { kind: 'oversized', meta, size: meta.size };
  const message = await ctx.client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
  ctx.contact();
  if (!message || !message.source) return { kind: 'vanished' };
  return { kind: 'message', meta, source: message.source };
}

/**
 * Fetch the next message and start its parse (parse-email.ts takes it when the hand-over
 * parses the same bytes). At most one message is read ahead, and the hand-over of the message
 * before it is not waited for here: that is the point.
 */
function readAhead(ctx: SyncContext, uid: number): Promise<Fetched | null> {
  return fetchForHandOver(ctx, uid).then(
    (fetched) => {
      if (fetched.kind === 'message') parseAhead(fetched.source);
      return fetched;
    },
    (error: unknown) => {
      ctx.log.debug({ uid, err: error }, 'could not read the next message ahead; it is fetched again in its turn');
      return null;
    },
  );
}

async function giveUp(ctx: SyncContext, facts: UnhandledMessage, attempts: number, error: string, raw: Buffer | null): Promise<void> {
  const bounded = bound(raw, ctx.limits.keepRawBytes);
  ctx.log.error({ uid: facts.uid, attempts, error }, 'giving up on a message; moving on to later mail');
  await keepAndAnnounce(ctx, { ...facts, status: 'given_up', attempts, error, raw: bounded.raw, rawTruncated: bounded.truncated }, (id) =>
    givenUpText({ mailbox: ctx.mailboxKey, uid: facts.uid, subject: facts.subject, from: facts.from, failureId: id, attempts, error }),
  );
}

async function keepOversized(ctx: SyncContext, facts: UnhandledMessage, size: number): Promise<void> {
  const { limits } = ctx;
  // Only the first bytes cross the wire: the server sends BODY[]<0.keepRawBytes>.
  const prefix = await ctx.client.fetchOne(String(facts.uid), { uid: true, source: { maxLength: limits.keepRawBytes } }, { uid: true });
  ctx.contact();
  const bounded = bound(prefix ? (prefix.source ?? null) : null, limits.keepRawBytes);
  const error = `message is ${size} bytes, over the ${limits.maxMessageBytes}-byte limit`;
  ctx.log.warn({ uid: facts.uid, size, limit: limits.maxMessageBytes }, 'message too large to process; kept as metadata');
  await keepAndAnnounce(ctx, { ...facts, status: 'oversized', attempts: 0, error, raw: bounded.raw, rawTruncated: size > (bounded.raw?.length ?? 0) }, (id) =>
    oversizedText({ mailbox: ctx.mailboxKey, uid: facts.uid, subject: facts.subject, from: facts.from, failureId: id, size, limit: limits.maxMessageBytes, keptBytes: bounded.raw?.length ?? 0 }),
  );
}

/** Kept first, announced second and once: a restart in between keeps the record and does not announce twice. */
async function keepAndAnnounce(ctx: SyncContext, kept: KeptMessage, text: (failureId: string) => string): Promise<void> {
  const { id, announced } = await ctx.failures.keep(kept);
  if (announced) return;
  if (await ctx.announce(text(id))) await ctx.failures.markAnnounced(id);
}

function bound(raw: Buffer | null, max: number): { raw: Buffer | null; truncated: boolean } {
  if (!raw) return { raw: null, truncated: false };
  return raw.length > max ? { raw: raw.subarray(0, max), truncated: true } : { raw, truncated: false };
}

function factsOf(mailbox: string, uidValidity: bigint, uid: number, message: FetchMessageObject | null): UnhandledMessage {
  const from = message?.envelope?.from?.[0];
  return {
    mailbox,
    uidValidity,
    uid,
    subject: message?.envelope?.subject ?? null,
    from: from ? [from.name, from.address ? `<${from.address}>` : null].filter(Boolean).join(' ') || null : null,
    messageId: message?.envelope?.messageId ?? null,
    size: message?.size ?? null,
  };
}
