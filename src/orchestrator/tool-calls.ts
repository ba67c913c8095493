import { ToolCallPending, type ToolOutcome, type ToolRunner } from '../brains/tool-use.ts';
import type { ChatMessage, ToolCall } from '../brains/types.ts';
import type { Database } from '../db/database.ts';
import { Prisma } from '../db/generated/client.ts';
import type { Logger } from '../logger.ts';
import type { AuditEvent, AuditLog } from '../memory/audit.ts';
import { modelToolName, type ExternalTool, type ExternalTools, type ServerStatus } from '../mcp/client/external-tools.ts';
import type { JobQueue } from './job-queue.ts';
import { JOB_TOOL_DECIDED, JOB_TOOL_REQUEST_APPROVAL } from './job-names.ts';

/** What a piece of work that uses tools serves, and the job that carries it on after a decision. */
export interface ToolWork {
  served: { kind: 'email' | 'question'; id: string };
  /** Run (with a fresh key) once a waiting call is decided: the work starts again and finds the outcome. */
  resume: { job: string; key: string; data: Record<string, unknown> };
  /** What the approval card says the call is for ("the reply to “Order 1182” from ana@…"). */
  purpose: string;
}

export type ToolCallStatus = 'pending' | 'approved' | 'running' | 'succeeded' | 'failed' | 'rejected' | 'interrupted';

/** A write call as the approval card shows it. */
export interface ToolCallRecord {
  id: string;
  server: string;
  tool: string;
  arguments: Record<string, unknown>;
  status: ToolCallStatus;
  result: string | null;
  isError: boolean;
  purpose: string;
  requestedAt: Date;
  decidedBy: string | null;
  decidedAt: Date | null;
  slackChannel: string | null;
  slackTs: string | null;
}

export type ToolDecisionOutcome = { kind: 'decided'; call: ToolCallRecord } | { kind: 'already-decided'; call: ToolCallRecord } | { kind: 'not-allowed' } | { kind: 'not-found' };

/**
 * Our agents' use of the team's other systems (external MCP servers), with a person in the loop
 * for anything that changes something. A `read` tool runs when the model asks. A `write` tool
 * (every tool not marked read) is stored as a pending call, an approval card goes to Slack, and
 * the work stops (ToolCallPending). Approve runs it once; Reject records why not; either way the
 * work runs again and finds the outcome among its prior turns. Every call is in the audit log
 * under what it served, so an email's timeline shows it.
 */
export interface ToolGate {
  /** The tools for one piece of work; undefined when no external server is configured. */
  runnerFor(work: ToolWork): Promise<ToolRunner | undefined>;
  /** A teammate's Approve or Reject: the approver check, then one conditional change. */
  decide(request: { callId: string; userId: string; decision: 'approved' | 'rejected'; channel: string | null }): Promise<ToolDecisionOutcome>;
  get(callId: string): Promise<ToolCallRecord | null>;
  /** Runs an approved call (at most once: a crash mid-call leaves it `interrupted`, never run twice). */
  runDecided(callId: string): Promise<ToolCallRecord | null>;
  /** Where its card was posted. */
  setCard(callId: string, channel: string, ts: string): Promise<void>;
  /** Calls waiting for a decision, oldest first. */
  waiting(limit: number): Promise<ToolCallRecord[]>;
  /** Each external server: connected (with how many tools) or unavailable and why. */
  servers(): ServerStatus[];
}

export interface ToolGateDeps {
  database: Pick<Database, 'prisma'>;
  tools: ExternalTools;
  audit: AuditLog;
  queue: Pick<JobQueue, 'enqueue'>;
  /** The approver check (audits and tells a refusal). */
  allow(userId: string, what: { action: string; entityType: 'tool_call'; entityId: string; channel: string | null }): Promise<boolean>;
  /** Whether anyone can be asked (Slack with an approvals channel): without it, write tools are not offered. */
  canAsk: boolean;
  now(): Date;
  logger: Logger;
}

const DECIDED: ToolCallStatus[] = ['succeeded', 'failed', 'rejected', 'interrupted'];

