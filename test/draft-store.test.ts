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

describe('draft store: the drafts waiting for a decision', () => {
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

  it('lists the longest-waiting first, counting an edited version from its first draft, and says how many wait in all', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 8; index += 1) {
      const email = await database.prisma.email.create({ data: { messageId: `<wait${index}@client.example>`, mailbox: 'm', subject: `s${index}`, text: 't', raw: new Uint8Array(1) } });
      const createdAt = new Date(Date.UTC(2026, 10, 1 + index));
      const draft = await database.prisma.draft.create({ data: { emailId: email.id, toAddress: 'dana@client.example', subject: `Re: s${index}`, body: 'b', references: [], createdAt } });
      ids.push(draft.id);
    }
    // The oldest email's draft is edited today: its new version is the newest row, yet it has waited longest.
    const edited = await drafts.revise(ids[0] ?? '', { body: 'edited', provider: null, model: null, confidence: null, rationale: null, sources: [], writtenBy: 'U0ALICE', instruction: null }, { actor: 'U0ALICE', action: 'draft.edited' });
    expect(edited?.version).toBe(2);

    const waiting = await drafts.waiting(3);
    expect(waiting.total).toBe(8);
    expect(waiting.drafts.map((draft) => draft.subject)).toEqual(['Re: s0', 'Re: s1', 'Re: s2']);
    expect(waiting.drafts[0]).toMatchObject({ id: edited?.id, body: 'edited', waitingSince: new Date(Date.UTC(2026, 10, 1)) });
  });
});
