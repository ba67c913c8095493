import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ToolOutcome } from '../../brains/tool-use.ts';
import type { ToolDefinition } from '../../brains/types.ts';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { McpServerConfig, ToolPolicy } from './servers-file.ts';

/** A tool of an external server as our agents see it: `server__tool`, so names never collide. */
export interface ExternalTool {
  /** What the model calls it. */
  name: string;
  server: string;
  /** Its name on its server. */
  tool: string;
  policy: ToolPolicy;
  definition: ToolDefinition;
}

export interface ServerStatus {
  name: string;
  state: 'connecting' | 'connected' | 'unavailable';
  tools: number;
  /** Why it is unavailable, or the last call that failed by timing out. */
  problem: string | null;
  since: Date;
}

/** The team's other systems, reached through their MCP servers (MCP_SERVERS_FILE). */
export interface ExternalTools {
  /** Tools of the servers connected now. */
  list(): ExternalTool[];
  find(name: string): ExternalTool | null;
  /**
   * Calls a tool on its server. A server that is down, or that does not answer within its
   * timeout, gives an error outcome the model can read (never a hang), and shows in status.
   */
  call(tool: ExternalTool, input: Record<string, unknown>): Promise<ToolOutcome>;
  status(): ServerStatus[];
  close(): Promise<void>;
}

/**
 * What the model calls a server's tool: `server__tool`, so two servers' tools never collide. MCP
 * names are freer than the models' (Anthropic: letters, digits, _ and -, up to 64).
 */