export function createToolGate(deps: ToolGateDeps): ToolGate {
  const { prisma } = deps.database;
  const { tools, audit, logger } = deps;

  const auditFor = (work: ToolWork['served'], actor: string, action: string, data: Record<string, unknown>) =>
    audit
      .record({ actor, action, entityType: work.kind satisfies AuditEvent['entityType'], entityId: work.id, data })
      .catch((error: unknown) => logger.warn({ err: error, action }, 'could not audit a tool call'));

  async function find(id: string) {
    return prisma.toolCall.findUnique({ where: { id } }).catch(() => null);
  }

  function outcomeOf(row: ToolRow): ToolOutcome {
    if (row.status === 'rejected') return { content: `A teammate rejected this call${row.result ? `: ${row.result}` : ''}. Do not call it again; carry on without it.`, isError: true };
    if (row.status === 'interrupted') return { content: `This call was interrupted and may or may not have taken effect (${row.result ?? 'no details'}). Do not call it again.`, isError: true };
    return { content: row.result ?? '(no output)', isError: row.isError };
  }

  async function requestApproval(work: ToolWork, tool: ExternalTool, call: ToolCall): Promise<never> {
    const argumentsKey = canonicalJson(call.input);
    const where = { servedKind: work.served.kind, servedId: work.served.id, server: tool.server, tool: tool.tool, argumentsKey };
    let row = await prisma.toolCall.findFirst({ where });
    if (!row) {
      try {
        row = await prisma.toolCall.create({ data: { ...where, arguments: call.input as Prisma.InputJsonObject, resume: { ...work.resume, purpose: work.purpose } as Prisma.InputJsonObject } });
        await auditFor(work.served, 'adjutant', 'tool.approval_requested', { callId: row.id, server: tool.server, tool: tool.tool, arguments: call.input });
      } catch (error) {
        // The same call asked for at the same moment by another run: that row is the one.
        if (!(error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002')) throw error;
        row = await prisma.toolCall.findFirstOrThrow({ where });
      }
    }
    if (DECIDED.includes(row.status as ToolCallStatus)) throw new DecidedMeanwhile(row);
    // Keyed by the call: asked again while it waits, the card is posted once.
    await deps.queue.enqueue(JOB_TOOL_REQUEST_APPROVAL, row.id, { callId: row.id });
    throw new ToolCallPending(row.id, tool.name);
  }

  return {
    async runnerFor(work) {
      const offered = tools.list();
      if (offered.length === 0 && tools.status().length === 0) return undefined;
      // Calls decided since this work last ran are replayed: the model continues from them.
      const decided = await prisma.toolCall.findMany({ where: { servedKind: work.served.kind, servedId: work.served.id, status: { in: DECIDED } }, orderBy: { requestedAt: 'asc' } });
      const priorTurns: ChatMessage[] = [];
      if (decided.length > 0) {
        const calls = decided.map((row) => ({ id: `prior_${row.id.replaceAll('-', '')}`, name: modelToolName(row.server, row.tool), input: row.arguments as Record<string, unknown> }));
        priorTurns.push({ role: 'assistant', content: '', toolCalls: calls });
        for (const [index, row] of decided.entries()) {
          const outcome = outcomeOf(row);
          priorTurns.push({ role: 'tool', toolCallId: calls[index]?.id ?? '', name: calls[index]?.name ?? row.tool, content: outcome.content, ...(outcome.isError ? { isError: true } : {}) });
        }
      }
      return {
        // A write call nobody can approve would hold the work for ever: with no one to ask, the
        // model sees only the tools that read.
        definitions: offered.filter((tool) => deps.canAsk || tool.policy === 'read').map((tool) => tool.definition),
        priorTurns,
        async run(call) {
          const tool = tools.find(call.name);
          if (!tool) return { content: `Tool ${call.name} is unavailable now (its server is not connected). Continue without it.`, isError: true };
          if (tool.policy === 'write' && !deps.canAsk) return { content: `Tool ${call.name} changes something and needs a teammate's approval, but no Slack approvals channel is configured. Continue without it.`, isError: true };
          if (tool.policy === 'write') {
            try {
              return await requestApproval(work, tool, call);
            } catch (error) {
              if (error instanceof DecidedMeanwhile) return outcomeOf(error.row);
              throw error;
            }
          }
          const outcome = await tools.call(tool, call.input);
          await auditFor(work.served, `mcp:${tool.server}`, outcome.isError ? 'tool.failed' : 'tool.called', { server: tool.server, tool: tool.tool, arguments: call.input, policy: 'read', result: outcome.content.slice(0, 500) });
          return outcome;
        },
      };
    },

    async decide({ callId, userId, decision, channel }) {
      const row = await find(callId);
      if (!row) return { kind: 'not-found' };
      if (!(await deps.allow(userId, { action: decision === 'approved' ? 'approve' : 'reject', entityType: 'tool_call', entityId: callId, channel }))) return { kind: 'not-allowed' };
      // One conditional change: a double click or Slack's retry decides once.
      const changed = await prisma.toolCall.updateMany({ where: { id: callId, status: 'pending' }, data: { status: decision, decidedBy: userId, decidedAt: deps.now() } });
      const after = (await find(callId)) ?? row;
      if (changed.count === 0) return { kind: 'already-decided', call: recordOf(after) };
      await auditFor(servedOf(after), userId, decision === 'approved' ? 'tool.approved' : 'tool.rejected', { callId, server: after.server, tool: after.tool, arguments: after.arguments });
      await deps.queue.enqueue(JOB_TOOL_DECIDED, callId, { callId });
      return { kind: 'decided', call: recordOf(after) };
    },

    async get(callId) {
      const row = await find(callId);
      return row ? recordOf(row) : null;
    },

    async runDecided(callId) {
      const row = await find(callId);
      if (!row) return null;
      const served = servedOf(row);
      // Claimed before the call: a retry of this job after a crash finds `running`, and a write
      // that may have happened is reported, never repeated.
      const claimed = await prisma.toolCall.updateMany({ where: { id: callId, status: 'approved' }, data: { status: 'running' } });
      if (claimed.count === 1) {
        const tool = tools.find(modelToolName(row.server, row.tool));
        const outcome = tool ? await tools.call(tool, row.arguments as Record<string, unknown>) : { content: `server ${row.server} is not connected`, isError: true };
        await prisma.toolCall.update({ where: { id: callId }, data: { status: outcome.isError ? 'failed' : 'succeeded', result: outcome.content, isError: outcome.isError, finishedAt: deps.now() } });
        await auditFor(served, `mcp:${row.server}`, outcome.isError ? 'tool.failed' : 'tool.succeeded', { callId, server: row.server, tool: row.tool, result: outcome.content.slice(0, 500) });
      } else if (row.status === 'running') {
        await prisma.toolCall.updateMany({ where: { id: callId, status: 'running' }, data: { status: 'interrupted', result: 'the worker stopped during the call', finishedAt: deps.now() } });
        await auditFor(served, 'adjutant', 'tool.interrupted', { callId, server: row.server, tool: row.tool });
      }
      const done = await find(callId);
      if (!done || !DECIDED.includes(done.status as ToolCallStatus)) return done ? recordOf(done) : null;
      const resume = resumeOf(done);
      if (resume) await deps.queue.enqueue(resume.job, `${resume.key}:after-tool:${callId}`, resume.data);
      return recordOf(done);
    },

    async setCard(callId, channel, ts) {
      await prisma.toolCall.update({ where: { id: callId }, data: { slackChannel: channel, slackTs: ts } });
    },

    servers() {
      return tools.status();
    },

    async waiting(limit) {
      const rows = await prisma.toolCall.findMany({ where: { status: 'pending' }, orderBy: { requestedAt: 'asc' }, take: limit });
      return rows.map(recordOf);
    },
  };
}

type ToolRow = NonNullable<Awaited<ReturnType<Database['prisma']['toolCall']['findUnique']>>>;

/** Thrown inside requestApproval when the call found is already decided: its outcome is fed back. */
class DecidedMeanwhile extends Error {
  constructor(readonly row: ToolRow) {
    super('decided');
  }
}

function servedOf(row: ToolRow): ToolWork['served'] {
  return { kind: row.servedKind === 'question' ? 'question' : 'email', id: row.servedId };
}

function resumeOf(row: ToolRow): ToolWork['resume'] | null {
  const resume = row.resume as Partial<ToolWork['resume']> | null;
  if (!resume || typeof resume.job !== 'string' || typeof resume.key !== 'string' || typeof resume.data !== 'object' || resume.data === null) return null;
  return { job: resume.job, key: resume.key, data: resume.data };
}

function recordOf(row: ToolRow): ToolCallRecord {
  const resume = row.resume as { purpose?: unknown } | null;
  return {
    id: row.id,
    server: row.server,
    tool: row.tool,
    arguments: row.arguments as Record<string, unknown>,
    status: row.status as ToolCallStatus,
    result: row.result,
    isError: row.isError,
    purpose: typeof resume?.purpose === 'string' ? resume.purpose : `${row.servedKind} ${row.servedId}`,
    requestedAt: row.requestedAt,
    decidedBy: row.decidedBy,
    decidedAt: row.decidedAt,
    slackChannel: row.slackChannel,
    slackTs: row.slackTs,
  };
}

/** The same arguments in any key order are the same call. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
