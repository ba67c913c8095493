import type { types, webApi } from '@slack/bolt';
import { setTimeout as sleep } from 'node:timers/promises';
import { AdjutantError, errorMessage } from '../../errors.ts';
import { approvalCard, draftMessage, METADATA_CARD, METADATA_DRAFT, type CardInput, type DraftView } from './blocks.ts';

/** The one place that writes to Slack. Jobs and listeners call this, never the Web API directly. */
export interface SlackPoster {
  /**
   * A card for an email. With a draft, it carries the draft id in its metadata, so `findCard`
   * can recover it after a crash; without one it is a notice (nothing to approve).
   */
  postApprovalCard(channel: string, card: CardInput, draftId?: string): Promise<{ ts: string }>;
  postDraft(channel: string, threadTs: string, draft: DraftView): Promise<{ ts: string }>;
  /** The card an earlier (crashed) run posted for this draft, if any, searching from `since`. */
  findCard(channel: string, draftId: string, since: Date): Promise<string | null>;
  /** The draft message an earlier run posted in the card's thread, if any. */
  findDraftMessage(channel: string, cardTs: string, draftId: string): Promise<string | null>;
  updateDraft(channel: string, ts: string, draft: DraftView): Promise<void>;
  /** Replaces a message's text and blocks (a tool call's card as its decision goes on). */
  updateMessage(channel: string, ts: string, message: { text: string; blocks: unknown[] }): Promise<void>;
  postEphemeral(channel: string, user: string, text: string): Promise<void>;
  /** A plain message (an announcement: a stalled mailbox, a job given up). */
  postNotice(channel: string, text: string): Promise<void>;
  /** Slack user ID for an email address, when the workspace has one (for mentions). */
  userIdForEmail(email: string): Promise<string | null>;
  /** A link a person can open to a message (null when Slack will not say). */
  permalink(channel: string, ts: string): Promise<string | null>;
  /** A modal for the person who clicked (`triggerId` lives 3 seconds: call it first). */
  openModal(triggerId: string, view: ModalView): Promise<void>;
  /** An answer in a thread, or in the channel when `threadTs` is null (mrkdwn, already escaped by whoever wrote it; blocks optional). */
  postReply(channel: string, threadTs: string | null, text: string, blocks?: unknown[]): Promise<{ ts: string }>;
  /**
   * The thread's messages before `beforeTs`, oldest first, as conversation turns (the bot's
   * are the assistant's): at most `limit`, the latest.
   */
  threadTurns(channel: string, threadTs: string, beforeTs: string, botUserId: string | null, limit: number): Promise<{ role: 'user' | 'assistant'; text: string }[]>;
  /** The App Home tab of one user. */
  publishHome(userId: string, view: HomeView): Promise<void>;
  /** A briefing (Block Kit) in a channel. */
  postBriefing(channel: string, message: { text: string; blocks: unknown[] }): Promise<{ ts: string }>;
  /** What the approver check needs of a person's account (null when Slack answers without one). */
  userAccount(userId: string): Promise<SlackAccount | null>;
  /** Everyone in a channel, all pages. */
  channelMembers(channel: string): Promise<string[]>;
}

/** A person's account as far as approving goes. */
export interface SlackAccount {
  /** Their workspace (another one's for Slack Connect). */
  teamId: string | null;
  /** A single- or multi-channel guest (restricted or ultra-restricted). */
  guest: boolean;
  /** From another organisation, as Slack marks people seen through a shared channel. */
  stranger: boolean;
  bot: boolean;
}

type WebClient = webApi.WebClient;
type ModalView = types.ModalView;
type HomeView = types.HomeView;

/** The longest a call waits out Slack's rate limit (a job's call: past it, the job queue retries later). */
const RATE_LIMIT_MAX_WAIT_MS = 60_000;
/** Calls a person or Slack is waiting on: a modal's trigger lives 3 seconds, an event's answer is due in 3. */
const PROMPT_MAX_WAIT_MS = 1_000;
/**
 * The approver check's calls: they run after the click's ack, with a person watching for the
 * click to work. Slack's Retry-After for these (Tier 4) methods is a few seconds, so this waits
 * that out; a longer pause fails the click, and the person is told to try again, rather than
 * leaving them with a button that seems to do nothing for a minute.
 */
const APPROVER_MAX_WAIT_MS = 10_000;

