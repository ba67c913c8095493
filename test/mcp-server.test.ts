import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { ErrorCode, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createAnthropicChatModel } from '../src/brains/anthropic/anthropic-chat-model.ts';
import { createModelRouter, type ModelRouter } from '../src/brains/router.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createMcpServer, type McpDeps } from '../src/mcp/server.ts';
import { createAuditLog } from '../src/memory/audit.ts';
import { createMemory, type Memory } from '../src/memory/memory.ts';
import { createDraftStore } from '../src/orchestrator/draft-store.ts';
import { mcpPort } from '../src/orchestrator/mcp-port.ts';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.ts';

const logger = createLogger({ level: 'silent' });
const CLIENT = { name: 'claude-desktop-test', version: '1.2.3' };
const CARD_URL = 'https://acme.slack.com/archives/C0APPROVALS/p1700000000000200';
const CHAIRS = '<chairs-443@client.example>';

/** A real MCP client talking to our server over the SDK's in-memory transport. */
async function connect(deps: McpDeps, info = CLIENT): Promise<Client> {
  const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
  await createMcpServer(deps).connect(serverSide);
  const client = new Client(info);
  await client.connect(clientSide);
  return client;
}

function textOf(result: Awaited<ReturnType<Client['callTool']>>): string {
  const content = (result as CallToolResult).content;
  return content.map((part) => (part.type === 'text' ? part.text : '')).join('\n');
}

