import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractForward } from '../src/channels/email/forward.ts';
import { parseEmail } from '../src/channels/email/parse-email.ts';
import { verifySender } from '../src/channels/email/sender-authentication.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createEmailStore, type EmailStore } from '../src/memory/email-store.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';

/** Every email belongs to a conversation: by its headers, by a forward's original, or by subject and counterparty. */
describe('conversations', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let emails: EmailStore;
  const TEAM = ['team.example'];

  beforeAll(async () => {
    testDatabase = await createTestDatabase('postgres');
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    emails = createEmailStore(database);
  });
  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  async function store(headers: string, body = 'Hello') {
    const raw = Buffer.from(`${headers}\r\nDate: Mon, 6 Jan 2025 10:00:00 +0000\r\n\r\n${body}\r\n`);
    const parsed = await parseEmail(raw);
    const sender = verifySender(parsed, { teamDomains: TEAM });
    const forward = sender.teammate ? await extractForward(parsed, TEAM) : null;
    const { id } = await emails.save({ raw, parsed, sender, forward, mailbox: 'test', uid: null });
    return emails.require(id);
  }

  it('threads replies by their headers, by subject and counterparty when headers are gone, and a forward by its original', async () => {
    const first = await store('From: Dana <dana@client.example>\r\nTo: ops@team.example\r\nSubject: Chairs for the office\r\nMessage-ID: <c1@client.example>');
    const reply = await store('From: Dana <dana@client.example>\r\nTo: ops@team.example\r\nSubject: Re: Chairs for the office\r\nMessage-ID: <c2@client.example>\r\nIn-Reply-To: <c1@client.example>');
    const headerless = await store('From: Dana <dana@client.example>\r\nTo: ops@team.example\r\nSubject: AW: Re: chairs for the office\r\nMessage-ID: <c3@client.example>');
    const otherPerson = await store('From: Lee <lee@other.example>\r\nTo: ops@team.example\r\nSubject: Re: Chairs for the office\r\nMessage-ID: <c4@other.example>');
    const otherTopic = await store('From: Dana <dana@client.example>\r\nTo: ops@team.example\r\nSubject: Tables\r\nMessage-ID: <c5@client.example>');
    const forward = await store(
      'Authentication-Results: mx.team.example; dmarc=pass header.from=team.example\r\nFrom: Sam <sam@team.example>\r\nTo: ops@team.example\r\nSubject: Fwd: Chairs for the office\r\nMessage-ID: <f1@team.example>\r\nX-Forwarded-Message-Id: <c1@client.example>',
      'Can you answer this?\r\n\r\n-------- Forwarded Message --------\r\nSubject: Chairs for the office\r\nDate: Mon, 6 Jan 2025 09:00:00 +0000\r\nFrom: Dana <dana@client.example>\r\nTo: ops@team.example\r\n\r\nWe need 12 chairs.',
    );

    expect(first.conversationId).toBeTruthy();
    expect(reply.conversationId).toBe(first.conversationId);
    expect(headerless.conversationId).toBe(first.conversationId);
    expect(otherPerson.conversationId).not.toBe(first.conversationId);
    expect(otherTopic.conversationId).not.toBe(first.conversationId);
    expect(forward.isForward).toBe(true);
    expect(forward.conversationId).toBe(first.conversationId);
  });
});
