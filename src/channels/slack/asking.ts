/**
 * Asking in Slack: `/adjutant` commands, @mentions and direct messages answered from memory (a
 * thread is one conversation: once the bot has answered in a thread, a reply there needs no
 * mention), and a reply in a draft card's thread taken as a redraft instruction. Every listener
 * acknowledges first; the work follows, so nothing waits on Slack's three seconds.
 */
import type { App, BlockAction, ButtonAction, RespondFn, types } from '@slack/bolt';
import { z } from 'zod';
import type { Logger } from '../../logger.ts';
import { ACTION_EMAIL_TIMELINE, escapeMrkdwn } from './blocks.ts';
import { botIdentity } from './bot-identity.ts';
import { overviewText, slackLinks, type Overview } from './overview-view.ts';
import type { SlackPoster } from './slack-poster.ts';

export interface ConversationTurn {
  role: 'user' | 'assistant';
  text: string;
}

/** What the asking listeners need: implemented by the orchestrator, wired in main.ts. */
export interface AskingPort {
  /** An answer from memory with numbered citations, as Slack mrkdwn. */
  /** `replyIn`: where a later answer goes when this one must wait (a tool call waiting for approval). */
  ask(input: { question: string; askedIn: { channel: string } | null; history: ConversationTurn[]; questionId: string; replyIn?: { channel: string; threadTs: string | null } }): Promise<string>;
  /** The best matches, as Slack mrkdwn. */
  search(input: { text: string; askedIn: { channel: string } | null; questionId: string }): Promise<string>;
  /** Store a fact said by a teammate; a newer statement on the same subject supersedes. */
  remember(input: { text: string; userId: string; channel: string; isPrivate: boolean; ref: string }): Promise<string>;
  overview(): Promise<Overview>;
  /** What happened to the email a person means (subject or sender words, or a Message-ID), as Slack mrkdwn. */
  timeline(wanted: string): Promise<string>;
  /** A card's Timeline button: the email's timeline for an approver; a refusal is audited and told to the person by the port. */
  cardTimeline(input: { emailId: string; userId: string; channel: string }): Promise<{ kind: 'shown'; text: string } | { kind: 'not-allowed' }>;
  /** The bot answers in this thread: later replies there are follow-ups (kept across restarts). */
  markThreadAnswered(channel: string, threadTs: string): Promise<void>;
  /** Whether the bot has answered in this thread. */
  threadAnswered(channel: string, threadTs: string): Promise<boolean>;
  /** A briefing now (Block Kit), the same as the morning one. */
  briefing(): Promise<{ text: string; blocks: unknown[] }>;
  /** A teammate's reply in a draft card's thread, taken as a redraft instruction. */
  redraftFromThread(input: { channel: string; threadTs: string; userId: string; text: string }): Promise<'queued' | 'not-a-draft' | 'not-allowed' | 'not-pending' | 'no-model'>;
}

type KnownBlock = types.KnownBlock;

export const HELP_TEXT = [
  '*Adjutant* answers from the team’s memory: email it has seen, Slack threads it is in, and facts you tell it.',
  '• `/adjutant ask <question>`: an answer with numbered sources (or mention @Adjutant in a thread; follow-ups in that thread continue the conversation)',
  '• `/adjutant search <words>`: the best matches, with links',
  '• `/adjutant remember <subject>: <fact>`: a fact for later; saying it again on the same subject replaces it (the old one is kept in its history)',
  '• `/adjutant status`: drafts waiting, sends that need you, the mailbox, jobs, and this week’s model spend; `/adjutant status <subject or sender>`: what happened to that email',
  '• `/adjutant briefing`: the morning briefing, now',
  '• `/adjutant help`: this list',
].join('\n');


/** Conversation history fetched for a follow-up: enough turns to keep the topic, bounded cost. */
const HISTORY_TURNS = 10;
/** A person mentioned in a message: `<@U123>`, or `<@U123|name>` from older clients. */
const PERSON_MENTIONED = /<@[A-Z0-9]+(\|[^>]*)?>/;

