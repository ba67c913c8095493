import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { AdjutantError, errorMessage } from '../../errors.ts';

/**
 * The external MCP servers our agents may use (MCP_SERVERS_FILE), in the `mcpServers` shape
 * Claude Desktop and Cursor use, plus two fields of ours per server: `tools`, the policy of each
 * tool (`read` runs directly; anything else is `write` and waits for a teammate's approval in
 * Slack), and `timeoutMs`, how long a call may take before the tool counts as unavailable.
 *
 * `${NAME}` in a command's args or env, a URL or a header is read from the environment, so
 * secrets stay out of the file; a name that is not set is an error naming it.
 */

export type ToolPolicy = 'read' | 'write';

interface ServerCommon {
  name: string;
  /** Tool name → policy, as written; tools not listed are `write`. */
  tools: Record<string, ToolPolicy>;
  timeoutMs: number;
}

export type McpServerConfig =
  | (ServerCommon & { transport: 'stdio'; command: string; args: string[]; env: Record<string, string>; cwd: string | null })
  | (ServerCommon & { transport: 'http'; url: URL; headers: Record<string, string> });

/** MCP_SERVERS_FILE when unset: in the working directory, used when it exists. */
export const DEFAULT_SERVERS_FILE = 'mcp-servers.json';

/** A tool call waits this long by default before the tool is reported unavailable. */
export const DEFAULT_TOOL_TIMEOUT_MS = 15_000;

const SERVER_NAME = /^[A-Za-z0-9_-]{1,32}$/;

const common = {
  tools: z.record(z.string().min(1), z.enum(['read', 'write'], { error: 'expected "read" or "write"' })).default({}),
  timeoutMs: z.number().int().min(100).max(600_000).default(DEFAULT_TOOL_TIMEOUT_MS),
  /** Claude Desktop's and Cursor's files carry these; accepted so the same file works. */
  type: z.enum(['stdio', 'http', 'streamable-http', 'streamableHttp']).optional(),
  disabled: z.boolean().default(false),
};

const stdioServer = z.strictObject({
  ...common,
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  cwd: z.string().min(1).optional(),
});

const httpServer = z.strictObject({
  ...common,
  url: z.string().min(1),
  headers: z.record(z.string(), z.string()).default({}),
});

const serversFile = z.strictObject({
  mcpServers: z.record(
    z.string(),
    // Told apart by their fields, so a mistake is reported against the kind of server it is in.
    z.record(z.string(), z.unknown()).pipe(
      z.custom<z.infer<typeof stdioServer> | z.infer<typeof httpServer>>().transform((server, context) => {
        const schema = 'command' in server ? stdioServer : 'url' in server ? httpServer : null;
        if (!schema) {
          context.addIssue({ code: 'custom', message: 'expected a stdio server ({"command": …, "args": […]}) or an HTTP server ({"url": …, "headers": {…}})' });
          return z.NEVER;
        }
        const parsed = schema.safeParse(server);
        if (parsed.success) return parsed.data;
        for (const issue of parsed.error.issues) context.addIssue({ code: 'custom', message: issue.message, path: issue.path });
        return z.NEVER;
      }),
    ),
  ),
});

/**
 * The servers in the file MCP_SERVERS_FILE names (`configured`), else in DEFAULT_SERVERS_FILE. A
 * missing default file means none (nothing configured); a file someone named must exist. Every
 * mistake names the file and the field.
 */
export function loadServersFile(configured: string | undefined, options: { env: NodeJS.ProcessEnv; cwd?: string }): McpServerConfig[] {
  const file = resolve(options.cwd ?? process.cwd(), configured ?? DEFAULT_SERVERS_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && configured === undefined) return [];
    throw new AdjutantError('CONFIG_INVALID', `MCP_SERVERS_FILE ${file} cannot be read: ${errorMessage(error)} (fix the path, or unset MCP_SERVERS_FILE to use no external tools)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new AdjutantError('CONFIG_INVALID', `MCP_SERVERS_FILE ${file} is not valid JSON: ${errorMessage(error)}`);
  }
  const parsed = serversFile.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`).join('; ');
    throw new AdjutantError('CONFIG_INVALID', `MCP_SERVERS_FILE ${file} is not a valid servers file: ${problems}`);
  }
  const servers: McpServerConfig[] = [];
  for (const [name, server] of Object.entries(parsed.data.mcpServers)) {
    if (!SERVER_NAME.test(name)) throw new AdjutantError('CONFIG_INVALID', `MCP_SERVERS_FILE ${file}: the server name "${name}" must be 1–32 letters, digits, _ or - (it prefixes its tools’ names)`);
    if (server.disabled) continue;
    const expand = (value: string, field: string) => expandVariables(value, options.env, `${file}: mcpServers.${name}.${field}`);
    const base = { name, tools: server.tools, timeoutMs: server.timeoutMs };
    if ('command' in server) {
      servers.push({
        ...base,
        transport: 'stdio',
        command: expand(server.command, 'command'),
        args: server.args.map((arg, index) => expand(arg, `args.${index}`)),
        env: Object.fromEntries(Object.entries(server.env).map(([key, value]) => [key, expand(value, `env.${key}`)])),
        cwd: server.cwd ? resolve(options.cwd ?? process.cwd(), server.cwd) : null,
      });
    } else {
      let url: URL;
      try {
        url = new URL(expand(server.url, 'url'));
      } catch {
        throw new AdjutantError('CONFIG_INVALID', `${file}: mcpServers.${name}.url is not a URL: ${server.url}`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AdjutantError('CONFIG_INVALID', `${file}: mcpServers.${name}.url must be http(s), not ${url.protocol}`);
      servers.push({ ...base, transport: 'http', url, headers: Object.fromEntries(Object.entries(server.headers).map(([key, value]) => [key, expand(value, `headers.${key}`)])) });
    }
  }
  return servers;
}

/** `${NAME}` (and Cursor's `${env:NAME}`) from the environment. */
function expandVariables(value: string, env: NodeJS.ProcessEnv, where: string): string {
  return value.replace(/\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const found = env[name];
    if (found === undefined) throw new AdjutantError('CONFIG_INVALID', `${where} uses \${${name}}, which is not set in the environment`);
    return found;
  });
}
