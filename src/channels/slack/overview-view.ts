import type { App, types } from '@slack/bolt';
import { formatUsd } from '../../brains/weekly-budget.ts';
import { escapeMrkdwn } from './blocks.ts';
import { botIdentity } from './bot-identity.ts';

type KnownBlock = types.KnownBlock;

/** What the team sees at a glance (App Home, /adjutant status). */
export interface Overview {
  /** Drafts waiting for a decision, oldest first. */
  /** The longest-waiting drafts (a few), oldest first. */
  pending: { draftId: string; subject: string; to: string; since: Date; channel: string | null; cardTs: string | null }[];
  /** How many drafts wait in all. */
  pendingTotal: number;
  /** Sends that need a person: failed, may have been sent. */
  attention: { draftId: string; status: string; subject: string; to: string; error: string | null; channel: string | null; cardTs: string | null }[];
  deadJobs: { id: string; name: string; failCount: number; reason: string | null }[];
  retrying: { name: string; nextRunAt: Date; reason: string | null }[];
  /** The mailbox watcher's health. */
  mailbox: { status: 'ok'; detail?: string } | { status: 'disabled'; reason: string } | { status: 'failing'; error: string };
  models: { spentUsd: number; limitUsd: number; localCalls: number; servedCalls: number };
  /** External MCP servers our agents use, and their tool calls waiting for approval (absent when none are configured). */
  tools?: {
    servers: { name: string; state: 'connecting' | 'connected' | 'unavailable'; tools: number; problem: string | null }[];
    waiting: { tool: string; server: string; purpose: string; since: Date; channel: string | null; cardTs: string | null }[];
  };
}

/**
 * Links to messages in this workspace, in Slack's permalink form, from the workspace URL
 * (the bot's identity, asked once): no API call per row.
 */
export function slackLinks(app: App): () => Promise<CardLink> {
  return async () => {
    const { url } = await botIdentity(app.client);
    return (channel, ts) => `${url}archives/${channel}/p${ts.replace('.', '')}`;
  };
}

/** The Retry button of a job that gave up, on the App Home (action ids are unique per block: the job id follows). */
export const ACTION_RETRY_JOB = 'job_retry';

/** A link to a card, built from its channel and ts (the permalink form; no API call per row). */
export type CardLink = (channel: string, ts: string) => string;

