import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolCallPending } from '../src/brains/tool-use.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createAuditLog } from '../src/memory/audit.ts';
import { connectExternalTools, type ExternalTools } from '../src/mcp/client/external-tools.ts';
import { createJobQueue } from '../src/orchestrator/job-queue.ts';
import { JOB_TOOL_REQUEST_APPROVAL } from '../src/orchestrator/job-names.ts';
import { createToolGate, type ToolGate } from '../src/orchestrator/tool-calls.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
import { waitUntil } from './support/wait.ts';

/**
 * The tool gate on its own, against PostgreSQL and a real stdio MCP server: the same call asked for
 * twice is one row and one card; a call that was running when its worker died is reported as
 * interrupted (it may have taken effect) and never run again; arguments in another key order are
 * the same call.
 */
const logger = createLogger({ level: 'silent' });
const SERVER_SCRIPT = new URL('./fakes/mcp-tools-server.mjs', import.meta.url).pathname;

describe('the tool gate (postgres)', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let tools: ExternalTools;
  let gate: ToolGate;
  const dir = mkdtempSync(join(tmpdir(), 'adjutant-tool-gate-'));
  const ticketsFile = join(dir, 'tickets.jsonl');
  const tickets = () => (existsSync(ticketsFile) ? readFileSync(ticketsFile, 'utf8').split('\n').filter(Boolean) : []);
  const work = (id: string) => ({ served: { kind: 'email' as const, id }, resume: { job: 'email.draft-reply', key: id, data: { emailId: id } }, purpose: `the reply to ${id}` });
  const jobs = async (name: string) => (await database.pool.query<{ key: string }>(`SELECT data->>'key' AS key FROM agenda_jobs WHERE name = $1 ORDER BY key`, [name])).rows.map((row) => row.key);

  beforeAll(async () => {
    testDatabase = await createTestDatabase('postgres');
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    tools = connectExternalTools([{ name: 'tickets', transport: 'stdio', command: process.execPath, args: [SERVER_SCRIPT], env: { TICKETS_FILE: ticketsFile }, cwd: null, tools: { lookup_order: 'read' }, timeoutMs: 5000 }], { logger });
    await waitUntil('the server to connect', () => tools.status()[0]?.state === 'connected');
    gate = createToolGate({ database, tools, audit: createAuditLog(database.prisma), queue: createJobQueue({ pool: database.pool, embedded: false, logger }), allow: async () => true, canAsk: true, now: () => new Date(), logger });
  });
  afterAll(async () => {
    await tools?.close();
    await database?.close();
    await testDatabase?.drop();
  });

  it('keeps one row and one card for the same call asked twice, whatever the order of its arguments', async () => {
    const runner = await gate.runnerFor(work('00000000-0000-4000-8000-000000000001'));
    const ask = (input: Record<string, unknown>) => runner!.run({ id: 'toolu_1', name: 'tickets__create_ticket', input }).catch((error: unknown) => error);
    const first = await ask({ title: 'Fix the chair', order: '1182' });
    const second = await ask({ order: '1182', title: 'Fix the chair' });
    expect(first).toBeInstanceOf(ToolCallPending);
    expect(second).toBeInstanceOf(ToolCallPending);
    expect((first as ToolCallPending).callId).toBe((second as ToolCallPending).callId);
    expect(await database.prisma.toolCall.count({ where: { servedId: '00000000-0000-4000-8000-000000000001' } })).toBe(1);
    expect(await jobs(JOB_TOOL_REQUEST_APPROVAL)).toEqual([(first as ToolCallPending).callId]);
    expect(tickets()).toEqual([]);
  });

  it('reports a call that was running when its worker stopped as interrupted, never runs it again, and resumes the work', async () => {
    const emailId = '00000000-0000-4000-8000-000000000002';
    const runner = await gate.runnerFor(work(emailId));
    const pending = (await runner!.run({ id: 'toolu_2', name: 'tickets__create_ticket', input: { title: 'Refund' } }).catch((error: unknown) => error)) as ToolCallPending;
    expect((await gate.decide({ callId: pending.callId, userId: 'U0ALICE', decision: 'approved', channel: null })).kind).toBe('decided');
    // The worker claimed it and died during the call.
    await database.prisma.toolCall.update({ where: { id: pending.callId }, data: { status: 'running' } });

    const after = await gate.runDecided(pending.callId);
    expect(after?.status).toBe('interrupted');
    expect(tickets()).toEqual([]);
    expect(await jobs('email.draft-reply')).toContain(`${emailId}:after-tool:${pending.callId}`);
    // The work, run again, is told: it may have happened, do not call it again.
    const again = await gate.runnerFor(work(emailId));
    expect(JSON.stringify(again?.priorTurns)).toContain('interrupted and may or may not have taken effect');
    expect(await runner!.run({ id: 'toolu_3', name: 'tickets__create_ticket', input: { title: 'Refund' } })).toMatchObject({ isError: true, content: expect.stringContaining('interrupted') });
    const actions = (await database.prisma.auditEntry.findMany({ where: { entityType: 'email', entityId: emailId }, orderBy: { id: 'asc' } })).map((entry) => entry.action);
    expect(actions).toEqual(['tool.approval_requested', 'tool.approved', 'tool.interrupted']);
  });

  it('tells the model a tool it names is unavailable instead of failing the work', async () => {
    const runner = await gate.runnerFor(work('00000000-0000-4000-8000-000000000003'));
    expect(await runner!.run({ id: 'toolu_4', name: 'calendar__book', input: {} })).toMatchObject({ isError: true, content: expect.stringContaining('unavailable') });
  });

  it('offers only the tools that read when nobody can be asked to approve (no Slack approvals channel)', async () => {
    const unattended = createToolGate({ database, tools, audit: createAuditLog(database.prisma), queue: createJobQueue({ pool: database.pool, embedded: false, logger }), allow: async () => false, canAsk: false, now: () => new Date(), logger });
    const runner = await unattended.runnerFor(work('00000000-0000-4000-8000-000000000004'));
    expect(runner?.definitions.map((definition) => definition.name)).toEqual(['tickets__lookup_order']);
    expect(await runner!.run({ id: 'toolu_5', name: 'tickets__create_ticket', input: { title: 'x' } })).toMatchObject({ isError: true, content: expect.stringContaining('no Slack approvals channel') });
    expect(await database.prisma.toolCall.count({ where: { servedId: '00000000-0000-4000-8000-000000000004' } })).toBe(0);
  });
});
