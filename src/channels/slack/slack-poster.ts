import type { types, webApi } from '@slack/bolt';
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
  postEphemeral(channel: string, user: string, text: string): Promise<void>;
  /** A plain message (an announcement: a stalled mailbox, a job given up). */
  postNotice(channel: string, text: string): Promise<void>;
  /** Slack user ID for an email address, when the workspace has one (for mentions). */
  userIdForEmail(email: string): Promise<string | null>;
  /** A link a person can open to a message (null when Slack will not say). */
  permalink(channel: string, ts: string): Promise<string | null>;
  /** A modal for the person who clicked (`triggerId` lives 3 seconds: call it first). */
  openModal(triggerId: string, view: ModalView): Promise<void>;
}

type WebClient = webApi.WebClient;
type ModalView = types.ModalView;

export function createSlackPoster(client: WebClient): SlackPoster {
  const call = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      const code = (error as { data?: { error?: string } }).data?.error;
      // Slack's platform errors (channel_not_found, not_in_channel, invalid_auth) will not fix themselves.
      const permanent = typeof code === 'string' && code !== 'ratelimited' && code !== 'internal_error' && code !== 'fatal_error';
      const hint =
        code === 'not_in_channel' || code === 'channel_not_found'
          ? ' Invite the Adjutant bot to the channel (/invite @Adjutant) and check SLACK_APPROVALS_CHANNEL.'
          : code === 'invalid_auth' || code === 'not_authed'
            ? ' Check SLACK_BOT_TOKEN.'
            : '';
      throw new AdjutantError('SLACK_FAILED', `Slack ${what} failed: ${code ?? errorMessage(error)}.${hint}`, { cause: error, retryable: !permanent });
    }
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
    async postNotice(channel, text) {
      await call('chat.postMessage', () => client.chat.postMessage({ channel, text, unfurl_links: false, unfurl_media: false }));
    },
    async openModal(triggerId, view) {
      await call('views.open', () => client.views.open({ trigger_id: triggerId, view }));
    },
    async postEphemeral(channel, user, text) {
      await call('chat.postEphemeral', () => client.chat.postEphemeral({ channel, user, text }));
    },
    async userIdForEmail(email) {
      try {
        const result = await client.users.lookupByEmail({ email });
        return result.user?.id ?? null;
      } catch {
        // No such user, or the users:read.email scope is missing: the card names the address instead.
        return null;
      }
    },
    async permalink(channel, ts) {
      try {
        const result = await client.chat.getPermalink({ channel, message_ts: ts });
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

function requireTs(ts: string | undefined): string {
  if (!ts) throw new AdjutantError('SLACK_FAILED', 'Slack accepted the message but returned no ts');
  return ts;
}
