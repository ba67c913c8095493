import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { HealthRegistry } from './health.ts';
import type { Logger } from './logger.ts';
import { MCP_DISABLED_MESSAGE } from './mcp/disabled.ts';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * One HTTP server on PORT for /healthz, /slack/events (HTTP mode) and /mcp.
 * Owning the server (rather than Bolt's) keeps /healthz up when Slack is not configured.
 */
export function createHttpServer(deps: { health: HealthRegistry; slackEvents: RequestListener | null; mcp?: RequestListener | null; logger: Logger }): {
  server: Server;
  listen(port: number, host?: string): Promise<number>;
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
      if (deps.slackEvents) return deps.slackEvents(req, res);
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
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address();
          const bound = typeof address === 'object' && address ? address.port : port;
          deps.logger.info({ port: bound }, 'HTTP server listening');
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
