import { answerQuestion, formatAnswer } from '../agents/answerer.ts';
import type { ModelRouter } from '../brains/router.ts';
import { createWeeklyBudget, formatUsd } from '../brains/weekly-budget.ts';
import { emailTimeline, findEmails } from '../memory/timeline.ts';
import type { AskingPort } from '../channels/slack/asking.ts';
import type { HomePort } from '../channels/slack/home.ts';
import type { Overview } from '../channels/slack/overview-view.ts';
import type { Database } from '../db/database.ts';
import { readDeadJobs, readRetryingJobs, reviveDeadJob } from '../db/job-table.ts';
import type { HealthRegistry } from '../health.ts';
import type { Memory } from '../memory/memory.ts';
import type { ApprovalService } from './approvals.ts';
import type { Briefings } from './briefings.ts';
import type { DraftStore } from './draft-store.ts';
import { escapeMrkdwn as escape } from '../channels/slack/blocks.ts';
import { answerForSlack } from './jobs/answer-question.ts';
import type { ToolGate } from './tool-calls.ts';

/**
 * What Slack's asking and home listeners ask of the rest of Adjutant (their ports, declared
 * next to them); they stay free of memory, models and the database.
 */
export type TeamAssistant = AskingPort & HomePort;

export interface TeamAssistantDeps {
  memory: Memory;
  router: ModelRouter | null;
  database: Pick<Database, 'pool' | 'prisma'>;
  health: HealthRegistry;
  approvals: ApprovalService;
  drafts: Pick<DraftStore, 'waiting'>;
  briefings: Pick<Briefings, 'onDemand'>;
  weeklyBudgetUsd: number;
  /** The team's other systems (external MCP servers), when configured. */
  tools?: ToolGate | null;
}

const MAX_LISTED = 15;