const command = z.object({ text: z.string().default(''), user_id: z.string(), channel_id: z.string(), trigger_id: z.string().optional() });
const mention = z.object({ user: z.string(), text: z.string().default(''), ts: z.string(), channel: z.string(), thread_ts: z.string().optional(), bot_id: z.string().optional() });
const postedMessage = z.object({
  channel_type: z.string(),
  channel: z.string(),
  user: z.string(),
  text: z.string().default(''),
  ts: z.string(),
  thread_ts: z.string().optional(),
  bot_id: z.string().optional(),
  subtype: z.string().optional(),
});

export function registerAsking(app: App, deps: { assistant: AskingPort; poster: SlackPoster; approvalsChannel: string | null; logger: Logger }): void {
  const { assistant, poster, logger } = deps;
  const botUserId = async () => (await botIdentity(app.client)).userId;
  const cardLink = slackLinks(app);
  const failed = (what: string) => (error: unknown) => logger.warn({ err: error }, `could not ${what}`);

  // Slack's HTTP answer goes out when a listener returns (processBeforeResponse), and a model's
  // answer can take longer than Slack waits: so the listeners acknowledge, start the work, and
  // return; the answer follows in its own message.
  app.command('/adjutant', async ({ ack, body, respond }) => {
    await ack();
    void runCommand(body, respond).catch(failed('answer the command'));
  });

  async function runCommand(body: unknown, respond: RespondFn): Promise<void> {
    const parsed = command.safeParse(body);
    if (!parsed.success) return;
    const { text, user_id: userId, channel_id: channel } = parsed.data;
    const [verb = ''] = text.trim().split(/\s+/);
    const argument = text.trim().slice(verb.length).trim();
    // Asked in a direct message: answered privately. Elsewhere the answer is for the channel.
    const responseType = channel.startsWith('D') ? 'ephemeral' : 'in_channel';
    const reply = (message: string) => respond({ response_type: responseType, text: message, replace_original: false }).catch(failed('answer the command'));
    const askedIn = { channel };
    try {
      switch (verb.toLowerCase()) {
        case 'ask':
          if (!argument) return void (await reply('Ask what? `/adjutant ask <question>`'));
          return void (await reply(await assistant.ask({ question: argument, askedIn, history: [], questionId: `${channel}:${Date.now()}`, replyIn: { channel, threadTs: null } })));
        case 'search':
          if (!argument) return void (await reply('Search for what? `/adjutant search <words>`'));
          return void (await reply(await assistant.search({ text: argument, askedIn, questionId: `${channel}:${Date.now()}` })));
        case 'remember':
          if (!argument) return void (await reply('Remember what? `/adjutant remember <subject>: <fact>`'));
          return void (await reply(await assistant.remember({ text: argument, userId, channel, isPrivate: channel.startsWith('G') || channel.startsWith('D'), ref: `${channel}/command-${Date.now()}` })));
        case 'status':
          // `/adjutant status <subject or sender>`: that email's timeline; alone, the overview.
          if (argument) return void (await reply(await assistant.timeline(argument)));
          return void (await reply(overviewText(await assistant.overview(), new Date(), await cardLink())));
        case 'briefing': {
          const briefing = await assistant.briefing();
          await respond({ response_type: responseType, text: briefing.text, blocks: briefing.blocks as KnownBlock[], replace_original: false }).catch(failed('post the briefing'));
          return;
        }
        default:
          return void (await reply(verb === '' || verb.toLowerCase() === 'help' ? HELP_TEXT : `I don’t know “${escapeMrkdwn(verb)}”.\n\n${HELP_TEXT}`));
      }
    } catch (error) {
      logger.error({ err: error, verb }, '/adjutant failed');
      await reply(`Sorry, that failed: ${escapeMrkdwn(error instanceof Error ? error.message : String(error)).slice(0, 300)}`);
    }
  }

  /** An answer in the thread, with the thread's earlier turns as the conversation so far. */
  async function answerInThread(channel: string, threadTs: string, ts: string, question: string): Promise<void> {
    const botId = await botUserId();
    const history = threadTs === ts ? [] : await poster.threadTurns(channel, threadTs, ts, botId, HISTORY_TURNS).catch(() => [] as ConversationTurn[]);
    // Asked here: what is private to this channel (or this conversation) may be used here.
    const answer = await assistant.ask({ question, askedIn: { channel }, history, questionId: `${channel}:${ts}`, replyIn: { channel, threadTs } });
    await poster.postReply(channel, threadTs, answer);
  }

  // The Timeline button on a card: what happened to that email, for the approver who asked
  // (like every button on a card; the port tells anyone else why not).
  app.action<BlockAction<ButtonAction>>(ACTION_EMAIL_TIMELINE, async ({ ack, body, action }) => {
    await ack();
    const channel = body.channel?.id;
    const userId = body.user.id;
    if (!action.value || !channel) return;
    void assistant
      .cardTimeline({ emailId: action.value, userId, channel })
      .then((shown) => (shown.kind === 'shown' ? poster.postEphemeral(channel, userId, shown.text) : undefined))
      .catch(failed('show the timeline'));
  });

  app.event('app_mention', async ({ event }) => {
    const parsed = mention.safeParse(event);
    if (!parsed.success || parsed.data.bot_id) return;
    const { channel, ts, thread_ts: threadTs, text } = parsed.data;
    const thread = threadTs ?? ts;
    // Noted before the answer, so a reply that comes quickly is already a follow-up. A failure
    // here costs only the follow-ups without a mention: the question is still answered.
    await assistant.markThreadAnswered(channel, thread).catch(failed('note the thread answered in'));
    const question = text.replace(/<@[A-Z0-9]+>/g, '').trim();
    if (!question) return void poster.postReply(channel, thread, HELP_TEXT).catch(failed('answer the mention'));
    void answerInThread(channel, thread, ts, question).catch(failed('answer the mention'));
  });

  app.event('message', async ({ event }) => {
    const parsed = postedMessage.safeParse(event);
    if (!parsed.success || parsed.data.bot_id || (parsed.data.subtype && parsed.data.subtype !== 'thread_broadcast')) return;
    const message = parsed.data;
    const text = message.text.trim();
    if (text === '') return;
    if (message.channel_type === 'im') {
      void answerInThread(message.channel, message.thread_ts ?? message.ts, message.ts, text).catch(failed('answer the direct message'));
      return;
    }
    // In a channel, only a reply in a thread can be for the bot without a mention.
    const threadTs = message.thread_ts;
    if (!threadTs || threadTs === message.ts) return;
    // A mention of the bot is a question app_mention answers (answered once, not twice); one of
    // someone else only is addressed to them.
    if (PERSON_MENTIONED.test(message.text)) return;
    // A teammate's reply under a draft card: an instruction for a new version.
    if (deps.approvalsChannel && message.channel === deps.approvalsChannel) {
      const outcome = await assistant.redraftFromThread({ channel: message.channel, threadTs, userId: message.user, text });
      // Not awaited: the event's response must not wait on Slack's rate limit.
      if (outcome === 'queued') void poster.postEphemeral(message.channel, message.user, 'Redrafting with your note: the new version will replace the draft in this thread.').catch(failed('confirm the redraft'));
      else if (outcome === 'no-model') void poster.postEphemeral(message.channel, message.user, 'No language model is configured, so nothing can be redrafted: use Edit on the draft.').catch(failed('answer the thread reply'));
      if (outcome !== 'not-a-draft') return;
    }
    // A reply in a thread the bot answered in continues that conversation. A record, not a
    // conversations.replies call: every threaded message in every channel passes through here.
    if (!(await assistant.threadAnswered(message.channel, threadTs))) return;
    void answerInThread(message.channel, threadTs, message.ts, text).catch(failed('answer the follow-up'));
  });
}
