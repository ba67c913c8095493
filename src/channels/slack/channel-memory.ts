/**
 * Slack conversations become team memory: messages in the channels the bot is in (all of them,
 * or those SLACK_MEMORY_CHANNELS names) and every reply in a thread the bot started or took part
 * in. An edit replaces the remembered text; a deletion removes it. A private channel's messages
 * are remembered with that channel as their scope, so only asks made there see them.
 */
import type { App } from '@slack/bolt';
import { z } from 'zod';
import { botIdentity } from './bot-identity.ts';
import type { SlackPoster } from './slack-poster.ts';

/** What this feature needs from memory: the port it declares, implemented in main.ts. */
export interface SlackMemoryPort {
  rememberMessage(message: SlackMessageMemory): Promise<void>;
  forgetMessage(channel: string, ts: string): Promise<void>;
  /** Whether the bot takes part in this thread: its cards start threads, and it answers in others. */
  botInThread(channel: string, threadTs: string): Promise<boolean>;
}

export interface SlackMessageMemory {
  channel: string;
  ts: string;
  threadTs: string | null;
  user: string;
  text: string;
  permalink: string | null;
  /** A private channel: only asks made there may see it. */
  private: boolean;
  postedAt: Date;
}

export type MemoryChannels = 'all' | 'none' | string[];

// The fields we rely on, checked: Slack's event shapes vary by subtype.
const plainMessage = z.object({
  subtype: z.enum(['thread_broadcast', 'file_share']).optional(),
  channel: z.string(),
  channel_type: z.string().optional(),
  user: z.string(),
  text: z.string().default(''),
  ts: z.string(),
  thread_ts: z.string().optional(),
  parent_user_id: z.string().optional(),
  bot_id: z.string().optional(),
});
const changedMessage = z.object({
  subtype: z.literal('message_changed'),
  channel: z.string(),
  channel_type: z.string().optional(),
  // The edited message as it is now, with its thread (and who started it), so an edit in a thread
  // the bot is in counts like the reply did.
  message: z.object({ user: z.string().optional(), text: z.string().default(''), ts: z.string(), thread_ts: z.string().optional(), parent_user_id: z.string().optional(), bot_id: z.string().optional() }),
});
const deletedMessage = z.object({ subtype: z.literal('message_deleted'), channel: z.string(), deleted_ts: z.string() });

export function registerChannelMemory(app: App, deps: { channels: MemoryChannels; memory: SlackMemoryPort; poster: Pick<SlackPoster, 'permalink'> }): void {
  const { channels, memory, poster } = deps;
  const configured = (channel: string) => channels === 'all' || (Array.isArray(channels) && channels.includes(channel));
  const botUser = async () => (await botIdentity(app.client)).userId;

  async function shouldRemember(channel: string, channelType: string | undefined, threadTs: string | undefined, parentUser: string | undefined): Promise<boolean> {
    // Direct messages are a person's conversation with the bot, not the team's.
    if (channelType === 'im' || channelType === 'mpim') return false;
    if (configured(channel)) return true;
    if (!threadTs) return false;
    if (parentUser && parentUser === (await botUser())) return true;
    return memory.botInThread(channel, threadTs);
  }

  app.event('message', async ({ event }) => {
    const raw = event as unknown as Record<string, unknown>;
    const deleted = deletedMessage.safeParse(raw);
    if (deleted.success) {
      await memory.forgetMessage(deleted.data.channel, deleted.data.deleted_ts);
      return;
    }
    const changed = changedMessage.safeParse(raw);
    const plain = plainMessage.safeParse(raw);
    let message: { channel: string; channelType: string | undefined; user: string; text: string; ts: string; threadTs: string | undefined; parentUser: string | undefined };
    if (changed.success) {
      const edited = changed.data.message;
      if (edited.bot_id || !edited.user) return;
      message = { channel: changed.data.channel, channelType: changed.data.channel_type, user: edited.user, text: edited.text, ts: edited.ts, threadTs: edited.thread_ts, parentUser: edited.parent_user_id };
    } else if (plain.success) {
      // Our own cards and answers are not the team's words.
      if (plain.data.bot_id) return;
      message = { channel: plain.data.channel, channelType: plain.data.channel_type, user: plain.data.user, text: plain.data.text, ts: plain.data.ts, threadTs: plain.data.thread_ts, parentUser: plain.data.parent_user_id };
    } else {
      return; // joins, topic changes, bot messages: nothing to remember
    }
    if (message.text.trim() === '') return;
    if (!(await shouldRemember(message.channel, message.channelType, message.threadTs, message.parentUser))) return;
    await memory.rememberMessage({
      channel: message.channel,
      ts: message.ts,
      threadTs: message.threadTs ?? null,
      user: message.user,
      text: message.text,
      permalink: await poster.permalink(message.channel, message.ts),
      private: message.channelType === 'group' || message.channel.startsWith('G'),
      postedAt: new Date(Number(message.ts) * 1000),
    });
  });
}
