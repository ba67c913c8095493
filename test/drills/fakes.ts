import { performance } from 'node:perf_hooks';
import { startAnthropicFake, type AnthropicFake } from '../fakes/anthropic-fake.ts';
import { startSlackFake, type SlackCall, type SlackFake } from '../fakes/slack-fake.ts';
import { startSmtpCapture, type CapturedMail } from '../support/smtp-capture.ts';
import { TEAMMATES, indexInAddress } from './forwards.ts';
import type { Random } from './random.ts';

/**
 * The outside world of one drill, in the drill's process: Slack and the SMTP server answer
 * after realistic delays, and every write they see is journalled with its time, so the counts
 * at the end come from what reached the outside, not from what the service believes it did.
 */
export const BOT_TOKEN = 'xoxb-drill-bot-token';
export const SIGNING_SECRET = 'drill-signing-secret-0123456789';
export const ANTHROPIC_KEY = 'sk-ant-drill-key';
export const APPROVALS_CHANNEL = 'C0APPROVALS';
export const APPROVER = 'U0ALICE';

export interface CardPost {
  /** ms since the drill started. */
  t: number;
  ts: string;
  index: number | null;
}

export interface DraftPost {
  t: number;
  ts: string;
  threadTs: string | null;
  draftId: string | null;
  index: number | null;
}

export interface DraftUpdate {
  t: number;
  ts: string;
  /** The updated message still has Approve/Reject buttons. */
  live: boolean;
  text: string;
}

export interface SentMail {
  t: number;
  index: number | null;
  to: string[];
  inReplyTo: string | null;
  messageId: string | null;
  subject: string;
}

export interface Journal {
  cards: CardPost[];
  draftPosts: DraftPost[];
  updates: DraftUpdate[];
  mails: SentMail[];
  ephemerals: { t: number; user: string; text: string }[];
  /** Top-level messages that are not cards: the service's announcements (a stalled mailbox, a job given up). */
  notices: { t: number; text: string }[];
  /** ms since start of the last call or message either fake saw (for "quiet for a while"). */
  lastActivity: number;
}

/** What a kill armed for "the next outside write" saw when it fired. */
export type WriteKind = 'slack card' | 'slack draft message' | 'slack update' | 'smtp message';

export interface DrillFakes {
  slack: SlackFake;
  anthropic: AnthropicFake;
  smtpPort: number;
  journal: Journal;
  /**
   * Arm a one-shot hook that runs as the next outside write is recorded, before its answer
   * leaves (the answer waits out its delay): the service has then acted without knowing it.
   */
  armOnNextWrite(hook: ((kind: WriteKind, index: number | null) => void) | null): void;
  close(): Promise<void>;
}

export interface FakeDelays {
  /** Slack Web API answer delay range, ms. */
  slackMs: [number, number];
  /** SMTP DATA → 250 delay range, ms. */
  smtpMs: [number, number];
}

export async function startDrillFakes(options: { delays: FakeDelays; random: Random; startedAt: number }): Promise<DrillFakes> {
  const { delays, random, startedAt } = options;
  const now = () => performance.now() - startedAt;
  const journal: Journal = { cards: [], draftPosts: [], updates: [], mails: [], ephemerals: [], notices: [], lastActivity: 0 };
  let armed: ((kind: WriteKind, index: number | null) => void) | null = null;
  const fire = (kind: WriteKind, index: number | null) => {
    const hook = armed;
    armed = null;
    hook?.(kind, index);
  };

  const onSlackCall = (call: SlackCall, reply: Record<string, unknown>) => {
    const t = now();
    journal.lastActivity = t;
    const blocks = JSON.stringify(call.args.blocks ?? '');
    const ts = typeof reply.ts === 'string' ? reply.ts : '';
    if (call.method === 'chat.postMessage') {
      if (call.args.thread_ts) {
        const metadata = call.args.metadata as { event_payload?: { draft_id?: unknown } } | undefined;
        const fromMetadata = typeof metadata?.event_payload?.draft_id === 'string' ? metadata.event_payload.draft_id : null;
        const draftId = /"value":"([0-9a-f-]{36})"/.exec(blocks)?.[1] ?? fromMetadata;
        const post: DraftPost = { t, ts, threadTs: String(call.args.thread_ts), draftId, index: indexInAddress(blocks) };
        journal.draftPosts.push(post);
        fire('slack draft message', post.index);
      } else if (call.args.blocks === undefined) {
        journal.notices.push({ t, text: String(call.args.text ?? '') });
      } else {
        const card: CardPost = { t, ts, index: indexInAddress(blocks) };
        journal.cards.push(card);
        fire('slack card', card.index);
      }
    } else if (call.method === 'chat.update') {
      journal.updates.push({ t, ts: String(call.args.ts ?? ''), live: blocks.includes('draft_approve'), text: String(call.args.text ?? '') });
      fire('slack update', indexInAddress(blocks));
    } else if (call.method === 'chat.postEphemeral') {
      journal.ephemerals.push({ t, user: String(call.args.user ?? ''), text: String(call.args.text ?? '') });
    }
  };

  const slack = await startSlackFake({
    botToken: BOT_TOKEN,
    channelMembers: { [APPROVALS_CHANNEL]: [APPROVER, 'U0BOB'] },
    usersByEmail: Object.fromEntries(TEAMMATES.filter((teammate) => teammate.slackUser).map((teammate) => [teammate.address, teammate.slackUser as string])),
    responseDelayMs: () => Math.round(random.between(...delays.slackMs)),
    onCall: onSlackCall,
  });
  const anthropic = await startAnthropicFake({
    apiKey: ANTHROPIC_KEY,
    respond: () => 'Hi,\n\nThank you for your email. We have looked into this and will follow up with the details by Thursday.\n\nBest regards,\nAcme Ops',
  });
  const smtp = await startSmtpCapture({
    acceptDelayMs: () => Math.round(random.between(...delays.smtpMs)),
    onMessage: (mail: CapturedMail) => {
      const t = now();
      journal.lastActivity = t;
      const to = mail.envelope.to;
      const index = to.map(indexInAddress).find((value) => value !== null) ?? null;
      journal.mails.push({ t, index, to, inReplyTo: mail.parsed.inReplyTo ?? null, messageId: mail.parsed.messageId ?? null, subject: mail.parsed.subject ?? '' });
      fire('smtp message', index);
    },
  });

  return {
    slack,
    anthropic,
    smtpPort: smtp.port,
    journal,
    armOnNextWrite(hook) {
      armed = hook;
    },
    close: async () => {
      await Promise.all([slack.close(), anthropic.close(), smtp.close()]);
    },
  };
}
