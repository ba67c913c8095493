import { answerQuestion, formatAnswer } from '../agents/answerer.ts';
import type { ModelRouter } from '../brains/router.ts';
import { createWeeklyBudget, type WeekSpend } from '../brains/weekly-budget.ts';
import type { Database } from '../db/database.ts';
import { readDeadJobs, readRetryingJobs, type DeadJob, type RetryingJob } from '../db/job-table.ts';
import type { HealthRegistry, PartReport } from '../health.ts';
import type { Memory } from '../memory/memory.ts';
import type { ApprovalService } from './approvals.ts';
import type { Draft } from './draft-store.ts';
import { escapeMrkdwn as escape } from '../channels/slack/blocks.ts';

/** What the team sees at a glance (App Home, /adjutant status). */
export interface Overview {
  /** Drafts waiting for a decision, oldest first. */
  pending: { draftId: string; subject: string; to: string; since: Date; channel: string | null; cardTs: string | null }[];
  /** Sends that need a person: failed, may have been sent. */
  attention: { draftId: string; status: string; subject: string; to: string; error: string | null; channel: string | null; cardTs: string | null }[];
  deadJobs: DeadJob[];
  retrying: RetryingJob[];
  /** The mailbox watcher's health (disabled when IMAP is not configured). */
  mailbox: PartReport;
  models: WeekSpend;
}

export interface ConversationTurn {
  role: 'user' | 'assistant';
  text: string;
}

/** What Slack's listeners ask of the rest of Adjutant: they stay free of the memory and the models. */
export interface TeamAssistant {
  /** An answer from memory with numbered citations, as Slack mrkdwn. */
  ask(input: { question: string; askedIn: { channel: string } | null; history: ConversationTurn[]; questionId: string }): Promise<string>;
  /** The best matches, as Slack mrkdwn. */
  search(input: { text: string; askedIn: { channel: string } | null; questionId: string }): Promise<string>;
  /** Store a fact said by a teammate; a newer statement on the same subject supersedes. */
  remember(input: { text: string; userId: string; channel: string; isPrivate: boolean; ref: string }): Promise<string>;
  overview(): Promise<Overview>;
  /** A teammate's reply in a draft card's thread, taken as a redraft instruction. */
  redraftFromThread(input: { channel: string; threadTs: string; userId: string; text: string }): Promise<'queued' | 'not-a-draft' | 'not-allowed' | 'not-pending' | 'no-model'>;
}

export interface TeamAssistantDeps {
  memory: Memory;
  router: ModelRouter | null;
  database: Pick<Database, 'pool' | 'prisma'>;
  health: HealthRegistry;
  approvals: ApprovalService;
  weeklyBudgetUsd: number;
}

const MAX_LISTED = 15;

export function createTeamAssistant(deps: TeamAssistantDeps): TeamAssistant {
  const { memory, router, database } = deps;
  return {
    async ask({ question, askedIn, history, questionId }) {
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
      const [pendingRows, attentionRows, deadJobs, retrying, health, models] = await Promise.all([
        database.prisma.draft.findMany({ where: { status: 'pending' }, orderBy: { createdAt: 'asc' }, take: MAX_LISTED }),
        database.prisma.draft.findMany({ where: { status: { in: ['failed', 'unknown'] } }, orderBy: { updatedAt: 'asc' }, take: MAX_LISTED }),
        readDeadJobs(database.pool, MAX_LISTED),
        readRetryingJobs(database.pool, MAX_LISTED),
        deps.health.report(),
        createWeeklyBudget({ pool: database.pool, limitUsd: deps.weeklyBudgetUsd }).week(),
      ]);
      // A version made by an edit or a redraft is as old as the first draft for its email.
      const firstOf = await firstDraftTimes(database, pendingRows);
      return {
        pending: pendingRows
          .map((draft) => ({ draftId: draft.id, subject: draft.subject, to: draft.toAddress, since: firstOf.get(draft.emailId) ?? draft.createdAt, channel: draft.slackChannel, cardTs: draft.slackCardTs }))
          .sort((a, b) => a.since.getTime() - b.since.getTime()),
        attention: attentionRows.map((draft) => ({ draftId: draft.id, status: draft.status, subject: draft.subject, to: draft.toAddress, error: draft.error, channel: draft.slackChannel, cardTs: draft.slackCardTs })),
        deadJobs,
        retrying,
        mailbox: health.parts.imap ?? { status: 'disabled', reason: 'IMAP is not configured' },
        models,
      };
    },
    async redraftFromThread({ channel, threadTs, userId, text }) {
      const draft = await database.prisma.draft.findFirst({ where: { slackChannel: channel, slackCardTs: threadTs }, orderBy: { version: 'desc' } });
      if (!draft) return 'not-a-draft';
      const outcome = await deps.approvals.redraft({ draftId: draft.id, userId, instruction: text, channel });
      return outcome.kind === 'queued' ? 'queued' : outcome.kind === 'not-found' ? 'not-a-draft' : outcome.kind;
    },
  };
}

async function firstDraftTimes(database: Pick<Database, 'prisma'>, drafts: Pick<Draft, 'emailId'>[]): Promise<Map<string, Date>> {
  if (drafts.length === 0) return new Map();
  const firsts = await database.prisma.draft.findMany({ where: { emailId: { in: drafts.map((draft) => draft.emailId) }, version: 1 }, select: { emailId: true, createdAt: true } });
  return new Map(firsts.map((first) => [first.emailId, first.createdAt]));
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

