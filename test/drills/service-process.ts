import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/**
 * The service under test as a real operating-system process (`adjutant start` through tsx, one
 * process, so SIGKILL reaches the service itself and not a wrapper). It is killed without
 * warning and started again on the same port and database, as a crashed container would be.
 */
export interface ServiceRun {
  /** 1-based. */
  number: number;
  pid: number | null;
  /** ms since the drill started. */
  spawnedAt: number;
  /** First answer on /healthz: the process is up and its HTTP server listens. */
  httpAt: number | null;
  /** /healthz says the watcher is watching the mailbox (not in standby). */
  readyAt: number | null;
  endedAt: number | null;
  /** 'killed' by the drill, 'exited' on its own (code or signal), or 'stopped' at the end. */
  end: string | null;
}

export interface ServiceProcess {
  readonly runs: ServiceRun[];
  readonly port: number;
  /** True between spawn and exit. */
  running(): boolean;
  /** True when the current run answered /healthz with the watcher watching. */
  ready(): boolean;
  /** Spawn and wait until ready (throws after `timeoutMs`). */
  start(timeoutMs?: number): Promise<ServiceRun>;
  /** SIGKILL the current process (no-op when none) and wait for it to be gone. */
  kill(): Promise<void>;
  /** Kill without waiting: for hooks that must act before an answer leaves. */
  killNow(): void;
  /** SIGTERM and wait; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Warn/error log lines the service printed (LOG_LEVEL=warn), all runs. */
  logLines(): number;
  /** Flush and close the log file. */
  closeLog(): Promise<void>;
}

export function createServiceProcess(options: {
  /** Repository whose bin/adjutant.mjs runs (the drill's own by default). */
  root: string;
  env: Record<string, string>;
  port: number;
  logDirectory: string;
  startedAt: number;
}): ServiceProcess {
  const runs: ServiceRun[] = [];
  const now = () => performance.now() - options.startedAt;
  let child: ChildProcess | null = null;
  let current: ServiceRun | null = null;
  let exited: Promise<void> = Promise.resolve();
  let killing = false;
  let lines = 0;
  const log: WriteStream = createWriteStream(join(options.logDirectory, 'service.log'), { flags: 'a' });

  const spawnOnce = (): ServiceRun => {
    const run: ServiceRun = { number: runs.length + 1, pid: null, spawnedAt: now(), httpAt: null, readyAt: null, endedAt: null, end: null };
    runs.push(run);
    current = run;
    // A clean environment, and a working directory without a .env, so nothing of the developer's leaks in.
    const spawned = spawn(process.execPath, [join(options.root, 'bin', 'adjutant.mjs'), 'start'], {
      cwd: options.logDirectory,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    run.pid = spawned.pid ?? null;
    child = spawned;
    log.write(`--- run ${run.number} (pid ${run.pid}) spawned at ${(run.spawnedAt / 1000).toFixed(1)} s\n`);
    const relay = (chunk: Buffer) => {
      lines += chunk.toString('utf8').split('\n').filter((line) => line.trim() !== '').length;
      log.write(chunk);
    };
    spawned.stdout?.on('data', relay);
    spawned.stderr?.on('data', relay);
    exited = new Promise((resolve) => {
      spawned.once('exit', (code, signal) => {
        run.endedAt = now();
        run.end ??= killing ? 'killed' : `exited (${signal ?? `code ${code}`})`;
        log.write(`--- run ${run.number} ended at ${(run.endedAt / 1000).toFixed(1)} s: ${run.end}\n`);
        if (child === spawned) child = null;
        resolve();
      });
    });
    return run;
  };

  const healthy = async (run: ServiceRun): Promise<boolean> => {
    try {
      const response = await fetch(`http://127.0.0.1:${options.port}/healthz`, { signal: AbortSignal.timeout(2000) });
      run.httpAt ??= now();
      const report = (await response.json()) as { parts?: Record<string, { status?: string; detail?: string }> };
      const imap = report.parts?.imap;
      // "standby" means another process still holds the mailbox lock: not ready to take mail.
      return imap?.status === 'ok' && (imap.detail ?? '').startsWith('watching') && report.parts?.jobs?.status === 'ok';
    } catch {
      return false;
    }
  };

  const service: ServiceProcess = {
    runs,
    port: options.port,
    running: () => child !== null,
    ready: () => child !== null && current?.readyAt !== null && current?.endedAt === null,
    async start(timeoutMs = 90_000) {
      if (child) throw new Error('the service is already running');
      killing = false;
      const run = spawnOnce();
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        if (run.endedAt !== null) throw new Error(`the service exited during start-up (${run.end}); see ${join(options.logDirectory, 'service.log')}`);
        if (await healthy(run)) {
          run.readyAt = now();
          return run;
        }
        if (performance.now() > deadline) throw new Error(`the service was not ready within ${timeoutMs} ms; see ${join(options.logDirectory, 'service.log')}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    killNow() {
      if (!child) return;
      killing = true;
      if (current) current.end = 'killed';
      child.kill('SIGKILL');
    },
    async kill() {
      service.killNow();
      await exited;
    },
    async stop(graceMs = 10_000) {
      if (!child) return;
      const target = child;
      if (current) current.end = 'stopped';
      target.kill('SIGTERM');
      const timer = setTimeout(() => target.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    logLines: () => lines,
    closeLog: () => new Promise<void>((resolve) => log.end(() => resolve())),
  };
  return service;
}