export function createTeamAssistant(deps: TeamAssistantDeps): TeamAssistant {
  const { memory, router, database } = deps;
  const timeline = async (wanted: string): Promise<string> => {
    const [email, ...others] = await findEmails(database.pool, wanted);
    if (!email) return `No email matches “${escape(wanted)}”.`;
    const entries = await emailTimeline(database.prisma, email.id);
    const lines = entries.slice(-25).map((entry) => `\`${entry.at.toISOString().slice(0, 16).replace('T', ' ')}\` ${escape(entry.action)} · ${escape(entry.actor)}${typeof entry.detail.costUsd === 'number' && entry.detail.costUsd > 0 ? ` · ${formatUsd(entry.detail.costUsd)}` : ''}`);
    const more = others.length > 0 ? `\n_Also matching: ${others.map((other) => `“${escape(other.subject)}”`).join(', ')} (say more of the subject to pick one)_` : '';
    return `*${escape(email.subject || '(no subject)')}* from ${escape(email.fromAddress ?? 'unknown')}, received ${email.receivedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC\n${lines.join('\n') || 'Nothing recorded.'}${more}`.slice(0, 3900);
  };
  return {
    async ask({ question, askedIn, history, questionId, replyIn }) {
      // Tools need a place to answer later (a call may wait for approval): with none, memory only.
      if (replyIn && deps.tools) return answerForSlack({ memory, router, tools: deps.tools }, { question, askedIn, history, questionId, replyIn }, new Date());
      return formatAnswer(await answerQuestion({ router, memory }, { question, askedIn, history, questionId, now: new Date() }));
    },
    async search({ text, askedIn, questionId }) {
      // The answerer without a model lists the best matches: the same citations and escaping.
      return formatAnswer(await answerQuestion({ router: null, memory }, { question: text, askedIn, history: [], questionId, now: new Date() }));
    },
    async remember({ text, userId, channel, isPrivate, ref }) {
      const { subject, statement } = splitFact(text);
      const result = await memory.storeFact({
        subject,
        statement,
        saidBy: userId,
        sourceType: 'slack',
        sourceRef: ref,
        occurredAt: new Date(),
        scope: isPrivate ? { kind: 'channel', channel } : { kind: 'team' },
        actor: userId,
      });
      const where = isPrivate ? ' (only asks made in this channel will see it)' : '';
      if (result.outcome === 'duplicate') return `Already known: “${escape(result.fact.statement)}”.`;
      if (result.outcome === 'superseded' && result.previous) return `Remembered${where}: “${escape(statement)}”. It replaces “${escape(result.previous.statement)}” (kept in its history).`;
      return `Remembered${where}: “${escape(statement)}”.`;
    },
    async overview() {
      const [waiting, attentionRows, deadJobs, retrying, health, models] = await Promise.all([
        deps.drafts.waiting(MAX_LISTED),
        database.prisma.draft.findMany({ where: { status: { in: ['failed', 'unknown'] } }, orderBy: { updatedAt: 'asc' }, take: MAX_LISTED }),
        readDeadJobs(database.pool, MAX_LISTED),
        readRetryingJobs(database.pool, MAX_LISTED),
        deps.health.report(),
        createWeeklyBudget({ pool: database.pool, limitUsd: deps.weeklyBudgetUsd }).week(),
      ]);
      return {
        pending: waiting.drafts.map((draft) => ({ draftId: draft.id, subject: draft.subject, to: draft.toAddress, since: draft.waitingSince, channel: draft.slackChannel, cardTs: draft.slackCardTs })),
        pendingTotal: waiting.total,
        attention: attentionRows.map((draft) => ({ draftId: draft.id, status: draft.status, subject: draft.subject, to: draft.toAddress, error: draft.error, channel: draft.slackChannel, cardTs: draft.slackCardTs })),
        deadJobs,
        retrying,
        mailbox: health.parts.imap ?? { status: 'disabled', reason: 'IMAP is not configured' },
        models,
        ...(deps.tools ? { tools: await toolsOverview(deps.tools) } : {}),
      };
    },
    briefing() {
      return deps.briefings.onDemand(new Date());
    },
    async retryJob({ jobId, userId }) {
      if (!(await deps.approvals.allow(userId, { action: 'retry', entityType: 'job', entityId: jobId, channel: null }))) return 'not-allowed';
      return (await reviveDeadJob(database.pool, jobId)) ? 'retried' : 'not-dead';
    },
    timeline,
    async cardTimeline({ emailId, userId, channel }) {
      // A card's buttons are the approvers' (the refusal is audited, and told only to that person).
      if (!(await deps.approvals.allow(userId, { action: 'timeline', entityType: 'email', entityId: emailId, channel }))) return { kind: 'not-allowed' };
      return { kind: 'shown', text: await timeline(emailId) };
    },
    async markThreadAnswered(channel, threadTs) {
      // ON CONFLICT DO NOTHING: a second mention in the thread, answered at the same moment, is not an error.
      await database.prisma.slackBotThread.createMany({ data: [{ channel, threadTs }], skipDuplicates: true });
    },
    async threadAnswered(channel, threadTs) {
      return (await database.prisma.slackBotThread.findUnique({ where: { channel_threadTs: { channel, threadTs } }, select: { channel: true } })) !== null;
    },
    async redraftFromThread({ channel, threadTs, userId, text }) {
      const draft = await database.prisma.draft.findFirst({ where: { slackChannel: channel, slackCardTs: threadTs }, orderBy: { version: 'desc' } });
      if (!draft) return 'not-a-draft';
      const outcome = await deps.approvals.redraft({ draftId: draft.id, userId, instruction: text, channel });
      return outcome.kind === 'queued' ? 'queued' : outcome.kind === 'not-found' ? 'not-a-draft' : outcome.kind;
    },
  };
}

async function toolsOverview(gate: ToolGate): Promise<NonNullable<Overview['tools']>> {
  const waiting = await gate.waiting(MAX_LISTED);
  return {
    servers: gate.servers(),
    waiting: waiting.map((call) => ({ tool: call.tool, server: call.server, purpose: call.purpose, since: call.requestedAt, channel: call.slackChannel, cardTs: call.slackTs })),
  };
}

/**
 * "wifi password: hunter2" → subject "wifi password"; "The van is serviced on Fridays" → the
 * first words make the subject, so saying it again differently supersedes only when it starts
 * the same way. A colon is the way to name the subject on purpose (the help says so).
 */
export function splitFact(text: string): { subject: string; statement: string } {
  const statement = text.replace(/\s+/g, ' ').trim();
  const colon = statement.indexOf(':');
  if (colon > 0 && colon <= 80) return { subject: statement.slice(0, colon).trim(), statement };
  const words = statement.split(' ').slice(0, 4).join(' ');
  return { subject: words, statement };
}

