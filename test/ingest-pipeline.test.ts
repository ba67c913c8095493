import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { createMailboxStateStore } from '../src/channels/email/mailbox-state.ts';
import { parseAhead, parseEmail } from '../src/channels/email/parse-email.ts';
import { createDatabase } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createAuditLog } from '../src/memory/audit.ts';
import { createEmailStore } from '../src/memory/email-store.ts';
import { createEmailIngest } from '../src/orchestrator/ingest-email.ts';
import { createJobQueue } from '../src/orchestrator/job-queue.ts';
import { createTestDatabase, type DatabaseKind } from './support/databases.ts';
import { createWatcherRig, deliver, plainMessage, startTcpRelay, startWatching, type TcpRelay, type WatcherRig } from './support/mailbox.ts';
import { testServices } from './support/services.ts';
import { waitUntil } from './support/wait.ts';

/**
 * The watcher reads the next message ahead (fetches it and starts its parse) while the current
 * one is stored. Real Dovecot behind a byte-counting relay, the real ingest, real PostgreSQL:
 * stores stay in UID order, one at a time, and the saved position never passes a message that
 * is not stored.
 */
describe('mailbox watcher reading the next message ahead', () => {
  let rig: WatcherRig | undefined;
  let relay: TcpRelay | undefined;

  afterEach(async () => {
    await rig?.close();
    await relay?.close();
    rig = undefined;
    relay = undefined;
  });

  /** A rig whose mailbox was looked at once while empty, so mail delivered next is new mail. */
  async function rigWithNewMail(prefix: string, messages: string[]): Promise<{ current: WatcherRig; mailbox: string }> {
    const current = (rig = await createWatcherRig(prefix));
    // Through the relay from the start: the port is part of the mailbox's key.
    relay = await startTcpRelay(testServices().imapHost, testServices().imapPort);
    const first = current.watcher({ port: relay.port });
    await startWatching(first);
    await first.stop();
    // Delivered while nobody watches: the next watcher finds them all in one pass.
    for (const message of messages) await deliver(current.user, message);
    return { current, mailbox: first.health().mailbox };
  }

  function realIngest(current: WatcherRig) {
    const logger = createLogger({ level: 'silent' });
    const { database } = current;
    // A real queue, never started: enqueue writes the job row and nothing runs it.
    const queue = createJobQueue({ pool: database.pool, embedded: false, logger });
    return createEmailIngest({ emails: createEmailStore(database), audit: createAuditLog(database.prisma), queue, logger, teamDomains: ['team.example'] });
  }

  /** Resolves true once `bytes` more have come from the server through the relay, false after `ms`. */
  async function serverSends(bytes: number, ms: number): Promise<boolean> {
    const current = relay;
    if (!current) throw new Error('no relay');
    const before = current.bytesToClient;
    return waitUntil('the next message to come through', () => current.bytesToClient - before >= bytes, ms).then(
      () => true,
      () => false,
    );
  }

  const big = (id: string, subject: string, headers: string[] = []) => {
    const message = plainMessage(id, subject, `${'Line of a long message body. '.repeat(3)}\r\n`.repeat(4000));
    return headers.length === 0 ? message : `${headers.join('\r\n')}\r\n${message}`;
  };
  const storedInOrder = async (current: WatcherRig) =>
    (await current.database.prisma.email.findMany({ orderBy: { receivedAt: 'asc' }, select: { uid: true, messageId: true, conversationId: true } })).map((email) => ({ ...email }));

  it('fetches the next message while storing one, stores them in UID order, and a reply read ahead still joins the thread before it', async () => {
    const reply = big('second', 'Re: Delivery dates', ['In-Reply-To: <first@client.example>', 'References: <first@client.example>']);
    const { current, mailbox } = await rigWithNewMail('ahead', [plainMessage('first', 'Delivery dates'), reply, plainMessage('third', 'Something else')]);
    const ingest = realIngest(current);
    let secondFetchedDuringFirst: boolean | null = null;
    const watcher = current.watcher({
      port: relay?.port,
      onMessage: async (raw, uid, mailbox) => {
        // The second message crosses the wire while the first is still in hand.
        if (uid === 1) secondFetchedDuringFirst = await serverSends(reply.length, 10_000);
        await ingest(raw, uid, mailbox);
      },
    });
    await startWatching(watcher);
    await waitUntil('all three stored', async () => (await current.database.prisma.email.count()) === 3);

    expect(secondFetchedDuringFirst).toBe(true);
    const stored = await storedInOrder(current);
    expect(stored.map((email) => [email.uid, email.messageId])).toEqual([
      [1, '<first@client.example>'],
      [2, '<second@client.example>'],
      [3, '<third@client.example>'],
    ]);
    // Stored after the first was committed, so its conversation lookup found it.
    expect(stored[1]?.conversationId).toBe(stored[0]?.conversationId);
    expect(stored[2]?.conversationId).not.toBe(stored[0]?.conversationId);
    await watcher.syncNow();
    expect(await createMailboxStateStore(current.database.prisma).get(mailbox)).toMatchObject({ lastUid: 3, attempt: null });
  });

  it('does not store the message read ahead when the store before it fails, nor move the position past the failed one', async () => {
    const third = big('third', 'Read ahead');
    const { current, mailbox } = await rigWithNewMail('ahead-fail', [plainMessage('first', 'First'), plainMessage('refused', 'Refused for now'), third]);
    const { pool } = current.database;
    // A real database error for one message, every time, until the trigger goes.
    await pool.query(`CREATE FUNCTION refuse_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.message_id = '<refused@client.example>' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`);
    await pool.query('CREATE TRIGGER refuse_for_test BEFORE INSERT ON emails FOR EACH ROW EXECUTE FUNCTION refuse_for_test()');
    const ingest = realIngest(current);
    let thirdFetchedDuringRefused: boolean | null = null;
    const watcher = current.watcher({
      port: relay?.port,
      limits: { maxAttempts: 100, retryDelayMs: () => 200 },
      onMessage: async (raw, uid, mailbox) => {
        if (uid === 2 && thirdFetchedDuringRefused === null) thirdFetchedDuringRefused = await serverSends(third.length, 10_000);
        await ingest(raw, uid, mailbox);
      },
    });
    const state = createMailboxStateStore(current.database.prisma);
    await startWatching(watcher);
    await waitUntil('a failed attempt recorded for the refused message', () => current.database.prisma.mailboxFailure.findFirst({ where: { uid: 2 } }));

    // The third was fetched (and its parse started) while the second was in hand...
    expect(thirdFetchedDuringRefused).toBe(true);
    // ...and yet only the first is stored, and the position is right after it.
    expect((await storedInOrder(current)).map((email) => email.messageId)).toEqual(['<first@client.example>']);
    expect(await state.get(mailbox)).toMatchObject({ lastUid: 1, attempt: { uid: 2 } });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await storedInOrder(current)).map((email) => email.messageId)).toEqual(['<first@client.example>']);
    expect((await state.get(mailbox))?.lastUid).toBe(1);

    await pool.query('DROP TRIGGER refuse_for_test ON emails');
    await waitUntil('the rest stored', async () => (await current.database.prisma.email.count()) === 3, 10_000);
    expect((await storedInOrder(current)).map((email) => email.messageId)).toEqual(['<first@client.example>', '<refused@client.example>', '<third@client.example>']);
    await watcher.syncNow();
    expect(await state.get(mailbox)).toMatchObject({ lastUid: 3, attempt: null });
    expect(await current.database.prisma.mailboxFailure.findFirst({ where: { uid: 2 } })).toMatchObject({ status: 'resolved' });
  });

  it('hands a message whose last attempt never finished over on its own: the next one is fetched only after it', async () => {
    const second = big('second', 'After the suspect');
    const { current, mailbox } = await rigWithNewMail('ahead-suspect', [plainMessage('suspect', 'Maybe crashed us'), second]);
    // As the state is left when the process died while handing UID 1 over: UID 1 may be the
    // culprit, or the message read ahead during it. Alone, whichever it is gets the blame.
    const state = createMailboxStateStore(current.database.prisma);
    const saved = await state.get(mailbox);
    if (!saved) throw new Error('the first watcher saved no position');
    await state.set(mailbox, { ...saved, attempt: { uid: 1, count: 1 } });

    const ingest = realIngest(current);
    let secondFetchedDuringSuspect: boolean | null = null;
    const watcher = current.watcher({
      port: relay?.port,
      onMessage: async (raw, uid, mailboxKey) => {
        if (uid === 1) secondFetchedDuringSuspect = await serverSends(second.length, 1500);
        await ingest(raw, uid, mailboxKey);
      },
    });
    await startWatching(watcher);
    await waitUntil('both stored', async () => (await current.database.prisma.email.count()) === 2);
    expect(secondFetchedDuringSuspect).toBe(false);
    expect(await state.get(mailbox)).toMatchObject({ lastUid: 2, attempt: null });
  });
});