/** The JSON-RPC error a call was refused with. */
async function protocolError(call: Promise<unknown>): Promise<McpError> {
  const error = await call.then(
    () => null,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(McpError);
  return error as McpError;
}

describe.each<DatabaseKind>(['postgres', 'pglite'])('MCP server on %s (in-memory transport)', (kind) => {
  let testDatabase: TestDatabase;
  let database: Database;
  let memory: Memory;
  let client: Client;
  let emailId: string;
  let anthropic: AnthropicFake;

  beforeAll(async () => {
    testDatabase = await createTestDatabase(kind);
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    // EMBEDDER=none: full-text search only, no model to load.
    memory = createMemory({ database, embedder: null, embedderOff: 'EMBEDDER is none', logger });
    anthropic = await startAnthropicFake({ apiKey: 'sk-ant-mcp' });

    // An email as the pipeline leaves it: stored, audited, remembered, drafted, its card linked.
    const email = await database.prisma.email.create({
      data: { messageId: CHAIRS, mailbox: 'INBOX', fromAddress: 'dana@client.example', subject: 'Invoice INV-2026-0443 overdue', text: 'The invoice for the twelve oak chairs is overdue.', raw: new Uint8Array(1), receivedAt: new Date('2026-03-02T10:00:00Z') },
    });
    emailId = email.id;
    const audit = createAuditLog(database.prisma);
    await audit.record({ actor: 'imap', action: 'email.received', entityType: 'email', entityId: email.id, data: { mailbox: 'INBOX' } });
    await memory.remember({
      kind: 'email',
      title: 'Invoice INV-2026-0443 overdue',
      content: 'Hello, the invoice INV-2026-0443 for the twelve oak chairs is now 30 days overdue. Please pay by Friday.',
      sourceType: 'email',
      sourceRef: CHAIRS,
      author: 'dana@client.example',
      counterparty: 'dana@client.example',
      occurredAt: new Date('2026-03-02T10:00:00Z'),
      emailId: email.id,
      actor: 'remember-email',
    });
    const drafts = createDraftStore(database.prisma);
    const draftBase = { toName: null, inReplyTo: null, references: [], provider: 'anthropic', model: 'claude-sonnet-5-5' };
    await drafts.createFirst(
      { ...draftBase, emailId: email.id, toAddress: 'dana@client.example', toName: 'Dana Reyes', subject: 'Re: Invoice INV-2026-0443 overdue', body: 'Hi Dana, sorry for the delay: the payment for INV-2026-0443 goes out on Friday.', confidence: 0.8 },
      { actor: 'draft-reply', action: 'draft.created' },
    );
    await memory.setLink({ sourceType: 'email', sourceRef: CHAIRS }, CARD_URL);
    // Another email whose draft was already approved: not pending.
    const other = await database.prisma.email.create({ data: { messageId: '<lunch@client.example>', mailbox: 'INBOX', subject: 'Lunch', text: 'Lunch?', raw: new Uint8Array(1) } });
    const approved = await drafts.createFirst({ ...draftBase, emailId: other.id, toAddress: 'sam@client.example', subject: 'Re: Lunch', body: 'Yes!' }, { actor: 'draft-reply', action: 'draft.created' });
    await drafts.decide(approved.draft.id, 'approved', 'U0ANA', new Date());
    // A private channel's message: never offered to an MCP client, which is in no channel.
    await memory.remember({
      kind: 'slack_message',
      title: '#leadership: chairs budget',
      content: 'Private: the oak chairs budget is 9000 and INV-2026-0443 is disputed.',
      sourceType: 'slack',
      sourceRef: 'C0PRIVATE/1700000000.000400',
      author: 'U0BOSS',
      occurredAt: new Date('2026-03-03T09:00:00Z'),
      scope: { kind: 'channel', channel: 'C0PRIVATE' },
      actor: 'test',
    });

    client = await connect(mcpPort({ memory, router: null, database, logger }));
  }, 120_000);
  afterAll(async () => {
    await client?.close();
    await anthropic?.close();
    await database?.close();
    await testDatabase?.drop();
  });

  it('lists the five tools with their input and output schemas', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(['ask', 'get_email_timeline', 'list_pending_approvals', 'remember', 'search_memory']);
    const byName = new Map(tools.map((tool) => [tool.name, tool]));
    expect(byName.get('search_memory')?.inputSchema).toMatchObject({ type: 'object', required: ['query'], additionalProperties: false });
    expect(Object.keys(byName.get('search_memory')?.inputSchema.properties ?? {}).sort()).toEqual(['after', 'before', 'includeHistory', 'kinds', 'limit', 'person', 'query']);
    expect(byName.get('ask')?.inputSchema.required).toEqual(['question']);
    expect(byName.get('remember')?.inputSchema.required).toEqual(['subject', 'statement']);
    expect(byName.get('get_email_timeline')?.inputSchema.required).toEqual(['email']);
    expect(byName.get('remember')?.annotations?.readOnlyHint).toBe(false);
    expect(byName.get('list_pending_approvals')?.annotations?.readOnlyHint).toBe(true);
    for (const tool of tools) {
      expect(tool.description?.length).toBeGreaterThan(40);
      expect(tool.outputSchema?.type).toBe('object');
    }
    expect(client.getServerVersion()?.name).toBe('adjutant');
    expect(client.getInstructions()).toMatch(/Nothing is approved or sent/);
  });

  it('search_memory finds an email with its provenance, and filters by kind, person and date', async () => {
    const result = await client.callTool({ name: 'search_memory', arguments: { query: 'INV-2026-0443 oak chairs' } });
    expect(result.isError).toBeFalsy();
    const found = result.structuredContent as { mode: string; notice: string | null; hits: { sourceRef: string; kind: string; url: string | null; author: string | null; occurredAt: string | null }[] };
    expect(found.mode).toBe('text');
    expect(found.notice).toMatch(/EMBEDDER is none/);
    expect(found.hits[0]).toMatchObject({ sourceRef: CHAIRS, kind: 'email', url: CARD_URL, author: 'dana@client.example', occurredAt: '2026-03-02T10:00:00.000Z' });
    // The private channel's message is not offered.
    expect(found.hits.map((hit) => hit.sourceRef)).not.toContain('C0PRIVATE/1700000000.000400');
    expect(textOf(result)).toContain('Invoice INV-2026-0443 overdue');
    expect(textOf(result)).toContain(CARD_URL);

    const hits = async (args: Record<string, unknown>) => ((await client.callTool({ name: 'search_memory', arguments: { query: 'oak chairs', ...args } })).structuredContent as { hits: { sourceRef: string }[] }).hits.map((hit) => hit.sourceRef);
    expect(await hits({ kinds: ['email'] })).toEqual([CHAIRS]);
    expect(await hits({ kinds: ['fact'] })).toEqual([]);
    expect(await hits({ person: 'dana@client.example' })).toEqual([CHAIRS]);
    expect(await hits({ person: 'nobody@elsewhere.example' })).toEqual([]);
    expect(await hits({ after: '2026-03-01', before: '2026-03-03' })).toEqual([CHAIRS]);
    expect(await hits({ after: '2026-03-02T10:00:01Z' })).toEqual([]);
  });

  it('remember stores a fact said by the MCP client, found by search and superseded by a newer one', async () => {
    const first = await client.callTool({ name: 'remember', arguments: { subject: 'Lumen delivery day', statement: 'Lumen Workshop delivers on Tuesdays.' } });
    expect(first.isError).toBeFalsy();
    expect(first.structuredContent).toMatchObject({ outcome: 'stored', saidBy: CLIENT.name, subject: 'Lumen delivery day', statement: 'Lumen Workshop delivers on Tuesdays.', replaced: null });
    expect((first.structuredContent as { sourceRef: string }).sourceRef).toMatch(new RegExp(`^${CLIENT.name}/`));
    expect(textOf(first)).toBe('Remembered: “Lumen Workshop delivers on Tuesdays.”.');

    const again = await client.callTool({ name: 'remember', arguments: { subject: 'lumen delivery day', statement: 'Lumen Workshop delivers on Tuesdays.' } });
    expect(again.structuredContent).toMatchObject({ outcome: 'duplicate' });

    const search = await client.callTool({ name: 'search_memory', arguments: { query: 'Lumen delivers', kinds: ['fact'] } });
    const hit = (search.structuredContent as { hits: Record<string, unknown>[] }).hits[0];
    expect(hit).toMatchObject({ kind: 'fact', sourceType: 'mcp', author: CLIENT.name, title: 'Lumen delivery day' });

    // Stored with its provenance: an MCP source, written by the client, audited as it.
    const row = await database.prisma.memoryItem.findFirst({ where: { kind: 'fact', title: 'Lumen delivery day' } });
    expect(row).toMatchObject({ sourceType: 'mcp', author: CLIENT.name, scope: 'team' });
    const audited = await database.prisma.auditEntry.findFirst({ where: { entityId: row?.id } });
    expect(audited?.actor).toBe(`mcp:${CLIENT.name}`);

    const newer = await client.callTool({ name: 'remember', arguments: { subject: 'Lumen delivery day', statement: 'Lumen Workshop now delivers on Thursdays.' } });
    expect(newer.structuredContent).toMatchObject({ outcome: 'superseded', replaced: 'Lumen Workshop delivers on Tuesdays.' });
    const current = await client.callTool({ name: 'search_memory', arguments: { query: 'Lumen delivers', kinds: ['fact'] } });
    expect((current.structuredContent as { hits: { title: string; snippet: string }[] }).hits.map((found) => found.snippet).join(' ')).toMatch(/Thursdays/);
    const history = await client.callTool({ name: 'search_memory', arguments: { query: 'Lumen delivers', kinds: ['fact'], includeHistory: true } });
    expect((history.structuredContent as { hits: { superseded: boolean }[] }).hits.map((found) => found.superseded)).toEqual([false, true]);
  });

  it('remember names a client that did not introduce itself by a stand-in', async () => {
    const anonymous = await connect(mcpPort({ memory, router: null, database, logger }), { name: '  ', version: '0' });
    try {
      const result = await anonymous.callTool({ name: 'remember', arguments: { subject: 'Parking', statement: 'Visitors park in bay 4.' } });
      expect(result.structuredContent).toMatchObject({ outcome: 'stored', saidBy: 'mcp-client' });
    } finally {
      await anonymous.close();
    }
  });

  it('ask without a model lists the best matches with numbered citations', async () => {
    const result = await client.callTool({ name: 'ask', arguments: { question: 'Is the oak chairs invoice INV-2026-0443 paid?' } });
    expect(result.isError).toBeFalsy();
    const answer = result.structuredContent as { kind: string; answer: string; citations: { n: number; sourceRef: string; url: string | null; occurredAt: string | null }[]; model: string | null };
    expect(answer.kind).toBe('results');
    expect(answer.model).toBeNull();
    expect(answer.answer).toMatch(/^The best matches in memory for/);
    expect(answer.answer).toContain('[1] Invoice INV-2026-0443 overdue');
    expect(answer.citations[0]).toMatchObject({ n: 1, sourceRef: CHAIRS, url: CARD_URL, occurredAt: '2026-03-02T10:00:00.000Z' });
    expect(answer.citations.map((citation) => citation.sourceRef)).not.toContain('C0PRIVATE/1700000000.000400');
    expect(textOf(result)).toMatch(/Sources:\n1\. Invoice INV-2026-0443 overdue \(email, 2026-03-02, dana@client\.example\): https:\/\/acme\.slack\.com/);

    const nothing = await client.callTool({ name: 'ask', arguments: { question: 'What is the zebra quota?' } });
    expect(nothing.structuredContent).toMatchObject({ kind: 'nothing', citations: [] });
    expect(textOf(nothing)).toMatch(/I found nothing in memory about/);
  });

  it('ask with a model answers from memory with citations', async () => {
    const router: ModelRouter = createModelRouter({
      cloud: createAnthropicChatModel({ apiKey: 'sk-ant-mcp', baseURL: anthropic.url, model: 'claude-sonnet-5-5', maxRetries: 0 }),
      ledger: { record: async () => undefined },
      logger,
    });
    anthropic.respondWith(() => JSON.stringify({ answer: 'No: INV-2026-0443 is 30 days overdue and Dana asked for payment by Friday [1].', cited: [1], confident: true }));
    const withModel = await connect(mcpPort({ memory, router, database, logger }));
    try {
      const result = await withModel.callTool({ name: 'ask', arguments: { question: 'Is INV-2026-0443 paid?' } });
      expect(result.structuredContent).toMatchObject({ kind: 'answer', model: 'anthropic/claude-sonnet-5-5', citations: [{ n: 1, sourceRef: CHAIRS, url: CARD_URL }] });
      expect(textOf(result)).toMatch(/^No: INV-2026-0443 is 30 days overdue and Dana asked for payment by Friday \[1\]\.\n\nSources:\n1\. Invoice INV-2026-0443 overdue/);
      // The model saw team-wide items only.
      expect(JSON.stringify(anthropic.requests.at(-1)?.body)).not.toContain('disputed');
    } finally {
      await withModel.close();
    }
  });

  it('list_pending_approvals lists the draft waiting for a decision, with its card', async () => {
    const result = await client.callTool({ name: 'list_pending_approvals', arguments: {} });
    expect(result.isError).toBeFalsy();
    const listed = result.structuredContent as { total: number; pending: Record<string, unknown>[] };
    expect(listed.total).toBe(1);
    expect(listed.pending).toHaveLength(1);
    expect(listed.pending[0]).toMatchObject({ subject: 'Re: Invoice INV-2026-0443 overdue', to: 'dana@client.example', toName: 'Dana Reyes', emailMessageId: CHAIRS, cardUrl: CARD_URL, version: 1, confidence: 0.8 });
    expect(listed.pending[0]?.preview).toMatch(/^Hi Dana, sorry for the delay/);
    expect(textOf(result)).toMatch(/^1 draft is waiting for approval:\n1\. “Re: Invoice INV-2026-0443 overdue” to Dana Reyes <dana@client\.example>, waiting \d+ min\n {3}card: https:/);
  });

  it('get_email_timeline returns what happened to an email, by Message-ID (with or without <>) or id', async () => {
    const result = await client.callTool({ name: 'get_email_timeline', arguments: { email: CHAIRS } });
    expect(result.isError).toBeFalsy();
    const timeline = result.structuredContent as { email: Record<string, unknown>; entries: { action: string; actor: string }[] };
    expect(timeline.email).toMatchObject({ id: emailId, messageId: CHAIRS, subject: 'Invoice INV-2026-0443 overdue', from: 'dana@client.example', receivedAt: '2026-03-02T10:00:00.000Z' });
    expect(timeline.entries.map((entry) => entry.action)).toEqual(['email.received', 'memory.stored', 'draft.created']);
    expect(timeline.entries[0]).toMatchObject({ actor: 'imap', detail: { mailbox: 'INBOX' } });
    expect(textOf(result)).toMatch(/^“Invoice INV-2026-0443 overdue” from dana@client\.example \(<chairs-443@client\.example>\), received 2026-03-02T10:00:00\.000Z\n\n.*email\.received +imap {2}mailbox=INBOX\n/);

    for (const ref of ['chairs-443@client.example', emailId]) {
      const again = await client.callTool({ name: 'get_email_timeline', arguments: { email: ref } });
      expect((again.structuredContent as { email: { id: string } }).email.id).toBe(emailId);
    }

    const missing = await client.callTool({ name: 'get_email_timeline', arguments: { email: '<nope@nowhere.example>' } });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/No email with the Message-ID or id “<nope@nowhere\.example>” is stored/);
  });

  it('refuses input that does not fit a tool schema with a protocol error naming the field', async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['search_memory', { query: 'chairs', limit: 500 }, 'limit'],
      ['search_memory', { query: 'chairs', after: 'last Tuesday' }, 'after'],
      ['search_memory', { query: 'chairs', kinds: ['invoice'] }, 'kinds.0'],
      ['search_memory', { query: '   ' }, 'query'],
      ['ask', {}, 'question'],
      ['remember', { subject: 'wifi' }, 'statement'],
      ['get_email_timeline', { email: CHAIRS, extra: true }, 'extra'],
      ['list_pending_approvals', { limit: 'ten' }, 'limit'],
    ];
    for (const [name, args, field] of cases) {
      const error = await protocolError(client.callTool({ name, arguments: args }));
      expect(error.code).toBe(ErrorCode.InvalidParams);
      expect(error.message).toContain(`Invalid arguments for ${name}: ${field}:`);
      expect((error.data as { issues: { field: string }[] }).issues.map((issue) => issue.field)).toContain(field);
    }
    const unknown = await protocolError(client.callTool({ name: 'send_email', arguments: {} }));
    expect(unknown.code).toBe(ErrorCode.InvalidParams);
    expect(unknown.message).toMatch(/Unknown tool "send_email"/);
  });

  it('turns a failing dependency into an error result the calling model can read, without secrets', async () => {
    const failing = await connect({
      ...mcpPort({ memory, router: null, database, logger }),
      memory: {
        ...memory,
        search: () => Promise.reject(new Error('connection to postgresql://adjutant:hunter2@db.internal:5432/adjutant refused')),
        timeline: memory.timeline,
        storeFact: memory.storeFact,
      },
      pendingApprovals: () => Promise.reject(new Error('the drafts table is locked')),
    });
    try {
      const search = await failing.callTool({ name: 'search_memory', arguments: { query: 'chairs' } });
      expect(search.isError).toBe(true);
      expect(textOf(search)).toBe('search_memory failed: connection to postgresql://adjutant:[REDACTED]@db.internal:5432/adjutant refused');
      const pending = await failing.callTool({ name: 'list_pending_approvals', arguments: {} });
      expect(pending).toMatchObject({ isError: true, content: [{ type: 'text', text: 'list_pending_approvals failed: the drafts table is locked' }] });
      // The server carries on.
      expect((await failing.callTool({ name: 'remember', arguments: { subject: 'Gate code', statement: 'The yard gate code is 4711.' } })).isError).toBeFalsy();
    } finally {
      await failing.close();
    }
  });
});
