import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createMcpHttpEndpoint, type McpHttpEndpoint } from '../src/mcp/http.ts';
import { createMcpServer } from '../src/mcp/server.ts';
import { createMemory, type Memory } from '../src/memory/memory.ts';
import { mcpPort } from '../src/orchestrator/mcp-port.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';

const logger = createLogger({ level: 'silent' });
const TOKEN = 'mcp-test-token-7f3a9c2e41';
const INVOICE = '<invoice-881@client.example>';
const TOOLS = ['ask', 'get_email_timeline', 'list_pending_approvals', 'remember', 'search_memory'];

async function seed(memory: Memory, database: Database): Promise<void> {
  const email = await database.prisma.email.create({ data: { messageId: INVOICE, mailbox: 'INBOX', fromAddress: 'lee@client.example', subject: 'Invoice 881 for the walnut desk', text: 'Invoice 881.', raw: new Uint8Array(1) } });
  await database.prisma.auditEntry.create({ data: { actor: 'imap', action: 'email.received', entityType: 'email', entityId: email.id, data: {} } });
  await memory.remember({ kind: 'email', title: 'Invoice 881 for the walnut desk', content: 'Please find invoice 881 for the walnut desk attached, due in 14 days.', sourceType: 'email', sourceRef: INVOICE, author: 'lee@client.example', counterparty: 'lee@client.example', occurredAt: new Date('2026-04-01T08:00:00Z'), emailId: email.id, actor: 'test' });
}

