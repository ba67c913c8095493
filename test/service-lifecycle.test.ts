import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
import { waitUntil } from './support/wait.ts';



describe('the adjutant command', () => {
  let directory: TestDatabase;
  afterAll(async () => directory?.drop());

  it('stops start-up on a malformed value, naming the variable and the expected form', async () => {
    const proc = runCli(['start'], { PORT: 'eighty', SLACK_APPROVALS_CHANNEL: '#ops' });
    expect(await proc.exited).toBe(2);
    const { stderr } = proc.output();
    expect(stderr).toContain('PORT: expected a port number');
    expect(stderr).toContain('SLACK_APPROVALS_CHANNEL: expected a Slack channel ID');
  });

  it('starts with nothing configured, reports each part on /healthz, and stops cleanly on SIGTERM', async () => {
    directory = await createTestDatabase('pglite');
    const proc = runCli(['start'], { DATA_DIR: directory.dataDir, PORT: '0', LOG_LEVEL: 'info' });
    const port = await waitUntil('the HTTP server to listen', () => /"port":(\d+),"msg":"HTTP server listening"/.exec(proc.output().stdout)?.[1], 60_000);
    await waitUntil('start-up to finish', () => proc.output().stdout.includes('Adjutant is running'), 30_000);

    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(response.status).toBe(200);
    const health = (await response.json()) as { ok: boolean; parts: Record<string, { status: string; reason?: string }> };
    expect(health.ok).toBe(true);
    expect(health.parts.database?.status).toBe('ok');
    expect(health.parts.jobs?.status).toBe('ok');
    expect(health.parts.imap).toEqual({ status: 'disabled', reason: 'set IMAP_HOST, IMAP_USER, IMAP_PASSWORD' });
    expect(health.parts.slack).toEqual({ status: 'disabled', reason: 'set SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET' });
    expect(health.parts.smtp?.status).toBe('disabled');
    expect(health.parts.anthropic?.status).toBe('disabled');

    const events = await fetch(`http://127.0.0.1:${port}/slack/events`, { method: 'POST', body: '{}' });
    expect(events.status).toBe(404);
    expect(await events.text()).toContain('SLACK_SIGNING_SECRET');

    const signalledAt = Date.now();
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(5000);
    expect(proc.output().stdout).toContain('Adjutant stopped');
  });
});
