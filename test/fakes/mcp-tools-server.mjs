// An external MCP server written for the tests: a small helpdesk over stdio (or Streamable HTTP
// when imported and served in-process, see createToolsServer). Plain JavaScript so it starts as
// fast as `node` does.
//   lookup_order  (the tests mark it read):  answers from a fixed table
//   create_ticket (write): appends one line per run to $TICKETS_FILE, so a test can count runs
//   crash: exits the process (a server that goes away)
// With HANG=1 every call hangs: a server that is up but never answers.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const ORDERS = { 1182: 'Order 1182: six oak chairs, shipped 2026-11-20 by DHL, tracking DHL-88341' };

export function createToolsServer(options = {}) {
  const ticketsFile = options.ticketsFile ?? process.env.TICKETS_FILE;
  const hang = options.hang ?? process.env.HANG === '1';
  const never = () => new Promise(() => undefined);
  const server = new McpServer({ name: 'helpdesk-test', version: '1.0.0' });
  server.registerTool('lookup_order', { description: 'Look up an order by its number.', inputSchema: { order: z.string() } }, async ({ order }) => {
    if (hang) return never();
    const found = ORDERS[order];
    return found ? { content: [{ type: 'text', text: found }] } : { content: [{ type: 'text', text: `No order ${order}` }], isError: true };
  });
  server.registerTool('create_ticket', { description: 'Open a helpdesk ticket.', inputSchema: { title: z.string(), order: z.string().optional() } }, async ({ title, order }) => {
    if (hang) return never();
    const count = ticketsFile && existsSync(ticketsFile) ? readFileSync(ticketsFile, 'utf8').split('\n').filter(Boolean).length : 0;
    const id = `T-${count + 1}`;
    if (ticketsFile) appendFileSync(ticketsFile, `${JSON.stringify({ id, title, order: order ?? null })}\n`);
    return { content: [{ type: 'text', text: `Ticket ${id} opened: ${title}` }] };
  });
  server.registerTool('crash', { description: 'Stops the server.', inputSchema: {} }, async () => {
    setTimeout(() => process.exit(3), 10);
    return { content: [{ type: 'text', text: 'stopping' }] };
  });
  return server;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await createToolsServer().connect(new StdioServerTransport());
}