describe('MCP over Streamable HTTP at /mcp', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let endpoint: McpHttpEndpoint;
  let disabled: McpHttpEndpoint;
  let server: Server;
  let url: URL;
  const clients: Client[] = [];

  beforeAll(async () => {
    testDatabase = await createTestDatabase('postgres');
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    const memory = createMemory({ database, embedder: null, embedderOff: 'EMBEDDER is none', logger });
    await seed(memory, database);
    const deps = mcpPort({ memory, router: null, database, logger });
    endpoint = createMcpHttpEndpoint({ token: TOKEN, createServer: () => createMcpServer(deps), logger, maxSessions: 3 });
    disabled = createMcpHttpEndpoint({ token: undefined, createServer: () => createMcpServer(deps), logger });
    // As http-server.ts routes it: /mcp to the endpoint, whatever the method.
    server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/mcp') return endpoint.listener(req, res);
      if (path === '/mcp-off') return disabled.listener(req, res);
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
  }, 60_000);
  afterAll(async () => {
    for (const client of clients) await client.close().catch(() => undefined);
    await endpoint?.close();
    await disabled?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await database?.close();
    await testDatabase?.drop();
  });

  async function connect(headers: Record<string, string>, name = 'http-test-client'): Promise<Client> {
    const client = new Client({ name, version: '2.0.0' });
    await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
    clients.push(client);
    return client;
  }

  const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } } };
  const post = (target: URL, headers: Record<string, string>, body: unknown = initialize) =>
    fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(body) });

  it('refuses a request without the bearer token, or with a wrong one, with 401 naming MCP_TOKEN', async () => {
    const missing = await post(url, {});
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="adjutant"');
    expect(await missing.json()).toEqual({ error: 'missing bearer token: send the header "Authorization: Bearer <MCP_TOKEN>"' });

    for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, 'Bearer ', `Basic ${TOKEN}`, TOKEN]) {
      const refused = await post(url, { authorization });
      expect(refused.status).toBe(401);
      expect((await refused.json()) as { error: string }).toHaveProperty('error', expect.stringContaining('MCP_TOKEN'));
    }
    const wrong = await post(url, { authorization: `Bearer not-the-token-at-all` });
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="adjutant", error="invalid_token"');
    expect(await wrong.json()).toEqual({ error: 'wrong bearer token: it is not the MCP_TOKEN this server was started with' });
    expect(endpoint.sessionCount()).toBe(0);

    // The SDK's own client is refused the same way.
    const refused = await connect({}).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(StreamableHTTPError);
    expect((refused as StreamableHTTPError).code).toBe(401);
    expect(String((refused as Error).message)).toContain('MCP_TOKEN');
    const wrongClient = await connect({ authorization: 'Bearer wrong-token-0123456789' }).then(
      () => null,
      (error: unknown) => error,
    );
    expect((wrongClient as StreamableHTTPError).code).toBe(401);
  });

  it('with the token: lists the tools and calls them, each session knowing its client', async () => {
    const client = await connect({ authorization: `Bearer ${TOKEN}` });
    expect(endpoint.sessionCount()).toBe(1);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(TOOLS);

    const found = await client.callTool({ name: 'search_memory', arguments: { query: 'walnut desk invoice' } });
    expect((found.structuredContent as { hits: { sourceRef: string }[] }).hits[0]?.sourceRef).toBe(INVOICE);

    const remembered = await client.callTool({ name: 'remember', arguments: { subject: 'Walnut desk finish', statement: 'The walnut desk gets an oil finish, not lacquer.' } });
    expect(remembered.structuredContent).toMatchObject({ outcome: 'stored', saidBy: 'http-test-client' });
    const fact = await client.callTool({ name: 'search_memory', arguments: { query: 'walnut oil finish', kinds: ['fact'] } });
    expect((fact.structuredContent as { hits: { author: string }[] }).hits[0]?.author).toBe('http-test-client');

    const timeline = await client.callTool({ name: 'get_email_timeline', arguments: { email: INVOICE } });
    expect((timeline.structuredContent as { entries: { action: string }[] }).entries.map((entry) => entry.action)).toEqual(['email.received', 'memory.stored']);
    expect((await client.callTool({ name: 'list_pending_approvals', arguments: {} })).structuredContent).toEqual({ total: 0, pending: [] });
    const answer = await client.callTool({ name: 'ask', arguments: { question: 'When is invoice 881 due?' } });
    expect(answer.structuredContent).toMatchObject({ kind: 'results', citations: [{ n: 1, sourceRef: INVOICE }] });

    // Bad input is a protocol error over HTTP too.
    await expect(client.callTool({ name: 'search_memory', arguments: { query: 'desk', limit: 0 } })).rejects.toThrow(/MCP error -32602: Invalid arguments for search_memory: limit:/);

    // A second client has its own session and its own name.
    const other = await connect({ authorization: `Bearer ${TOKEN}` }, 'cursor-test');
    expect(endpoint.sessionCount()).toBe(2);
    const theirs = await other.callTool({ name: 'remember', arguments: { subject: 'Desk delivery', statement: 'The walnut desk is delivered on 20 April.' } });
    expect(theirs.structuredContent).toMatchObject({ saidBy: 'cursor-test' });
  });

  it('checks the token on every request of a session, not only the first', async () => {
    const opened = await post(url, { authorization: `Bearer ${TOKEN}` });
    expect(opened.status).toBe(200);
    const session = opened.headers.get('mcp-session-id');
    expect(session).toMatch(/^[0-9a-f-]{36}$/);
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} };
    const withoutToken = await post(url, { 'mcp-session-id': session ?? '', 'mcp-protocol-version': '2025-06-18' }, list);
    expect(withoutToken.status).toBe(401);
    const unknownSession = await post(url, { authorization: `Bearer ${TOKEN}`, 'mcp-session-id': '00000000-0000-4000-8000-000000000000', 'mcp-protocol-version': '2025-06-18' }, list);
    expect(unknownSession.status).toBe(404);
    // Ending the session (DELETE) forgets it.
    const ended = await fetch(url, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}`, 'mcp-session-id': session ?? '', 'mcp-protocol-version': '2025-06-18' } });
    expect(ended.status).toBe(200);
    const after = await post(url, { authorization: `Bearer ${TOKEN}`, 'mcp-session-id': session ?? '', 'mcp-protocol-version': '2025-06-18' }, list);
    expect(after.status).toBe(404);
  });

  it('keeps at most maxSessions open, closing the least recently used; a request that is not initialize opens none', async () => {
    const notInitialize = await post(url, { authorization: `Bearer ${TOKEN}` }, { jsonrpc: '2.0', id: 3, method: 'tools/list', params: {} });
    expect(notInitialize.status).toBe(400);
    const before = endpoint.sessionCount();
    for (let i = 0; i < 4; i += 1) expect((await post(url, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    expect(before).toBeLessThanOrEqual(3);
    expect(endpoint.sessionCount()).toBe(3);
  });

  it('closes a session left idle; its client then gets 404 and must initialize again', async () => {
    const idle = createMcpHttpEndpoint({ token: TOKEN, createServer: () => createMcpServer(mcpPort({ memory: createMemory({ database, embedder: null, logger }), router: null, database, logger })), logger, idleSessionMs: 50 });
    const idleServer = createServer((req, res) => idle.listener(req, res));
    await new Promise<void>((resolve) => idleServer.listen(0, '127.0.0.1', resolve));
    try {
      const target = new URL(`http://127.0.0.1:${(idleServer.address() as AddressInfo).port}/mcp`);
      const opened = await post(target, { authorization: `Bearer ${TOKEN}` });
      const session = opened.headers.get('mcp-session-id') ?? '';
      expect(idle.sessionCount()).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 250));
      expect(idle.sessionCount()).toBe(0);
      const later = await post(target, { authorization: `Bearer ${TOKEN}`, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' }, { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} });
      expect(later.status).toBe(404);
      expect(await later.json()).toMatchObject({ error: { code: -32001, message: expect.stringContaining('initialize a new session') } });
    } finally {
      await idle.close();
      idleServer.closeAllConnections();
      await new Promise((resolve) => idleServer.close(resolve));
    }
  });

  it('is off, saying how to turn it on, when MCP_TOKEN is unset', async () => {
    const off = await post(new URL('/mcp-off', url), { authorization: `Bearer ${TOKEN}` });
    expect(off.status).toBe(404);
    expect(await off.json()).toEqual({ error: 'the MCP server over HTTP is disabled: set MCP_TOKEN (at least 16 characters) to enable /mcp' });
    expect(disabled.enabled).toBe(false);
    expect(endpoint.enabled).toBe(true);
  });
});