/** "3 h", "2 d": how long something has waited. */
export function age(since: Date, now: Date): string {
  const minutes = Math.max(0, Math.round((now.getTime() - since.getTime()) / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} h` : `${Math.round(hours / 24)} d`;
}

function linked(text: string, channel: string | null, ts: string | null, link: CardLink): string {
  const shown = escapeMrkdwn(text).replace(/\|/g, '¦');
  return channel && ts ? `<${link(channel, ts)}|${shown}>` : shown;
}

/** The lines of the overview, as Slack mrkdwn: the same for App Home and /adjutant status. */
export function overviewSections(overview: Overview, now: Date, link: CardLink): { title: string; lines: string[] }[] {
  const sections: { title: string; lines: string[] }[] = [];
  sections.push({
    title: `Waiting for approval (${overview.pendingTotal})`,
    lines:
      overview.pending.length === 0
        ? ['Nothing waits for a decision.']
        : [
            ...overview.pending.map((draft) => `• ${linked(draft.subject, draft.channel, draft.cardTs, link)} to ${escapeMrkdwn(draft.to)}, waiting ${age(draft.since, now)}`),
            ...(overview.pendingTotal > overview.pending.length ? [`…and ${overview.pendingTotal - overview.pending.length} more, waiting less long.`] : []),
          ],
  });
  if (overview.attention.length > 0) {
    sections.push({
      title: `Sends that need you (${overview.attention.length})`,
      lines: overview.attention.map((draft) => `• ${linked(draft.subject, draft.channel, draft.cardTs, link)} to ${escapeMrkdwn(draft.to)}: ${draft.status === 'unknown' ? 'may have been sent' : 'failed'}${draft.error ? ` (${escapeMrkdwn(draft.error.slice(0, 200))})` : ''}`),
    });
  }
  const mailbox = overview.mailbox;
  sections.push({
    title: 'Mailbox',
    lines: [mailbox.status === 'ok' ? `✅ ${escapeMrkdwn(mailbox.detail ?? 'watching')}` : mailbox.status === 'failing' ? `⚠️ ${escapeMrkdwn(mailbox.error)}` : `Not watched: ${escapeMrkdwn(mailbox.reason)}`],
  });
  if (overview.tools && overview.tools.servers.length > 0) {
    sections.push({
      title: 'Other systems (MCP)',
      lines: [
        ...overview.tools.servers.map((server) =>
          server.state === 'connected'
            ? `✅ ${escapeMrkdwn(server.name)}: ${server.tools} tool(s)${server.problem ? ` (last problem: ${escapeMrkdwn(server.problem.slice(0, 200))})` : ''}`
            : `⚠️ ${escapeMrkdwn(server.name)}: ${server.state === 'connecting' ? 'connecting' : `unavailable${server.problem ? `: ${escapeMrkdwn(server.problem.slice(0, 200))}` : ''}`}`,
        ),
        ...overview.tools.waiting.map((call) => `• 🔧 ${linked(`${call.tool} on ${call.server}`, call.channel, call.cardTs, link)} for ${escapeMrkdwn(call.purpose.slice(0, 150))}, waiting ${age(call.since, now)}`),
      ],
    });
  }
  const failing = [
    ...overview.deadJobs.map((job) => `• ⚠️ ${escapeMrkdwn(job.name)} gave up after ${job.failCount} tries: ${escapeMrkdwn((job.reason ?? 'no reason recorded').slice(0, 200))}`),
    ...overview.retrying.map((job) => `• ⏳ ${escapeMrkdwn(job.name)} retries at ${job.nextRunAt.toISOString().slice(11, 16)} UTC: ${escapeMrkdwn((job.reason ?? 'no reason recorded').slice(0, 200))}`),
  ];
  sections.push({ title: 'Jobs', lines: failing.length === 0 ? ['All jobs are running normally.'] : failing });
  const week = overview.models;
  const share = week.servedCalls === 0 ? 'no calls yet' : `${Math.round((week.localCalls / week.servedCalls) * 100)}% served locally (${week.localCalls} of ${week.servedCalls} calls)`;
  sections.push({ title: 'Models this week', lines: [`${formatUsd(week.spentUsd)} of ${formatUsd(week.limitUsd)} spent; ${share}.`] });
  return sections;
}

export function overviewText(overview: Overview, now: Date, link: CardLink): string {
  return overviewSections(overview, now, link)
    .map((section) => [`*${section.title}*`, ...section.lines].join('\n'))
    .join('\n\n')
    .slice(0, 3900);
}

/** The App Home tab. */
export function homeView(overview: Overview, now: Date, link: CardLink): types.HomeView {
  const blocks: KnownBlock[] = [{ type: 'header', text: { type: 'plain_text', text: 'Adjutant' } }];
  for (const section of overviewSections(overview, now, link)) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*${section.title}*\n${section.lines.join('\n')}`.slice(0, 2900) } });
    // Jobs that gave up can be run again from here (approvers only).
    if (section.title === 'Jobs' && overview.deadJobs.length > 0) {
      blocks.push({
        type: 'actions',
        block_id: 'dead_jobs',
        elements: overview.deadJobs.slice(0, 5).map((job) => ({ type: 'button' as const, action_id: `${ACTION_RETRY_JOB}:${job.id}`, text: { type: 'plain_text' as const, text: `Retry ${job.name}`.slice(0, 75) }, value: job.id })),
      });
    }
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `Updated ${now.toISOString().slice(0, 16).replace('T', ' ')} UTC · /adjutant help` }] });
  return { type: 'home', blocks };
}
