/**
 * Adjutant as an MCP server: the team's memory and its approval queue, offered to Claude Desktop
 * and other MCP clients over stdio (`adjutant mcp`, ./stdio.ts) and Streamable HTTP (`/mcp`,
 * ./http.ts). One file per tool in ./tools; each has a zod input schema, which the SDK turns into
 * the JSON Schema the client sees.
 *
 * Errors, as the issue asks:
 * - a tool that fails returns a result with `isError: true` and a message the calling model can
 *   read (secrets redacted);
 * - input that does not fit the schema, or an unknown tool, is a JSON-RPC protocol error
 *   (-32602, Invalid params) whose message names each offending field. The SDK's McpServer (1.32)
 *   would instead wrap a validation failure into an `isError` result (SEP-1303), so tools/call is
 *   answered here; listing stays with the SDK.
 */
import { readFileSync } from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CallToolRequestSchema, ErrorCode, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { errorMessage } from '../errors.ts';
import { redactText } from '../logger.ts';
import type { McpDeps } from './port.ts';
import { ToolFailure, type McpTool, type ToolContext } from './tool.ts';
import { askTool } from './tools/ask.ts';
import { getEmailTimelineTool } from './tools/get-email-timeline.ts';
import { listPendingApprovalsTool } from './tools/list-pending-approvals.ts';
import { rememberTool } from './tools/remember.ts';
import { searchMemoryTool } from './tools/search-memory.ts';

export type { McpAnswer, McpDeps, PendingApproval, EmailSummary } from './port.ts';

export const MCP_TOOLS: readonly McpTool[] = [searchMemoryTool, askTool, rememberTool, listPendingApprovalsTool, getEmailTimelineTool];

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const INSTRUCTIONS = `Adjutant is the team's operations assistant for its shared mailbox and Slack. It remembers emails, Slack messages and facts with where each came from, and drafts replies that teammates approve in Slack.
- ask: answer a question from memory with numbered sources; search_memory: find items, with filters.
- remember: store a fact the user asks you to remember (attributed to this client).
- list_pending_approvals: drafts waiting for a teammate; get_email_timeline: what happened to one email.
Nothing is approved or sent through these tools.`;

/** A tool's error text is cut here: a model reads it, a stack trace would not help. */
const MAX_ERROR_CHARS = 1000;

export function createMcpServer(deps: McpDeps): McpServer {
  const mcp = new McpServer({ name: 'adjutant', title: 'Adjutant', version: VERSION }, { instructions: INSTRUCTIONS, capabilities: { tools: {} } });
  const tools = new Map<string, McpTool>();

  const context = (): ToolContext => {
    const client = mcp.server.getClientVersion();
    return { deps, client: client ? { name: client.name, version: client.version } : null, now: deps.now?.() ?? new Date() };
  };

  async function run(tool: McpTool, input: unknown): Promise<CallToolResult> {
    try {
      const output = await tool.run(input, context());
      const checked = tool.outputSchema.safeParse(output.structured);
      if (!checked.success) throw new Error(`its result did not match its output schema (${describeIssues(checked.error)})`);
      return { content: [{ type: 'text', text: output.text }], structuredContent: output.structured };
    } catch (error) {
      const message = error instanceof ToolFailure ? error.message : `${tool.name} failed: ${errorMessage(error)}`;
      if (!(error instanceof ToolFailure)) deps.logger.warn({ err: error, tool: tool.name }, 'MCP tool failed');
      return { isError: true, content: [{ type: 'text', text: clip(redactText(message), MAX_ERROR_CHARS) }] };
    }
  }

  for (const tool of MCP_TOOLS) {
    // The SDK lists the tool (its schemas as JSON Schema); the callback is what it would run if
    // tools/call were left to it, kept equivalent to the handler below.
    mcp.registerTool(tool.name, { title: tool.title, description: tool.description, inputSchema: tool.inputSchema, outputSchema: tool.outputSchema, annotations: tool.annotations }, (input: unknown) => run(tool, input));
    tools.set(tool.name, tool);
  }

  mcp.server.removeRequestHandler(CallToolRequestSchema.shape.method.value);
  mcp.server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const { name } = request.params;
    const tool = tools.get(name);
    if (!tool) throw new ProtocolError(ErrorCode.InvalidParams, `Unknown tool ${JSON.stringify(name)}: the tools are ${[...tools.keys()].join(', ')}`);
    const parsed = await tool.inputSchema.safeParseAsync(request.params.arguments ?? {});
    if (!parsed.success) {
      throw new ProtocolError(ErrorCode.InvalidParams, `Invalid arguments for ${name}: ${describeIssues(parsed.error)}`, {
        tool: name,
        issues: parsed.error.issues.map((issue) => ({ field: fieldOf(issue), message: issue.message })),
      });
    }
    return run(tool, parsed.data);
  });
  return mcp;
}

/**
 * A JSON-RPC error for the SDK to send as is: its code, message and data. (McpError would put
 * "MCP error -32602:" in the message, and the client adds that again.)
 */
class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

/** "limit: Too big: expected number to be <=50; foo: not a parameter" */
function describeIssues(error: z.ZodError): string {
  return clip(error.issues.map((issue) => `${fieldOf(issue)}: ${issue.code === 'unrecognized_keys' ? 'not a parameter of this tool' : issue.message}`).join('; '), MAX_ERROR_CHARS);
}

function fieldOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => [...issue.path, key].map(String).join('.')).join(', ');
  return issue.path.length > 0 ? issue.path.map(String).join('.') : '(arguments)';
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