describe('parseAhead', () => {
  const message = (subject: string) => Buffer.from(plainMessage('ahead', subject));
  /** Long enough for a started parse of a small message to be over, even on a busy machine. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 1000));
  /** The same length, so only the bytes change. */
  const rewrite = (raw: Buffer, from: string, to: string) => raw.write(to, raw.indexOf(from), 'latin1');

  it('hands its result to the next parseEmail of the same buffer, once', async () => {
    await parseEmail(message('Warm-up')); // mailparser is loaded on first use
    const raw = message('Before');
    parseAhead(raw);
    await settle();
    // Changed after the early parse: what parseEmail returns shows which parse it came from.
    rewrite(raw, 'Before', 'Later!');
    expect((await parseEmail(raw)).subject).toBe('Before');
    expect((await parseEmail(raw)).subject).toBe('Later!');
  });

  it('is not used by a parse with other limits', async () => {
    const raw = message('Before');
    parseAhead(raw);
    await settle();
    rewrite(raw, 'Before', 'Later!');
    expect((await parseEmail(raw, { maxBytes: 1024 * 1024 })).subject).toBe('Later!');
  });

  it('passes its failure to the parseEmail that takes it, and one that nobody takes goes unnoticed', async () => {
    const taken = Buffer.from(' \r\n ');
    parseAhead(taken);
    await expect(parseEmail(taken)).rejects.toMatchObject({ code: 'MAIL_PARSE_FAILED' });
    // Never taken: an unhandled rejection here would fail the run.
    parseAhead(Buffer.from('\r\n'));
    await settle();
  });

  it('leaves mailparser unloaded until the first parse', () => {
    const script = `
      const { createRequire } = await import('node:module');
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('/node_modules/mailparser/'));
      const { parseEmail } = await import('./src/channels/email/parse-email.ts');
      const before = loaded();
      await parseEmail(Buffer.from('Subject: hi\\r\\n\\r\\nbody'));
      console.log(JSON.stringify({ before, after: loaded() }));`;
    const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url), encoding: 'utf8' });
    expect(JSON.parse(output.trim().split('\n').at(-1) ?? '')).toEqual({ before: false, after: true });
  });
});

