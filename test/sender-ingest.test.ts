import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INLINE_FORWARD_TIME_LIMIT_MS } from '../src/channels/email/inline-forward-reader.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations, readMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createAuditLog } from '../src/memory/audit.ts';
import { createEmailStore, replyTarget } from '../src/memory/email-store.ts';
import { createEmailIngest } from '../src/orchestrator/ingest-email.ts';
import { createJobQueue } from '../src/orchestrator/job-queue.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.ts';

const TEAM_DOMAINS = ['team.example'];
const PASS = 'Authentication-Results: mx.team.example; dmarc=pass header.from=team.example';

function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/email/${name}`, import.meta.url), 'utf8');
}

/** gmail-forward.eml (Sam forwards Dana's email) with other Authentication-Results on top, under another Message-ID. */
function gmailForwardWith(headers: string[], messageId: string): Buffer {
  const original = fixture('gmail-forward.eml');
  // Drop the fixture's own passing header (it is the first, folded over four lines).
  const withoutOwn = original.slice(original.indexOf('Delivered-To:')).replace(/^Message-ID: .*$/m, `Message-ID: ${messageId}`);
  return Buffer.from([...headers, withoutOwn].join('\n'));
}

function message(headers: string[], body: string): Buffer {
  return Buffer.from([...headers, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', body].join('\r\n'));
}

/** Ingest against a real database: what a teammate, a spoofer and hostile mail leave behind. */
describe.each<DatabaseKind>(['postgres', 'pglite'])('ingest: sender verification and safe storage (%s)', (kind) => {
  let testDatabase: TestDatabase;
  let database: Database;

  function ingestWith(options: { authservId?: string } = {}) {
    const logger = createLogger({ level: 'silent' });
    return createEmailIngest({
      emails: createEmailStore(database),
      audit: createAuditLog(database.prisma),
      // A real queue, never started: enqueue writes the job row and nothing runs it.
      queue: createJobQueue({ pool: database.pool, embedded: database.kind === 'pglite', logger }),
      logger,
      teamDomains: TEAM_DOMAINS,
      authservId: options.authservId,
    });
  }

  async function stored(raw: Buffer, options: { authservId?: string } = {}) {
    const { emailId } = await ingestWith(options)(raw, null, 'INBOX');
    if (!emailId) throw new Error('expected the email to be stored');
    return database.prisma.email.findUniqueOrThrow({ where: { id: emailId } });
  }

  beforeAll(async () => {
    testDatabase = await createTestDatabase(kind);
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
  });

  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  it('a verified teammate’s forward carries the instruction and credits the teammate', async () => {
    const email = await stored(Buffer.from(fixture('gmail-forward.eml')));
    expect(email).toMatchObject({
      senderVerified: true,
      senderVerification: 'dmarc=pass for team.example by mx.team.example',
      claimedTeammate: null,
      isForward: true,
      forwardedBy: 'sam@team.example',
      instruction: 'say we can do Tuesday',
      originalFrom: 'dana@client.example',
      originalFromMissing: false,
    });
    expect(replyTarget(email)).toMatchObject({ address: 'dana@client.example', originalSenderMissing: false, senderUnverified: false });
  });

  it('a spoofed teammate is outside mail: no instruction, nobody credited, the card can say why', async () => {
    const spoofed = gmailForwardWith([
      'Authentication-Results: mx.team.example; spf=fail smtp.mailfrom=attacker@evil.test; dmarc=fail (p=none) header.from=team.example',
      'Authentication-Results: mx.team.example; dmarc=pass header.from=team.example',
    ], '<spoofed-1@evil.test>');
    const email = await stored(spoofed);
    expect(email).toMatchObject({
      fromAddress: 'sam@team.example',
      senderVerified: false,
      senderVerification: 'dmarc=fail for team.example by mx.team.example',
      claimedTeammate: 'sam@team.example',
      isForward: false,
      forwardedBy: null,
      instruction: null,
      originalFrom: null,
    });
    expect(replyTarget(email).senderUnverified).toBe(true);

    const [received] = await createAuditLog(database.prisma).forEntity('email', email.id);
    expect(received?.data).toMatchObject({ sender: { verified: false, claimedTeammate: 'sam@team.example' }, forward: null });
  });

  it('MAIL_AUTHSERV_ID decides which server’s verdict counts', async () => {
    const raw = (id: string) =>
      message(
        [
          'Authentication-Results: filter.internal.example; none',
          PASS,
          'From: Sam Rivera <sam@team.example>',
          'To: ops@team.example',
          'Subject: Fwd: Kickoff',
          `Message-ID: <${id}@team.example>`,
        ],
        'ok for Tuesday\n\n---------- Forwarded message ---------\nFrom: Dana Client <dana@client.example>\nDate: Mon, Jan 6, 2025 at 9:14 AM\nSubject: Kickoff\nTo: <sam@team.example>\n\n\nTuesday?',
      );
    const topmost = await stored(raw('authserv-unset'));
    expect(topmost).toMatchObject({ isForward: false, claimedTeammate: 'sam@team.example', senderVerification: 'no DMARC, DKIM or SPF result for team.example by filter.internal.example' });
    const named = await stored(raw('authserv-set'), { authservId: 'mx.team.example' });
    expect(named).toMatchObject({ isForward: true, senderVerified: true, instruction: 'ok for Tuesday', originalFrom: 'dana@client.example' });
  });

  it('a forward whose original sender is not recovered: flagged, and no reply address is guessed', async () => {
    const email = await stored(
      message(
        [PASS, 'From: Sam Rivera <sam@team.example>', 'To: ops@team.example', 'Subject: FW: Invoice question', 'Message-ID: <name-only@team.example>'],
        'please answer her\n\nFrom: Dana Client\nSent: Monday, January 6, 2025 9:14 AM\nTo: Sam Rivera\nSubject: Invoice question\n\nHello, is the invoice final?',
      ),
    );
    expect(email).toMatchObject({ isForward: true, forwardedBy: 'sam@team.example', originalFrom: null, originalFromMissing: true, originalText: 'Hello, is the invoice final?' });
    expect(replyTarget(email)).toMatchObject({ address: null, originalSenderMissing: true });
  });

  it('stores a message with NUL in its headers and body', async () => {
    const email = await stored(
      message(
        [
          'From: "Da\u0000na" <dana@client.example>',
          'To: ops@team.example',
          'Subject: Invoice\u0000 4471',
          'Message-ID: <nul-in-text@client.example>',
          'References: <ok-1@client.example> <bad\u0000id@client.example>',
        ],
        'Hello\u0000 there,\nplease check the invoice.',
      ),
    );
    expect(email.subject).toBe('Invoice 4471');
    expect(email.fromName).toBe('Dana');
    expect(email.text).toBe('Hello there,\nplease check the invoice.');
    expect(email.references).toEqual(['<ok-1@client.example>']);
    // The raw source is kept as it came: bytea holds NUL.
    expect(Buffer.from(email.raw).includes(0)).toBe(true);
  });

  it('stores a teammate’s forward whose forwarded text has NUL in it', async () => {
    const email = await stored(
      message(
        [PASS, 'From: Sam Rivera <sam@team.example>', 'Subject: Fwd: Kickoff', 'Message-ID: <nul-in-forward@team.example>'],
        'ok\u0000 for Tuesday\n\n---------- Forwarded message ---------\nFrom: Dana\u0000 Client <dana@client.example>\nDate: Mon, Jan 6, 2025 at 9:14 AM\nSubject: Kick\u0000off\nTo: <sam@team.example>\n\n\nTues\u0000day?',
      ),
    );
    expect(email).toMatchObject({ isForward: true, instruction: 'ok for Tuesday', originalSubject: 'Kickoff', originalText: 'Tuesday?', originalFrom: 'dana@client.example' });
  });

  it('stores a message with a 5 KB Message-ID under a stable derived id, once', async () => {
    // Random, so PostgreSQL cannot compress it under the index's 2704-byte limit ('x' × 5000 would fit).
    const longId = `<${randomBytes(3840).toString('base64')}@client.example>`;
    const raw = message(
      ['From: Dana Client <dana@client.example>', 'To: ops@team.example', 'Subject: Long id', `Message-ID: ${longId}`, `In-Reply-To: ${longId}`, `References: ${Array.from({ length: 250 }, (_, index) => `<ref-${index}@client.example>`).join(' ')} ${longId}`],
      'Hello',
    );
    const ingest = ingestWith();
    const first = await ingest(raw, 1, 'INBOX');
    const second = await ingest(raw, 2, 'INBOX');
    expect(first.created).toBe(true);
    expect(second).toEqual({ emailId: first.emailId, created: false });

    const email = await database.prisma.email.findUniqueOrThrow({ where: { id: first.emailId ?? '' } });
    expect(email.messageId).toMatch(/^<[0-9a-f]{64}@adjutant\.invalid>$/);
    expect(email.inReplyTo).toBeNull();
    expect(email.references).toHaveLength(100);
    expect(email.references.at(0)).toBe('<ref-150@client.example>');
    expect(email.references.at(-1)).toBe('<ref-249@client.example>');
    // A derived id threads with nothing: a reply would not claim to answer it.
    expect(replyTarget(email).messageId).toBeNull();
  });

  it.runIf(kind === 'postgres')(
    'a teammate’s forward that stalls the parser is stored as direct mail instead of blocking the mailbox',
    async () => {
      const email = await stored(message([PASS, 'From: Sam Rivera <sam@team.example>', 'Subject: Fwd: x', 'Message-ID: <hostile@team.example>'], `From:${'\n'.repeat(65_536)}x`));
      expect(email).toMatchObject({ senderVerified: true, isForward: false, instruction: null });
    },
    INLINE_FORWARD_TIME_LIMIT_MS * 5,
  );
});

describe('the mail-in trust migration', () => {
  it('marks forwards stored earlier without an original sender as unanswerable', async () => {
    const testDatabase = await createTestDatabase('postgres');
    const database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    try {
      const migrations = readMigrations();
      const index = migrations.findIndex((migration) => migration.name === '20261121200000_mail_in_trust');
      expect(index).toBeGreaterThan(0);
      await applyMigrations(database.pool, { migrations: migrations.slice(0, index) });
      await database.pool.query(
        `INSERT INTO emails (id, message_id, mailbox, subject, text, raw, is_forward, original_from)
         VALUES (gen_random_uuid(), '<a@x>', 'INBOX', 's', 't', '\\x00', true, NULL),
                (gen_random_uuid(), '<b@x>', 'INBOX', 's', 't', '\\x00', true, 'dana@client.example'),
                (gen_random_uuid(), '<c@x>', 'INBOX', 's', 't', '\\x00', false, NULL)`,
      );
      await applyMigrations(database.pool);
      const { rows } = await database.pool.query<{ message_id: string; original_from_missing: boolean; sender_verified: boolean; sender_verification: string | null }>(
        'SELECT message_id, original_from_missing, sender_verified, sender_verification FROM emails ORDER BY message_id',
      );
      expect(rows).toEqual([
        { message_id: '<a@x>', original_from_missing: true, sender_verified: false, sender_verification: null },
        { message_id: '<b@x>', original_from_missing: false, sender_verified: false, sender_verification: null },
        { message_id: '<c@x>', original_from_missing: false, sender_verified: false, sender_verification: null },
      ]);
    } finally {
      await database.close();
      await testDatabase.drop();
    }
  });
});
