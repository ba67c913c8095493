import type { webApi } from '@slack/bolt';
import { AdjutantError, errorMessage } from '../../errors.ts';
import { approvalCard, draftMessage, type CardInput, type DraftView } from './blocks.ts';

/** The one place that writes to Slack. Jobs and listeners call this, never the Web API directly. */
export interface SlackPoster {
  postApprovalCard(channel: string, card: CardInput): Promise<{ ts: string }>;
  postDraft(channel: string, threadTs: string, draft: DraftView): Promise<{ ts: string }>;
  updateDraft(channel: string, ts: string, draft: DraftView): Promise<void>;
  postEphemeral(channel: string, user: string, text: string): Promise<void>;
  /** Slack user ID for an email address, when the workspace has one (for mentions). */
  userIdForEmail(email: string): Promise<string | null>;
}

type WebClient = webApi.WebClient;

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
    async postApprovalCard(channel, card) {
      const message = approvalCard(card);
      const result = await call('chat.postMessage', () => client.chat.postMessage({ channel, text: message.text, blocks: message.blocks, unfurl_links: false, unfurl_media: false }));
      return { ts: requireTs(result.ts) };
    },
    async postDraft(channel, threadTs, draft) {
      const message = draftMessage(draft);
      const result = await call('chat.postMessage', () =>
        client.chat.postMessage({ channel, thread_ts: threadTs, text: message.text, blocks: message.blocks, unfurl_links: false, unfurl_media: false }),
      );
      return { ts: requireTs(result.ts) };
    },
    async updateDraft(channel, ts, draft) {
      const message = draftMessage(draft);
      await call('chat.update', () => client.chat.update({ channel, ts, text: message.text, blocks: message.blocks }));
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
  };
}

function requireTs(ts: string | undefined): string {
  if (!ts) throw new AdjutantError('SLACK_FAILED', 'Slack accepted the message but returned no ts');
  return ts;
}
