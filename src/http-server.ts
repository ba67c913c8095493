import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { HealthRegistry } from './health.ts';
import type { Logger } from './logger.ts';
import { MCP_DISABLED_MESSAGE } from './mcp/disabled.ts';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The service's HTTP server, for /healthz and /mcp: on PORT, or, in Slack's HTTP mode, on a
 * loopback port behind the Slack front thread, which owns PORT and answers /slack/events itself.
 * Owning the server (rather than Bolt's) keeps /healthz up when Slack is not configured.
 */
export function createHttpServer(deps: { health: HealthRegistry; mcp?: RequestListener | null; logger: Logger }): {
  server: Server;
  /** `behind`: the loopback server the Slack front thread passes requests to (logged as such). */
  listen(port: number, host?: string, behind?: 'slack-front'): Promise<number>;
  close(): Promise<void>;
} {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      deps.health
        .report()
        .then((report) => send(res, report.ok ? 200 : 503, report))
        .catch((error: unknown) => send(res, 500, { ok: false, error: String(error) }));
      return;
    }
    if (path === '/slack/events') {
      // In HTTP mode the front thread answers this path and never passes it on.
      return send(res, 404, { error: 'Slack HTTP mode is not enabled: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (and leave SLACK_APP_TOKEN unset)' });
    }
    if (path === '/mcp') {
      // The endpoint checks the bearer token itself.
      if (deps.mcp) return deps.mcp(req, res);
      return send(res, 404, { error: MCP_DISABLED_MESSAGE });
    }
    send(res, 404, { error: `no route for ${req.method} ${path}` });
  });
  // Slack and load balancers keep connections alive; shutdown should not wait for them.
  server.keepAliveTimeout = 5000;
  return {
    server,
    listen(port, host, behind) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address();
          const bound = typeof address === 'object' && address ? address.port : port;
          if (behind) deps.logger.debug({ port: bound }, 'HTTP server listening on loopback behind the Slack front thread');
          else deps.logger.info({ port: bound }, 'HTTP server listening');
          resolve(bound);
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 2));
}
