import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdjutantError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { connectExternalTools, type ExternalTools } from '../src/mcp/client/external-tools.ts';
import { loadServersFile, type McpServerConfig } from '../src/mcp/client/servers-file.ts';
import { createToolsServer } from './fakes/mcp-tools-server.mjs';
import { waitUntil } from './support/wait.ts';

/**
 * Adjutant as an MCP client: the servers file (the common `mcpServers` shape with our policy per
 * tool), and real connections to MCP servers written for the tests, over stdio and Streamable
 * HTTP, including one that is down, one that never answers, and one that goes away and comes back.
 */
const logger = createLogger({ level: 'silent' });
const SERVER_SCRIPT = new URL('./fakes/mcp-tools-server.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'adjutant-mcp-client-'));

function writeFile(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function loadError(path: string): AdjutantError {
  try {
    loadServersFile(path, { env: { HELPDESK_TOKEN: 'secret-token' }, cwd: dir });
  } catch (error) {
    if (error instanceof AdjutantError) return error;
    throw error;
  }
  throw new Error('expected an error');
}

describe('MCP_SERVERS_FILE', () => {
  it('reads stdio and HTTP servers, the policy per tool (write unless marked read) and ${VARS} from the environment', () => {
    const path = writeFile('servers.json', {
      mcpServers: {
        helpdesk: { command: 'node', args: ['helpdesk.mjs'], env: { TOKEN: '${HELPDESK_TOKEN}' }, tools: { lookup_order: 'read' } },
        crm: { type: 'http', url: 'https://crm.example/mcp', headers: { Authorization: 'Bearer ${env:HELPDESK_TOKEN}' }, timeoutMs: 2000 },
        old: { command: 'node', disabled: true },
      },
    });
    const servers = loadServersFile(path, { env: { HELPDESK_TOKEN: 'secret-token' }, cwd: dir });
    expect(servers.map((server) => server.name)).toEqual(['helpdesk', 'crm']);
    const [helpdesk, crm] = servers;
    expect(helpdesk).toMatchObject({ transport: 'stdio', command: 'node', args: ['helpdesk.mjs'], env: { TOKEN: 'secret-token' }, tools: { lookup_order: 'read' }, timeoutMs: 15_000 });
    expect(crm).toMatchObject({ transport: 'http', headers: { Authorization: 'Bearer secret-token' }, timeoutMs: 2000, tools: {} });
    expect(crm?.transport === 'http' && crm.url.href).toBe('https://crm.example/mcp');
  });

  it('treats a missing default file as no servers, and a missing file someone named as an error naming it', () => {
    expect(loadServersFile(undefined, { env: {}, cwd: dir })).toEqual([]);
    const error = loadError('nowhere.json');
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(join(dir, 'nowhere.json'));
    expect(error.message).toContain('unset MCP_SERVERS_FILE');
  });

  it('names the field that is wrong, the variable that is not set, and a file that is not JSON', () => {
    expect(loadError(writeFile('bad-policy.json', { mcpServers: { helpdesk: { command: 'node', tools: { create_ticket: 'sometimes' } } } })).message).toContain('mcpServers.helpdesk.tools.create_ticket');
    expect(loadError(writeFile('bad-name.json', { mcpServers: { 'help desk': { command: 'node' } } })).message).toMatch(/server name/);
    expect(loadError(writeFile('no-var.json', { mcpServers: { crm: { url: 'https://crm.example/mcp', headers: { Authorization: 'Bearer ${CRM_TOKEN}' } } } })).message).toContain('mcpServers.crm.headers.Authorization uses ${CRM_TOKEN}, which is not set');
    expect(loadError(writeFile('ftp.json', { mcpServers: { crm: { url: 'ftp://crm.example/' } } })).message).toContain('must be http(s)');
    expect(loadError(writeFile('broken.json', '{"mcpServers": {')).message).toContain('is not valid JSON');
  });
});

describe('connections to external MCP servers', () => {
  let http: Server;
  let httpUrl: URL;
  let tools: ExternalTools;
  const ticketsFile = join(dir, 'tickets.jsonl');

  beforeAll(async () => {
    // The HTTP server: stateless Streamable HTTP, one MCP server per request.
    http = createServer((request, response) => {
      const server = createToolsServer({ ticketsFile });
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      response.on('close', () => void transport.close());
      void server.connect(transport).then(() => transport.handleRequest(request, response));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    httpUrl = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
    const stdio = (name: string, env: Record<string, string> = {}, extra: Partial<McpServerConfig> = {}): McpServerConfig => ({ name, transport: 'stdio', command: process.execPath, args: [SERVER_SCRIPT], env: { TICKETS_FILE: ticketsFile, ...env }, cwd: null, tools: { lookup_order: 'read' }, timeoutMs: 5000, ...extra }) as McpServerConfig;
    tools = connectExternalTools(
      [
        stdio('helpdesk'),
        { name: 'remote', transport: 'http', url: httpUrl, headers: {}, tools: { lookup_order: 'read' }, timeoutMs: 5000 },
        stdio('stuck', { HANG: '1' }, { timeoutMs: 500 }),
        { name: 'gone', transport: 'stdio', command: process.execPath, args: ['-e', 'process.stderr.write("license expired\\n"); process.exit(1)'], env: {}, cwd: null, tools: {}, timeoutMs: 1000 },
        { name: 'closed', transport: 'http', url: new URL('http://127.0.0.1:9/mcp'), headers: {}, tools: {}, timeoutMs: 1000 },
      ],
      { logger, connectTimeoutMs: 3000 },
    );
    await waitUntil('the live servers to connect and the dead ones to be found out', () => {
      const states = Object.fromEntries(tools.status().map((server) => [server.name, server.state]));
      return states.helpdesk === 'connected' && states.remote === 'connected' && states.stuck === 'connected' && states.gone === 'unavailable' && states.closed === 'unavailable';
    });
  });
  afterAll(async () => {
    await tools?.close();
    await new Promise((resolve) => http?.close(resolve));
  });

  it('offers the tools of connected servers as server__tool with their policy, and none of a server that is down', () => {
    const listed = tools.list().map((tool) => `${tool.name}:${tool.policy}`);
    expect(listed).toEqual(expect.arrayContaining(['helpdesk__lookup_order:read', 'helpdesk__create_ticket:write', 'remote__lookup_order:read', 'remote__create_ticket:write']));
    expect(listed.some((name) => name.startsWith('gone__') || name.startsWith('closed__'))).toBe(false);
    const lookup = tools.find('helpdesk__lookup_order');
    expect(lookup?.definition.inputSchema).toMatchObject({ type: 'object', properties: { order: { type: 'string' } }, required: ['order'] });
  });

  it('reports why a server is unavailable: the stderr of a command that exits, a refused connection', () => {
    const byName = Object.fromEntries(tools.status().map((server) => [server.name, server]));
    expect(byName.gone?.problem).toContain('license expired');
    expect(byName.closed?.problem).toMatch(/could not connect/);
  });

  it('calls tools over stdio and HTTP, and passes a tool error on as an error result', async () => {
    const viaStdio = await tools.call(tools.find('helpdesk__lookup_order')!, { order: '1182' });
    expect(viaStdio).toEqual({ content: expect.stringContaining('DHL-88341'), isError: false });
    const viaHttp = await tools.call(tools.find('remote__lookup_order')!, { order: '9999' });
    expect(viaHttp).toEqual({ content: 'No order 9999', isError: true });
  });

  it('gives up on a server that never answers after its timeout, says so, and shows it in status', async () => {
    const started = Date.now();
    const outcome = await tools.call(tools.find('stuck__lookup_order')!, { order: '1182' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(outcome.isError).toBe(true);
    expect(outcome.content).toContain('unavailable: no answer within 0.5 s');
    expect(tools.status().find((server) => server.name === 'stuck')?.problem).toContain('lookup_order failed');
  });

  it('reconnects to a server that went away', async () => {
    await tools.call(tools.find('helpdesk__crash')!, {});
    await waitUntil('the crash to be noticed', () => tools.status().find((server) => server.name === 'helpdesk')?.state === 'unavailable', 5000);
    const whileDown = await tools.call({ name: 'helpdesk__lookup_order', server: 'helpdesk', tool: 'lookup_order', policy: 'read', definition: { name: 'helpdesk__lookup_order', description: '', inputSchema: { type: 'object' } } }, { order: '1182' });
    expect(whileDown).toMatchObject({ isError: true, content: expect.stringContaining('not connected') });
    await waitUntil('the server to be back', () => tools.status().find((server) => server.name === 'helpdesk')?.state === 'connected', 10_000);
    expect((await tools.call(tools.find('helpdesk__lookup_order')!, { order: '1182' })).isError).toBe(false);
  });
});
