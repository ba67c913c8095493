import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config.ts';
import { startService, type Service } from '../src/main.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
import { appendWithDate, deliver, freshMailboxUser, plainMessage } from './support/mailbox.ts';
import { testServices } from './support/services.ts';
import { waitUntil } from './support/wait.ts';


/** The watcher against real Dovecot: new mail is stored once, in order, and none is lost across restarts. */
describe('mailbox watcher', () => {
  let database: TestDatabase;
  let config: Config;
  let service: Service | undefined;
  const user = freshMailboxUser('watcher');

  async function start(): Promise<Service> {
    service = await startService(config, { host: '127.0.0.1', jobPollMs: 200, shutdownGraceMs: 500 });
    const running = service;
    await waitUntil('the watcher to watch', () => running.watcher?.health().state === 'watching');
    return running;
  }
  const subjects = async (running: Service) => (await running.database.prisma.email.findMany({ orderBy: { uid: 'asc' } })).map((email) => email.subject);

  beforeAll(async () => {
    const services = testServices();
    database = await createTestDatabase('postgres');
    config = loadConfig({
      envFile: null,
      env: {
        DATABASE_URL: database.databaseUrl ?? '',
        PORT: '0',
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
        IMAP_HOST: services.imapHost,
        IMAP_PORT: String(services.imapPort),
        IMAP_USER: user,
        IMAP_PASSWORD: services.imapPassword,
        IMAP_TLS: 'false',
        TEAM_DOMAINS: 'team.example',
      },
    });
    // Mail that was there, a month old, before Adjutant's first start.
    await appendWithDate(user, plainMessage('history-1', 'Old history'), new Date(Date.now() - 30 * 24 * 60 * 60 * 1000));
  });

  afterAll(async () => {
    await service?.stop();
    await database?.drop();
  });

  it('skips the history on first start and stores new mail once per Message-ID', async () => {
    const running = await start();
    await deliver(user, plainMessage('new-1', 'First new'));
    await waitUntil('the new message to be stored', async () => (await running.database.prisma.email.count()) === 1);

    // The same message delivered again (a resend, a second copy in the mailbox) is not stored twice.
    await deliver(user, plainMessage('new-1', 'First new'));
    await deliver(user, plainMessage('new-2', 'Second new'));
    await waitUntil('the second message', async () => (await running.database.prisma.email.count()) === 2);
    await running.watcher?.syncNow();
    expect(await subjects(running)).toEqual(['First new', 'Second new']);
    const received = await running.database.prisma.auditEntry.count({ where: { action: 'email.received' } });
    expect(received).toBe(2);
  });

  it('keeps broken MIME instead of losing it', async () => {
    const running = service as Service;
    const broken = readFileSync(new URL('./fixtures/email/malformed-mime.eml', import.meta.url));
    await deliver(user, broken);
    await waitUntil('the malformed message to be stored', async () => (await running.database.prisma.email.count()) === 3);
    const stored = await running.database.prisma.email.findFirstOrThrow({ orderBy: { receivedAt: 'desc' } });
    expect(Buffer.from(stored.raw).length).toBeGreaterThan(broken.length / 2);
  });

  it('picks up mail that arrived while it was stopped', async () => {
    await service?.stop();
    await deliver(user, plainMessage('offline-1', 'While stopped 1'));
    await deliver(user, plainMessage('offline-2', 'While stopped 2'));
    const running = await start();
    await waitUntil('both offline messages', async () => (await running.database.prisma.email.count()) === 5);
    const all = await subjects(running);
    expect(all.slice(-2)).toEqual(['While stopped 1', 'While stopped 2']);
  });

  it('rescans after a UIDVALIDITY change without storing anything twice', async () => {
    const running = service as Service;
    await service?.stop();
    execFileSync('doveadm', ['-c', testServices().dovecotConfig, 'mailbox', 'update', '-u', user, '--uid-validity', String(Math.floor(Date.now() / 1000)), 'INBOX']);
    await deliver(user, plainMessage('after-reset', 'After reset'));
    const restarted = await start();
    await waitUntil('the message after the reset', async () => (await restarted.database.prisma.email.count()) === 6);
    await restarted.watcher?.syncNow();
    expect(await restarted.database.prisma.email.count()).toBe(6);
    // The rescan covered recent mail only: the history skipped on first start stays skipped.
    expect(await subjects(restarted)).not.toContain('Old history');
    expect(running).not.toBe(restarted);
  });
});
