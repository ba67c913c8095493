import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';

/** The helpdesk MCP server of the tests (mcp-tools-server.mjs). */
export function createToolsServer(options?: { ticketsFile?: string; hang?: boolean }): McpServer;
