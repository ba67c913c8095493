import { spawn } from 'node:child_process';

const CLI = new URL('../../bin/adjutant.mjs', import.meta.url).pathname;

/**
 * Run the `adjutant` command as a user would, in a clean environment: only what the test sets,
 * so a developer's .env or shell cannot leak in.
 */
export function runCli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, cwd: '/tmp' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}