export function createSlackPoster(client: WebClient): SlackPoster {
  // Rate limits are waited out here, per method and bounded. The client's own handling sleeps as
  // long as Slack says with every other call paused (a views.open whose trigger expires meanwhile),
  // and counts each 429 as one of its two retries, so a burst of cards failed. A 429 now reaches us.
  (client as unknown as { rejectRateLimitedCalls: boolean }).rejectRateLimitedCalls = true;
  /** Per method: when Slack said to call again. Calls made meanwhile wait instead of drawing more 429s. */
  const pausedUntil = new Map<string, number>();
  const call = async <T>(what: string, run: () => Promise<T>, maxWaitMs = RATE_LIMIT_MAX_WAIT_MS): Promise<T> => {
    let waitedMs = 0;
    let limitedBy: unknown;
    for (;;) {
      const pauseMs = (pausedUntil.get(what) ?? 0) - Date.now();
      if (pauseMs > 0) {
        if (waitedMs + pauseMs > maxWaitMs) {
          const seconds = Math.ceil(pauseMs / 1000);
          throw new AdjutantError('SLACK_FAILED', `Slack ${what} failed: rate limited (Slack asked to wait ${seconds} s more, longer than this call waits: ${maxWaitMs / 1000} s). Worth trying again later.`, {
            cause: limitedBy,
            retryable: true,
          });
        }
        await sleep(pauseMs);
        waitedMs += pauseMs;
        continue;
      }
      try {
        return await run();
      } catch (error) {
        const retryAfter = retryAfterSeconds(error);
        if (retryAfter === null) throw failed(what, error);
        limitedBy = error;
        pausedUntil.set(what, Math.max(pausedUntil.get(what) ?? 0, Date.now() + Math.max(1, retryAfter) * 1000));
      }
    }
  };
  const failed = (what: string, error: unknown): AdjutantError => {
    const code = (error as { data?: { error?: string } }).data?.error;
    // Slack's platform errors (channel_not_found, not_in_channel, invalid_auth) will not fix themselves.
    const permanent = typeof code === 'string' && code !== 'ratelimited' && code !== 'internal_error' && code !== 'fatal_error';
    const hint =
      code === 'not_in_channel' || code === 'channel_not_found'
        ? ' Invite the Adjutant bot to the channel (/invite @Adjutant) and check SLACK_APPROVALS_CHANNEL.'
        : code === 'invalid_auth' || code === 'not_authed'
          ? ' Check SLACK_BOT_TOKEN.'
          : '';
    return new AdjutantError('SLACK_FAILED', `Slack ${what} failed: ${code ?? errorMessage(error)}.${hint}`, { cause: error, retryable: !permanent });
  };
  return {
    async postApprovalCard(channel, card, draftId) {
      const message = approvalCard(card);
      const result = await call('chat.postMessage', () =>
        client.chat.postMessage({
          channel,
          text: message.text,
          blocks: message.blocks,
          unfurl_links: false,
          unfurl_media: false,
          ...(draftId ? { metadata: { event_type: METADATA_CARD, event_payload: { draft_id: draftId } } } : {}),
        }),
      );
      return { ts: requireTs(result.ts) };
    },
    async postDraft(channel, threadTs, draft) {
      const message = draftMessage(draft);
      const result = await call('chat.postMessage', () =>
        client.chat.postMessage({
          channel,
          thread_ts: threadTs,
          text: message.text,
          blocks: message.blocks,
          unfurl_links: false,
          unfurl_media: false,
          metadata: { event_type: METADATA_DRAFT, event_payload: { draft_id: draft.draftId } },
        }),
      );
      return { ts: requireTs(result.ts) };
    },
    async findCard(channel, draftId, since) {
      const oldest = String(Math.floor(since.getTime() / 1000) - 60);
      let cursor: string | undefined;
      // Pages of the channel since the draft was made; a busy channel gets a few pages at most.
      for (let page = 0; page < 10; page += 1) {
        const result = await call('conversations.history', () =>
          client.conversations.history({ channel, oldest, limit: 200, include_all_metadata: true, ...(cursor ? { cursor } : {}) }),
        );
        const found = (result.messages ?? []).find((message) => carries(message, METADATA_CARD, draftId));
        if (found?.ts) return found.ts;
        cursor = result.response_metadata?.next_cursor || undefined;
        if (!cursor) return null;
      }
      return null;
    },
    async findDraftMessage(channel, cardTs, draftId) {
      const result = await call('conversations.replies', () => client.conversations.replies({ channel, ts: cardTs, limit: 200, include_all_metadata: true }));
      return (result.messages ?? []).find((message) => carries(message, METADATA_DRAFT, draftId))?.ts ?? null;
    },
    async updateDraft(channel, ts, draft) {
      const message = draftMessage(draft);
      await call('chat.update', () => client.chat.update({ channel, ts, text: message.text, blocks: message.blocks }));
    },
    async updateMessage(channel, ts, message) {
      await call('chat.update', () => client.chat.update({ channel, ts, text: message.text, blocks: message.blocks as types.KnownBlock[] }));
    },
    async postNotice(channel, text) {
      await call('chat.postMessage', () => client.chat.postMessage({ channel, text, unfurl_links: false, unfurl_media: false }));
    },
    async postReply(channel, threadTs, text, blocks) {
      const result = await call('chat.postMessage', () =>
        client.chat.postMessage({ channel, text, unfurl_links: false, unfurl_media: false, ...(threadTs ? { thread_ts: threadTs } : {}), ...(blocks ? { blocks: blocks as types.KnownBlock[] } : {}) }),
      );
      if (!result.ts) throw new AdjutantError('SLACK_FAILED', 'Slack chat.postMessage returned no ts', { retryable: true });
      return { ts: result.ts };
    },
    async threadTurns(channel, threadTs, beforeTs, botUserId, limit) {
      const result = await call('conversations.replies', () => client.conversations.replies({ channel, ts: threadTs, limit: 200 }));
      const messages = (result.messages ?? []).filter((message) => message.ts !== undefined && Number(message.ts) < Number(beforeTs) && (message.text ?? '').trim() !== '');
      return messages.slice(-limit).map((message) => ({
        role: message.bot_id !== undefined || (botUserId !== null && message.user === botUserId) ? ('assistant' as const) : ('user' as const),
        text: (message.text ?? '').replace(/<@[A-Z0-9]+>/g, '').trim(),
      }));
    },
    async postBriefing(channel, message) {
      const result = await call('chat.postMessage', () => client.chat.postMessage({ channel, text: message.text, blocks: message.blocks as types.KnownBlock[], unfurl_links: false, unfurl_media: false }));
      if (!result.ts) throw new AdjutantError('SLACK_FAILED', 'Slack chat.postMessage returned no ts', { retryable: true });
      return { ts: result.ts };
    },
    async publishHome(userId, view) {
      await call('views.publish', () => client.views.publish({ user_id: userId, view }));
    },
    async openModal(triggerId, view) {
      await call('views.open', () => client.views.open({ trigger_id: triggerId, view }), PROMPT_MAX_WAIT_MS);
    },
    async postEphemeral(channel, user, text) {
      await call('chat.postEphemeral', () => client.chat.postEphemeral({ channel, user, text }));
    },
    async userIdForEmail(email) {
      try {
        const result = await call('users.lookupByEmail', () => client.users.lookupByEmail({ email }));
        return result.user?.id ?? null;
      } catch {
        // No such user, or the users:read.email scope is missing: the card names the address instead.
        return null;
      }
    },
    async userAccount(userId) {
      const { user } = await call('users.info', () => client.users.info({ user: userId }), APPROVER_MAX_WAIT_MS);
      if (!user) return null;
      return {
        teamId: user.team_id ?? null,
        guest: user.is_restricted === true || user.is_ultra_restricted === true,
        stranger: user.is_stranger === true,
        bot: user.is_bot === true,
      };
    },
    async channelMembers(channel) {
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await call('conversations.members', () => client.conversations.members({ channel, limit: 1000, ...(cursor ? { cursor } : {}) }), APPROVER_MAX_WAIT_MS);
        ids.push(...(page.members ?? []));
        cursor = page.response_metadata?.next_cursor || undefined;
      } while (cursor);
      return ids;
    },
    async permalink(channel, ts) {
      try {
        const result = await call('chat.getPermalink', () => client.chat.getPermalink({ channel, message_ts: ts }), PROMPT_MAX_WAIT_MS);
        return result.permalink ?? null;
      } catch {
        return null;
      }
    },
  };
}

function carries(message: { metadata?: { event_type?: string; event_payload?: Record<string, unknown> } }, type: string, draftId: string): boolean {
  return message.metadata?.event_type === type && message.metadata.event_payload?.draft_id === draftId;
}

/** Seconds Slack asked us to wait, when the error is an HTTP 429 (the client rejects those: see above). */
function retryAfterSeconds(error: unknown): number | null {
  const limited = error as { code?: unknown; retryAfter?: unknown };
  return limited.code === 'slack_webapi_rate_limited_error' && typeof limited.retryAfter === 'number' ? limited.retryAfter : null;
}

function requireTs(ts: string | undefined): string {
  if (!ts) throw new AdjutantError('SLACK_FAILED', 'Slack accepted the message but returned no ts');
  return ts;
}
