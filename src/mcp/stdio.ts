/**
 * MCP over stdio, for `adjutant mcp` (Claude Desktop and other clients that start the server as
 * a child process). stdout carries the protocol and nothing else: logs go to stderr, and while
 * the server runs anything else written to process.stdout (a library's console.log, a worker
 * thread's output) is sent to stderr too, so it cannot corrupt a message.
 */
import { Writable, type Readable } from 'node:stream';
import { pino } from 'pino';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createLogger, type Logger } from '../logger.ts';
import type { McpDeps } from './port.ts';
import { createMcpServer } from './server.ts';

/** The logger for a stdio server: JSON lines on stderr (fd 2), written synchronously. */
export function createStderrLogger(level: string): Logger {
  return createLogger({ level, destination: pino.destination({ dest: 2, sync: true }) });
}

export interface StdioOptions {
  /** Defaults to process.stdin / process.stdout; with those, stdout is guarded and SIGINT/SIGTERM stop the server. */
  stdin?: Readable;
  stdout?: Writable;
}

/**
 * Serve MCP on stdin/stdout until the client closes stdin (or a signal arrives), then close.
 * Resolves once the server is closed; the caller then releases what `deps` holds.
 */
export async function runStdioServer(deps: McpDeps, options: StdioOptions = {}): Promise<void> {
  const usesProcess = options.stdin === undefined && options.stdout === undefined;
  const stdin = options.stdin ?? process.stdin;
  const guard = usesProcess ? guardStdout() : null;
  const stdout = options.stdout ?? guard?.protocol ?? process.stdout;
  const server = createMcpServer(deps);
  const transport = new StdioServerTransport(stdin, stdout);
  const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
  const stop = (why: string) => () => {
    deps.logger.info({ why }, 'MCP stdio server stopping');
    void server.close();
  };
  const onEnd = stop('stdin closed');
  const onSigterm = stop('SIGTERM');
  const onSigint = stop('SIGINT');
  stdin.once('end', onEnd);
  stdin.once('close', onEnd);
  if (usesProcess) {
    process.once('SIGTERM', onSigterm);
    process.once('SIGINT', onSigint);
  }
  try {
    await server.connect(transport);
    deps.logger.info('MCP server on stdio: ready');
    await closed;
  } finally {
    stdin.off('end', onEnd);
    stdin.off('close', onEnd);
    process.off('SIGTERM', onSigterm);
    process.off('SIGINT', onSigint);
    guard?.restore();
  }
}

/**
 * Keep process.stdout for the protocol: the returned stream writes to it, and process.stdout's
 * own `write` goes to stderr until `restore`.
 */
function guardStdout(): { protocol: Writable; restore(): void } {
  const stdout = process.stdout;
  const original = stdout.write;
  const write = original.bind(stdout) as (chunk: Uint8Array | string, callback: (error?: Error | null) => void) => boolean;
  const protocol = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      write(chunk, callback);
    },
  });
  stdout.write = ((chunk: Uint8Array | string, encoding?: BufferEncoding | ((error?: Error | null) => void), callback?: (error?: Error | null) => void) =>
    typeof encoding === 'function' ? process.stderr.write(chunk, encoding) : process.stderr.write(chunk, encoding, callback)) as typeof stdout.write;
  return {
    protocol,
    restore() {
      stdout.write = original;
    },
  };
}
