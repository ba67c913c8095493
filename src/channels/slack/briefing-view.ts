import type { types } from '@slack/bolt';
import { formatUsd } from '../../brains/weekly-budget.ts';
import { escapeMrkdwn } from './blocks.ts';
import { age, type CardLink, type Overview } from './overview-view.ts';

type KnownBlock = types.KnownBlock;

/** What the morning briefing is made of: data first (briefing-data.ts gathers it). */
export interface BriefingData {
  since: Date;
  now: Date;
  mail: {
    /** Mail received since the last briefing, by triage category ('forward' for teammates' forwards). */
    byCategory: Record<string, number>;
    /** The few that need attention: urgent, or tasks. */
    attention: { subject: string; from: string | null; summary: string | null; urgency: string | null; category: string | null; channel: string | null; cardTs: string | null }[];
  };
  pending: { subject: string; to: string; since: Date; channel: string | null; cardTs: string | null }[];
  /** Conversations whose last word is theirs, unanswered for a while. */
  waitingOnUs: { subject: string; from: string | null; since: Date; channel: string | null; cardTs: string | null }[];
  /** Dates promised or due today, from triage. */
  dueToday: { subject: string; what: string; kind: string; channel: string | null; cardTs: string | null }[];
  mailbox: Overview['mailbox'];
  jobs: { dead: { name: string; reason: string | null }[]; retrying: number };
  models: Overview['models'];
}

const CATEGORY_NAMES: Record<string, string> = {
  needs_reply: 'need a reply',
  task: 'tasks',
  fyi: 'FYI',
  newsletter: 'newsletters',
  automated: 'automated',
  spam: 'spam',
  forward: 'forwarded by the team',
  unsorted: 'not sorted yet',
};

function linked(text: string, channel: string | null, ts: string | null, link: CardLink): string {
  const shown = escapeMrkdwn(text || '(no subject)').replace(/\|/g, '¦');
  return channel && ts ? `<${link(channel, ts)}|${shown}>` : shown;
}

/**
 * The briefing as Block Kit, readable on a phone: one short section per subject, each left out
 * when it has nothing to say; the opening paragraph (a model's, when one is configured) first.
 */
export function briefingMessage(data: BriefingData, options: { opening: string | null; link: CardLink; title?: string }): { text: string; blocks: KnownBlock[] } {
  const { link } = options;
  const sections: string[] = [];
  const total = Object.values(data.mail.byCategory).reduce((sum, count) => sum + count, 0);
  if (total > 0) {
    const counts = Object.entries(data.mail.byCategory)
      .map(([category, count]) => `${count} ${CATEGORY_NAMES[category] ?? escapeMrkdwn(category)}`)
      .join(' · ');
    const lines = data.mail.attention.map((mail) => `• ${mail.urgency === 'high' ? '🔴 ' : ''}${linked(mail.subject, mail.channel, mail.cardTs, link)}${mail.from ? ` from ${escapeMrkdwn(mail.from)}` : ''}${mail.summary ? `: ${escapeMrkdwn(mail.summary)}` : ''}`);
    sections.push([`*Mail since ${data.since.toISOString().slice(0, 16).replace('T', ' ')} UTC* (${total}): ${counts}`, ...lines].join('\n'));
  }
  if (data.pending.length > 0) {
    sections.push([`*Drafts awaiting approval* (${data.pending.length})`, ...data.pending.map((draft) => `• ${linked(draft.subject, draft.channel, draft.cardTs, link)} to ${escapeMrkdwn(draft.to)}, waiting ${age(draft.since, data.now)}`)].join('\n'));
  }
  if (data.waitingOnUs.length > 0) {
    sections.push([`*Waiting on us*`, ...data.waitingOnUs.map((thread) => `• ${linked(thread.subject, thread.channel, thread.cardTs, link)}${thread.from ? ` from ${escapeMrkdwn(thread.from)}` : ''}, ${age(thread.since, data.now)} without an answer`)].join('\n'));
  }
  if (data.dueToday.length > 0) {
    sections.push([`*Due today*`, ...data.dueToday.map((due) => `• ${escapeMrkdwn(due.what)} (${escapeMrkdwn(due.kind)}): ${linked(due.subject, due.channel, due.cardTs, link)}`)].join('\n'));
  }
  const health: string[] = [];
  if (data.mailbox.status === 'failing') health.push(`⚠️ Mailbox: ${escapeMrkdwn(data.mailbox.error)}`);
  for (const job of data.jobs.dead) health.push(`⚠️ ${escapeMrkdwn(job.name)} gave up: ${escapeMrkdwn((job.reason ?? 'no reason recorded').slice(0, 160))}`);
  if (data.jobs.retrying > 0) health.push(`⏳ ${data.jobs.retrying} job(s) waiting to retry (see /adjutant status)`);
  if (health.length > 0) sections.push(['*Needs a look*', ...health].join('\n'));
  if (data.models.servedCalls > 0) {
    sections.push(`*Models this week*: ${formatUsd(data.models.spentUsd)} of ${formatUsd(data.models.limitUsd)}, ${Math.round((data.models.localCalls / data.models.servedCalls) * 100)}% served locally`);
  }

  const blocks: KnownBlock[] = [{ type: 'header', text: { type: 'plain_text', text: options.title ?? 'Morning briefing' } }];
  if (options.opening) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: escapeMrkdwn(options.opening).slice(0, 2900) } });
  if (sections.length === 0) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: 'Nothing new, nothing waiting. ✅' } });
  for (const section of sections) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: section.slice(0, 2900) } });
  const summary = total > 0 ? `${total} email(s), ${data.pending.length} draft(s) awaiting approval` : `${data.pending.length} draft(s) awaiting approval`;
  return { text: `${options.title ?? 'Morning briefing'}: ${summary}`, blocks };
}
