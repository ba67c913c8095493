import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { fromServerSchema, type FromServer, type ServerSettings, type ToServer } from './protocol.ts';

const SERVER_ENTRY = fileURLToPath(new URL('./server.ts', import.meta.url));

export type Reply<T extends FromServer['type']> = Extract<FromServer, { type: T }>;

export interface ServerProcess {
  ready: Reply<'ready'>;
  request<T extends FromServer['type']>(message: ToServer, expect: T, timeoutMs: number): Promise<Reply<T>>;
  stop(): Promise<void>;
}

/** Fork the server process (it inherits tsx from this one) and wait until it listens. `started` gets it at once, so a failed start is stopped too. */
export async function startServer(settings: ServerSettings, started: ServerProcess[], timeoutMs = 120_000): Promise<ServerProcess> {
  // BENCH_PROFILE=<directory>: a V8 CPU profile of each Adjutant server process, written there when it stops.
  const profileDirectory = process.env.BENCH_PROFILE;
  const execArgv = profileDirectory && settings.target === 'adjutant' ? [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${profileDirectory}`] : process.execArgv;
  const child = fork(SERVER_ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
  const request = <T extends FromServer['type']>(message: ToServer, expect: T, requestTimeoutMs: number) => exchange(child, settings.target, message, expect, requestTimeoutMs);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await request({ type: 'stop' }, 'stopped', 15_000).catch(() => child.kill('SIGKILL'));
    await exited;
  };
  const partial: ServerProcess = { ready: { type: 'ready', port: 0, draftIds: [], database: null }, request, stop };
  started.push(partial);
  partial.ready = await request({ type: 'start', settings }, 'ready', timeoutMs);
  return partial;
}

function exchange<T extends FromServer['type']>(child: ChildProcess, name: string, message: ToServer, expect: T, timeoutMs: number): Promise<Reply<T>> {
  return new Promise((resolve, reject) => {
    const done = (settle: () => void) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      settle();
    };
    const onMessage = (raw: unknown) => {
      const parsed = fromServerSchema.safeParse(raw);
      if (!parsed.success) return done(() => reject(new Error(`${name} server sent an unreadable message: ${JSON.stringify(raw).slice(0, 500)}`)));
      const reply = parsed.data;
      if (reply.type === 'failed') return done(() => reject(new Error(`${name} server failed: ${reply.error}`)));
      if (reply.type === expect) done(() => resolve(reply as Reply<T>));
    };
    const onExit = (code: number | null) => done(() => reject(new Error(`${name} server exited (code ${code}) before answering ${message.type}`)));
    const timer = setTimeout(() => done(() => reject(new Error(`${name} server did not answer ${message.type} within ${timeoutMs} ms`))), timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message);
  });
}
