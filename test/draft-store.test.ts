import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createDraftStore, type DraftStore } from '../src/orchestrator/draft-store.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';

/** The draft's send states on real PostgreSQL: of two workers that both think they send, only one can. */
describe('draft store: claiming a send', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let drafts: DraftStore;

  beforeAll(async () => {
    testDatabase = await createTestDatabase('postgres');
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    drafts = createDraftStore(database.prisma);
  });
  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  it('lets a later claim take over a send whose data never left, fences the earlier worker out, and keeps the Message-ID', async () => {
    const email = await database.prisma.email.create({ data: { messageId: '<fence@client.example>', mailbox: 'm', subject: 's', text: 't', raw: new Uint8Array(1) } });
    const draft = await database.prisma.draft.create({ data: { emailId: email.id, toAddress: 'dana@client.example', subject: 'Re: s', body: 'b', references: [], status: 'approved' } });

    const first = await drafts.claimForSending(draft.id, '<first@team.example>', new Date());
    expect(first?.sendAttempts).toBe(1);
    // The first worker stalls (its lock lapses) before the data leaves; another claims the send.
    const second = await drafts.claimForSending(draft.id, '<second@team.example>', new Date());
    expect(second?.sendAttempts).toBe(2);
    expect(second?.sentMessageId).toBe('<first@team.example>');

    await expect(drafts.markDataStarted(draft.id, 1, new Date())).rejects.toThrow(/no longer being sent by this worker/);
    await drafts.markDataStarted(draft.id, 2, new Date());
    // Once the data is on its way, nobody claims it again: its outcome is the second worker's to report.
    expect(await drafts.claimForSending(draft.id, '<third@team.example>', new Date())).toBeNull();

    const audit = await database.prisma.auditEntry.findMany({ where: { entityId: draft.id, action: 'reply.sending' } });
    expect(audit.map((entry) => (entry.data as { attempt: number }).attempt)).toEqual([1, 2]);
  });

  it('records a late acceptance as sent even after the outcome was given up as unknown', async () => {
    const email = await database.prisma.email.create({ data: { messageId: '<late@client.example>', mailbox: 'm', subject: 's', text: 't', raw: new Uint8Array(1) } });
    const draft = await database.prisma.draft.create({ data: { emailId: email.id, toAddress: 'dana@client.example', subject: 'Re: s', body: 'b', references: [], status: 'approved' } });
    const claimed = await drafts.claimForSending(draft.id, '<late@team.example>', new Date());
    await drafts.markDataStarted(draft.id, claimed?.sendAttempts ?? 0, new Date());
    await drafts.markUnknown(draft.id, 'the worker stopped renewing its lock', { actor: 'test', action: 'reply.outcome-unknown' });
    const sent = await drafts.markSent(draft.id, new Date(), { actor: 'test', action: 'reply.sent' });
    expect(sent?.status).toBe('sent');
  });
});
