import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { McpDeps } from './port.ts';

/** What a tool's handler gets besides its input. */
export interface ToolContext {
  deps: McpDeps;
  /** The connected client as it introduced itself (`initialize`'s clientInfo), when it did. */
  client: { name: string; version: string } | null;
  now: Date;
}

/** A tool's result: text for the calling model, and the same as structured content. */
export interface ToolOutput<S> {
  text: string;
  structured: S;
}

/**
 * A failure the handler explains itself ("no email with Message-ID …"): its message is shown to
 * the calling model as is. Any other error is shown too, prefixed with the tool's name.
 */
export class ToolFailure extends Error {
  override name = 'ToolFailure';
}

/** One MCP tool, its types erased so the server can hold them in one list. */
export interface McpTool {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly inputSchema: z.ZodObject;
  readonly outputSchema: z.ZodObject;
  readonly annotations: ToolAnnotations;
  /** Runs with input already parsed by `inputSchema`. */
  run(input: unknown, context: ToolContext): Promise<ToolOutput<Record<string, unknown>>>;
}

export interface ToolDefinition<I extends z.ZodObject, O extends z.ZodObject> {
  name: string;
  title: string;
  description: string;
  inputSchema: I;
  outputSchema: O;
  annotations: ToolAnnotations;
  handler(input: z.output<I>, context: ToolContext): Promise<ToolOutput<z.input<O>>>;
}

export function defineTool<I extends z.ZodObject, O extends z.ZodObject>(tool: ToolDefinition<I, O>): McpTool & ToolDefinition<I, O> {
  return {
    ...tool,
    // The server parses the input with `inputSchema` before calling: the cast only restores the type.
    run: (input, context) => tool.handler(input as z.output<I>, context) as Promise<ToolOutput<Record<string, unknown>>>,
  };
}

/** A date as the tools write it: ISO 8601, or null. */
export function isoDate(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}

/** Text on one line, cut to `max` characters. */
export function oneLine(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max).trimEnd()}…` : line;
}
