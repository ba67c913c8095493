import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';

/**
 * The service started as a user starts it (`npm start` in the repository), in its own process
 * group so the whole tree (npm, sh, node, esbuild, anything it spawns) can be measured and
 * stopped, with stdout and stderr kept in a log file and in memory for waiting on lines.
 */
export interface ServiceProcess {
  readonly pid: number;
  readonly logFile: string;
  /** Every complete line so far, stdout and stderr interleaved as they arrived. */
  lines(): string[];
  /** pino's JSON lines, parsed; other lines (npm's banner, stack traces) are skipped. */
  records(): LogRecord[];
  /** The first record matching, waiting up to `timeoutMs`; rejects early if the process exits. */
  waitForRecord(what: string, match: (record: LogRecord) => boolean, timeoutMs: number): Promise<LogRecord>;
  exited(): boolean;
  /** SIGTERM to the group, as a supervisor would; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface LogRecord {
  level?: number;
  time?: number;
  msg?: string;
  [key: string]: unknown;
}

export function startServiceProcess(options: { command: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv; logFile: string }): ServiceProcess {
  const log: WriteStream = createWriteStream(options.logFile);
  const child: ChildProcess = spawn(options.command, options.args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${options.command} ${options.args.join(' ')}`);
  const pid = child.pid;
  const lines: string[] = [];
  const records: LogRecord[] = [];
  const waiters = new Set<() => void>();
  let exitCode: number | null | undefined;
  let exitSignal: NodeJS.Signals | null = null;

  const partial = { stdout: '', stderr: '' };
  const take = (stream: 'stdout' | 'stderr', chunk: Buffer) => {
    log.write(chunk);
    const text = partial[stream] + chunk.toString('utf8');
    const complete = text.split('\n');
    partial[stream] = complete.pop() ?? '';
    for (const line of complete) {
      lines.push(line);
      if (line.startsWith('{')) {
        try {
          records.push(JSON.parse(line) as LogRecord);
        } catch {
          // Not JSON after all: kept as a line only.
        }
      }
    }
    for (const wake of waiters) wake();
  };
  child.stdout?.on('data', (chunk: Buffer) => take('stdout', chunk));
  child.stderr?.on('data', (chunk: Buffer) => take('stderr', chunk));
  const exit = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      for (const wake of waiters) wake();
      resolve();
    });
  });

  return {
    pid,
    logFile: options.logFile,
    lines: () => [...lines],
    records: () => [...records],
    exited: () => exitCode !== undefined,
    waitForRecord(what, match, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = records.find(match);
          if (found) return finish(() => resolve(found));
          if (exitCode !== undefined) return finish(() => reject(new Error(`the service exited (${exitSignal ?? `code ${exitCode}`}) before ${what}; log: ${options.logFile}\n${lines.slice(-15).join('\n')}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; log: ${options.logFile}`))), timeoutMs);
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    async stop(graceMs = 15_000) {
      if (exitCode === undefined) {
        signalGroup(pid, 'SIGTERM');
        const killed = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
        await exit;
        clearTimeout(killed);
      }
      // npm can exit before the node process below it has finished: make sure nothing of the group is left.
      await waitForGroupToEnd(pid, graceMs);
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group has gone.
  }
}

async function waitForGroupToEnd(pgid: number, graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid)) {
    if (Date.now() > deadline) {
      signalGroup(pgid, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 200));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The variables `.env.example` documents: set to '' they override a developer's `.env` (an empty value counts as unset). */
export function documentedVariables(envExampleFile: string): string[] {
  const names = new Set<string>();
  for (const line of readFileSync(envExampleFile, 'utf8').split('\n')) {
    const match = /^\s*#?\s*([A-Z][A-Z0-9_]*)=/.exec(line);
    if (match?.[1]) names.add(match[1]);
  }
  return [...names];
}
