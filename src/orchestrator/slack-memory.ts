import type { SlackMemoryPort, SlackMessageMemory } from '../channels/slack/channel-memory.ts';
import type { PrismaClient } from '../db/database.ts';
import type { Memory } from '../memory/memory.ts';

const ACTOR = 'slack';

/** Slack's `<channel>/<ts>` identifies a message for as long as it exists. */
export function slackSourceRef(channel: string, ts: string): string {
  return `${channel}/${ts}`;
}

/** The first words of a message, as its title in search results. */
function titleOf(text: string): string {
  const words = text.replace(/\s+/g, ' ').trim().split(' ');
  return words.slice(0, 8).join(' ') + (words.length > 8 ? '…' : '');
}

/** Remembers what the Slack channel hands over, as items with their permalink and scope. */
export function slackMemoryPort(deps: { memory: Memory; prisma: PrismaClient }): SlackMemoryPort {
  const { memory, prisma } = deps;
  return {
    async rememberMessage(message: SlackMessageMemory) {
      await memory.remember({
        kind: 'slack_message',
        title: titleOf(message.text),
        content: message.text,
        sourceType: 'slack',
        sourceRef: slackSourceRef(message.channel, message.ts),
        url: message.permalink,
        author: message.user,
        occurredAt: message.postedAt,
        scope: message.private ? { kind: 'channel', channel: message.channel } : { kind: 'team' },
        actor: ACTOR,
      });
    },
    async forgetMessage(channel, ts) {
      await memory.forget({ sourceType: 'slack', sourceRef: slackSourceRef(channel, ts) }, ACTOR);
    },
    async botInThread(channel, threadTs) {
      // The bot's threads: those it answered in (a mention; the record asking keeps), and its
      // cards (a draft's card starts one in the approvals channel).
      const [answered, card] = await Promise.all([
        prisma.slackBotThread.findUnique({ where: { channel_threadTs: { channel, threadTs } }, select: { channel: true } }),
        prisma.draft.findFirst({ where: { slackChannel: channel, slackCardTs: threadTs }, select: { id: true } }),
      ]);
      return answered !== null || card !== null;
    },
  };
}
