/**
 * MCP over Streamable HTTP at /mcp, on the service's port. Every request must carry
 * `Authorization: Bearer <MCP_TOKEN>`; without MCP_TOKEN the endpoint is off (404 saying so, and
 * the start-up summary warns).
 *
 * Sessions, not stateless mode: `remember` attributes a fact to the client that stored it, and
 * only a session knows who that is (the client names itself once, in `initialize`). Each session
 * has its own McpServer over the shared port and lives in this process: idle sessions close after
 * `idleSessionMs`, the least recently used goes when `maxSessions` are open, and a client whose
 * session is gone (idle, a restart, another replica) gets 404 and initializes again, as the spec
 * has it. Behind a load balancer with several replicas, keep a client on one replica (route by
 * the Mcp-Session-Id header, or sticky connections).
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { MCP_DISABLED_MESSAGE } from './disabled.ts';

export { MCP_DISABLED_MESSAGE };

export interface McpHttpOptions {
  /** MCP_TOKEN; undefined turns the endpoint off. */
  token: string | undefined;
  /** A server for a new session: `() => createMcpServer(deps)`. */
  createServer: () => McpServer;
  logger: Logger;
  /** A session unused this long is closed (default 30 minutes). */
  idleSessionMs?: number;
  /** Sessions kept open at once; the least recently used is closed to make room (default 100). */
  maxSessions?: number;
}

export interface McpHttpEndpoint {
  /** The request listener for /mcp (any method: POST, GET for the event stream, DELETE to end a session). */
  listener: (req: IncomingMessage, res: ServerResponse) => void;
  readonly enabled: boolean;
  sessionCount(): number;
  /** Close every session (at shutdown). */
  close(): Promise<void>;
}

interface Session {
  server: McpServer;
  transport: StreamableHTTPServerTransport;
  lastUsed: number;
}

export function createMcpHttpEndpoint(options: McpHttpOptions): McpHttpEndpoint {
  const { token, logger } = options;
  const idleSessionMs = options.idleSessionMs ?? 30 * 60_000;
  const maxSessions = options.maxSessions ?? 100;
  const sessions = new Map<string, Session>();
  const expected = token === undefined ? null : digest(token);

  const closeSession = async (id: string, why: string) => {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    logger.info({ session: id, why }, 'MCP session closed');
    await session.server.close().catch((error: unknown) => logger.warn({ err: error, session: id }, 'MCP session did not close cleanly'));
  };
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, session] of sessions) if (now - session.lastUsed > idleSessionMs) void closeSession(id, 'idle');
  }, Math.min(60_000, idleSessionMs));
  sweep.unref();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!expected) return sendJson(res, 404, { error: MCP_DISABLED_MESSAGE });
    const refusal = checkBearer(req.headers.authorization, expected);
    if (refusal) {
      logger.warn({ method: req.method, reason: refusal.kind, remote: req.socket.remoteAddress }, 'MCP request refused');
      return sendJson(res, 401, { error: refusal.message }, { 'www-authenticate': `Bearer realm="adjutant"${refusal.kind === 'wrong' ? ', error="invalid_token"' : ''}` });
    }

    const sessionHeader = req.headers['mcp-session-id'];
    if (typeof sessionHeader === 'string') {
      const session = sessions.get(sessionHeader);
      if (!session) return sendJsonRpcError(res, 404, -32001, 'Session not found: it ended or belongs to another server; initialize a new session');
      session.lastUsed = Date.now();
      return session.transport.handleRequest(req, res);
    }
    if (req.method !== 'POST') return sendJsonRpcError(res, 400, -32000, 'Bad Request: no Mcp-Session-Id header; start a session with an initialize request (POST)');

    // A new session; the transport refuses anything but an initialize request itself (400).
    while (sessions.size >= maxSessions) {
      const oldest = [...sessions.entries()].sort((a, b) => a[1].lastUsed - b[1].lastUsed)[0];
      if (!oldest) break;
      await closeSession(oldest[0], `more than ${maxSessions} sessions`);
    }
    const server = options.createServer();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      // Each answer as one JSON response: no tool streams, and proxies that buffer SSE are no trouble.
      enableJsonResponse: true,
      onsessioninitialized: (id) => {
        sessions.set(id, { server, transport, lastUsed: Date.now() });
        logger.info({ session: id, client: server.server.getClientVersion()?.name }, 'MCP session started');
      },
      onsessionclosed: (id) => {
        sessions.delete(id);
        logger.info({ session: id }, 'MCP session ended by the client');
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res);
    if (!transport.sessionId) await server.close();
  }

  return {
    enabled: expected !== null,
    listener(req, res) {
      handle(req, res).catch((error: unknown) => {
        logger.error({ err: error }, 'MCP request failed');
        if (!res.headersSent) sendJsonRpcError(res, 500, -32603, `Internal error: ${errorMessage(error)}`);
        else res.end();
      });
    },
    sessionCount: () => sessions.size,
    async close() {
      clearInterval(sweep);
      await Promise.all([...sessions.keys()].map((id) => closeSession(id, 'shutdown')));
    },
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * null when the header carries the token. The comparison is of SHA-256 digests with
 * timingSafeEqual: constant time, and the token's length does not show either.
 */
function checkBearer(header: string | undefined, expected: Buffer): { kind: 'missing' | 'wrong'; message: string } | null {
  const match = /^Bearer[ \t]+(.+)$/i.exec(header ?? '');
  const given = match?.[1];
  if (given === undefined) return { kind: 'missing', message: 'missing bearer token: send the header "Authorization: Bearer <MCP_TOKEN>"' };
  if (!timingSafeEqual(digest(given), expected)) return { kind: 'wrong', message: 'wrong bearer token: it is not the MCP_TOKEN this server was started with' };
  return null;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function sendJsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}