export function modelToolName(server: string, tool: string): string {
  return `${server}__${tool}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

/** A result longer than this is cut: the model needs the gist, and the prompt stays bounded. */
const MAX_RESULT_CHARS = 8000;
/** How long connecting (start, initialize, list tools) may take before the server is unavailable. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Reconnecting backs off from 1 s to this. */
const MAX_RECONNECT_DELAY_MS = 60_000;

export function connectExternalTools(servers: McpServerConfig[], deps: { logger: Logger; now?: () => Date; connectTimeoutMs?: number }): ExternalTools {
  const now = deps.now ?? (() => new Date());
  const connections = servers.map((server) => connection(server, { logger: deps.logger.child({ mcpServer: server.name }), now, connectTimeoutMs: deps.connectTimeoutMs ?? CONNECT_TIMEOUT_MS }));
  const byServer = new Map(connections.map((entry) => [entry.server.name, entry]));
  const list = () => connections.flatMap((entry) => entry.tools());
  return {
    list,
    find(name) {
      return list().find((tool) => tool.name === name) ?? null;
    },
    async call(tool, input) {
      const entry = byServer.get(tool.server);
      if (!entry) return { content: `Tool ${tool.name} is unavailable: its server ${tool.server} is not configured.`, isError: true };
      return entry.call(tool, input);
    },
    status() {
      return connections.map((entry) => entry.status());
    },
    async close() {
      await Promise.all(connections.map((entry) => entry.close()));
    },
  };
}

function connection(server: McpServerConfig, deps: { logger: Logger; now: () => Date; connectTimeoutMs: number }) {
  const { logger, now } = deps;
  let client: Client | null = null;
  let tools: ExternalTool[] = [];
  let state: ServerStatus['state'] = 'connecting';
  let problem: string | null = null;
  let since = now();
  let closed = false;
  let attempt = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  /** The last lines the server wrote to stderr: a stdio server that dies usually says why there. */
  let stderrTail = '';

  const become = (next: ServerStatus['state'], why: string | null) => {
    if (next !== state) since = now();
    state = next;
    problem = why;
  };

  function transport(): Transport {
    if (server.transport === 'http') return new StreamableHTTPClientTransport(server.url, { requestInit: { headers: server.headers } });
    const stdio = new StdioClientTransport({ command: server.command, args: server.args, env: { ...getDefaultEnvironment(), ...server.env }, ...(server.cwd ? { cwd: server.cwd } : {}), stderr: 'pipe' });
    stdio.stderr?.on('data', (chunk: Buffer) => {
      stderrTail = `${stderrTail}${chunk.toString('utf8')}`.slice(-400);
    });
    return stdio;
  }

  async function connect(): Promise<void> {
    if (closed) return;
    attempt += 1;
    const next = new Client({ name: 'adjutant', version: '1' });
    const timeout = AbortSignal.timeout(deps.connectTimeoutMs);
    try {
      await next.connect(transport(), { signal: timeout, timeout: deps.connectTimeoutMs });
      const listed = await next.listTools(undefined, { signal: timeout, timeout: deps.connectTimeoutMs });
      if (closed) return void (await next.close());
      client = next;
      tools = listed.tools.map((tool) => {
        const name = modelToolName(server.name, tool.name);
        return {
          name,
          server: server.name,
          tool: tool.name,
          policy: server.tools[tool.name] ?? 'write',
          definition: { name, description: `${tool.description ?? tool.title ?? tool.name} (from ${server.name})`.slice(0, 1024), inputSchema: { ...tool.inputSchema, type: 'object' } },
        };
      });
      attempt = 0;
      become('connected', null);
      logger.info({ tools: tools.map((tool) => `${tool.tool}:${tool.policy}`) }, `MCP server ${server.name}: connected`);
      // A server that goes away (its process exits, the HTTP session ends) is reconnected.
      next.onclose = () => {
        if (closed || client !== next) return;
        client = null;
        tools = [];
        become('unavailable', `the connection closed${stderrTail ? ` (${lastLine(stderrTail)})` : ''}`);
        logger.warn(`MCP server ${server.name}: connection closed; reconnecting`);
        scheduleReconnect();
      };
    } catch (error) {
      await next.close().catch(() => undefined);
      const why = timeout.aborted ? `no answer within ${Math.round(deps.connectTimeoutMs / 1000)} s` : errorMessage(error);
      become('unavailable', `could not connect: ${why}${stderrTail ? ` (${lastLine(stderrTail)})` : ''}`);
      if (attempt === 1 || attempt % 10 === 0) logger.warn({ attempt }, `MCP server ${server.name} is unavailable: ${problem ?? ''}; retrying`);
      scheduleReconnect();
    }
  }

  function scheduleReconnect(): void {
    if (closed) return;
    clearTimeout(retryTimer);
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, 1000 * 2 ** Math.min(attempt, 6));
    retryTimer = setTimeout(() => void connect(), delay);
    retryTimer.unref();
  }

  void connect();

  return {
    server,
    tools: () => tools,
    status: (): ServerStatus => ({ name: server.name, state, tools: tools.length, problem, since }),
    async call(tool: ExternalTool, input: Record<string, unknown>): Promise<ToolOutcome> {
      const current = client;
      if (!current || state !== 'connected') return { content: `Tool ${tool.name} is unavailable: server ${server.name} is not connected${problem ? ` (${problem})` : ''}. Continue without it.`, isError: true };
      try {
        const result = (await current.callTool({ name: tool.tool, arguments: input }, undefined, { timeout: server.timeoutMs })) as CallToolResult;
        if (state === 'connected' && problem !== null) problem = null;
        return { content: resultText(result), isError: result.isError === true };
      } catch (error) {
        const timedOut = /timed? ?out/i.test(errorMessage(error));
        const why = timedOut ? `no answer within ${(server.timeoutMs / 1000).toFixed(server.timeoutMs % 1000 === 0 ? 0 : 1)} s` : errorMessage(error);
        // The server stays connected (the next call may be quick), but status shows the failure.
        problem = `${tool.tool} failed at ${now().toISOString().slice(11, 19)} UTC: ${why}`;
        logger.warn({ tool: tool.tool, timedOut }, `MCP tool ${tool.name} failed: ${why}`);
        return { content: `Tool ${tool.name} is unavailable: ${why}. Continue without it.`, isError: true };
      }
    },
    async close(): Promise<void> {
      closed = true;
      clearTimeout(retryTimer);
      const current = client;
      client = null;
      await current?.close().catch(() => undefined);
    },
  };
}

/** A tool result as text for the model: its text parts, other parts named, structured content when there is no text. */
function resultText(result: CallToolResult): string {
  const parts = (result.content ?? []).map((part) => {
    if (part.type === 'text') return part.text;
    if (part.type === 'resource') return 'text' in part.resource ? part.resource.text : `[resource ${part.resource.uri}]`;
    if (part.type === 'resource_link') return `[resource ${part.uri}]`;
    return `[${part.type} omitted]`;
  });
  if (parts.length === 0 && result.structuredContent) parts.push(JSON.stringify(result.structuredContent));
  const text = parts.join('\n').trim() || '(no output)';
  return text.length > MAX_RESULT_CHARS ? `${text.slice(0, MAX_RESULT_CHARS)}\n[… cut at ${MAX_RESULT_CHARS} characters]` : text;
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)?.trim().slice(0, 200) ?? '';
}