/** The position is written before every hand-over, in one SQL statement: it must read back as written. */
describe.each<DatabaseKind>(['postgres', 'pglite'])('mailbox position store (%s)', (kind) => {
  it('reads back what it wrote, on insert and on update', async () => {
    const testDatabase = await createTestDatabase(kind);
    const database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    try {
      await applyMigrations(database.pool);
      const state = createMailboxStateStore(database.prisma);
      expect(await state.get('ops@example.test:143/INBOX')).toBeNull();
      const first = { uidValidity: 3_000_000_001n, lastUid: 41, checkedAt: new Date('2026-11-20T09:00:00.123Z'), attempt: { uid: 42, count: 2 }, rescanUids: [7, 9] };
      await state.set('ops@example.test:143/INBOX', first);
      const saved = await state.get('ops@example.test:143/INBOX');
      expect(saved).toMatchObject(first);
      expect(saved?.updatedAt).toBeInstanceOf(Date);

      const second = { uidValidity: 3_000_000_001n, lastUid: 42, checkedAt: null, attempt: null, rescanUids: [] };
      await state.set('ops@example.test:143/INBOX', second);
      const updated = await state.get('ops@example.test:143/INBOX');
      expect(updated).toMatchObject(second);
      expect(updated?.updatedAt.getTime()).toBeGreaterThanOrEqual(saved?.updatedAt.getTime() ?? Number.POSITIVE_INFINITY);
      // Another mailbox is another row.
      expect(await state.get('ops@example.test:143/Archive')).toBeNull();
    } finally {
      await database.close();
      await testDatabase.drop();
    }
  }, 120_000);
});