describe('MCP over stdio (`adjutant mcp`)', () => {
  let testDatabase: TestDatabase;

  beforeAll(async () => {
    testDatabase = await createTestDatabase('postgres');
    const database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    try {
      await applyMigrations(database.pool);
      await seed(createMemory({ database, embedder: null, logger }), database);
    } finally {
      await database.close();
    }
  }, 60_000);
  afterAll(async () => {
    await testDatabase?.drop();
  });

  it('serves the tools to a client that starts it as a child process, with logs on stderr only', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [new URL('../bin/adjutant.mjs', import.meta.url).pathname, 'mcp'],
      // Not the repository: no .env is read.
      cwd: '/tmp',
      // Only what the test sets: no .env, no developer's shell.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATABASE_URL: testDatabase.databaseUrl ?? '', DATA_DIR: testDatabase.dataDir, EMBEDDER: 'none', LOG_LEVEL: 'info' },
      stderr: 'pipe',
    });
    let stderr = '';
    const captured = new PassThrough();
    captured.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    transport.stderr?.pipe(captured);
    const errors: Error[] = [];
    const client = new Client({ name: 'stdio-test-client', version: '3.0.0' });
    client.onerror = (error) => errors.push(error);
    try {
      await client.connect(transport);
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual(TOOLS);

      const found = await client.callTool({ name: 'search_memory', arguments: { query: 'walnut desk' } });
      expect((found.structuredContent as { hits: { sourceRef: string }[] }).hits[0]?.sourceRef).toBe(INVOICE);
      const remembered = await client.callTool({ name: 'remember', arguments: { subject: 'Desk wood', statement: 'The desk is American black walnut.' } });
      expect(remembered.structuredContent).toMatchObject({ outcome: 'stored', saidBy: 'stdio-test-client' });
      const answer = await client.callTool({ name: 'ask', arguments: { question: 'What wood is the desk?' } });
      expect((answer.structuredContent as { citations: { sourceRef: string }[] }).citations.length).toBeGreaterThan(0);
      expect((await client.callTool({ name: 'list_pending_approvals', arguments: {} })).structuredContent).toMatchObject({ total: 0 });
      const timeline = await client.callTool({ name: 'get_email_timeline', arguments: { email: INVOICE } });
      expect((timeline.structuredContent as { entries: unknown[] }).entries).toHaveLength(2);
      await expect(client.callTool({ name: 'remember', arguments: { statement: 'no subject' } })).rejects.toThrow(/Invalid arguments for remember: subject:/);
    } finally {
      await client.close();
    }
    // stdout carried the protocol only: no message failed to parse.
    expect(errors).toEqual([]);
    expect(stderr).toContain('MCP server on stdio: ready');
    // It stopped because its stdin closed (the client sends SIGTERM only to a server that lingers).
    expect(stderr).toMatch(/"why":"stdin closed","msg":"MCP stdio server stopping"/);
    expect(stderr).not.toContain('"why":"SIGTERM"');
  }, 60_000);
});
