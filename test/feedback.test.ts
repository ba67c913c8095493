import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatherGrounding } from '../src/agents/draft-grounding.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createEmailStore, type EmailStore } from '../src/memory/email-store.ts';
import { summariseEdit, type FeedbackInput } from '../src/memory/feedback.ts';
import { createMemory, type Memory } from '../src/memory/memory.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.ts';

const logger = createLogger({ level: 'silent' });

describe('summariseEdit', () => {
  it('says which lines a teammate removed and added', () => {
    const before = 'Dear Mrs Finch,\n\nThank you for your email.\nThe tables ship on 14 March.\n\nKind regards,\nAcme Ops';
    const after = 'Hi Olivia,\n\nThank you for your email.\nThe tables ship on 14 March.\nWe can also take the old ones away.\n\nAcme Ops';
    const summary = summariseEdit(before, after);
    expect(summary).toBe('removed "Dear Mrs Finch, / Kind regards," added "Hi Olivia, / We can also take the old ones away."');
  });

  it('shows only the changed words of a long line, with a little context', () => {
    const sentence = 'We can deliver the six oak tables to the hotel on Monday morning, and our fitters will set them up in the lobby before lunch.';
    const summary = summariseEdit(`Hello,\n${sentence}\nThanks`, `Hello,\n${sentence.replace('Monday morning', 'Tuesday afternoon')}\nThanks`);
    expect(summary).toBe('removed "… hotel on Monday morning, and our …" added "… hotel on Tuesday afternoon, and our …"');
  });

  it('is null when only whitespace changed, and names one side when only one changed', () => {
    expect(summariseEdit('Hi Dana,\n\nYes, Tuesday works.\n', '  Hi Dana,\n\n\nYes,   Tuesday works.')).toBeNull();
    expect(summariseEdit('same', 'same')).toBeNull();
    expect(summariseEdit('Hi Dana,\nYes.', 'Hi Dana,\nYes.\nPS: the invoice is attached.')).toBe('added "PS: the invoice is attached."');
    expect(summariseEdit('Hi Dana,\nYes.\nSent from my phone', 'Hi Dana,\nYes.')).toBe('removed "Sent from my phone"');
  });

  it('stays short however much was rewritten', () => {
    const before = Array.from({ length: 60 }, (_, n) => `Line ${n} of the first version, which says something rather long about oak tables.`).join('\n');
    const after = Array.from({ length: 60 }, (_, n) => `Row ${n} of the rewrite, which says something else entirely about walnut chairs instead.`).join('\n');
    const summary = summariseEdit(before, after) ?? '';
    expect(summary.length).toBeLessThanOrEqual(300);
    expect(summary).toMatch(/^removed "Line 0 of .*…" added "Row 0 of .*…"$/);
    expect(summariseEdit('a\u{1F600}'.repeat(400), 'b') ?? '').not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });
});

describe.each<DatabaseKind>(['postgres', 'pglite'])('feedback on %s', { timeout: 60_000 }, (kind) => {
  let testDatabase: TestDatabase;
  let database: Database;
  let memory: Memory;
  let emails: EmailStore;
  let sequence = 0;

  beforeAll(async () => {
    testDatabase = await createTestDatabase(kind);
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    memory = createMemory({ database, embedder: null, logger });
    emails = createEmailStore(database);
  }, 60_000);
  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  /** An email from `address` of `category`, with a draft of a reply to it. */
  async function drafted(address: string, category: string | null, subject = 'Lobby tables') {
    sequence += 1;
    const email = await database.prisma.email.create({
      data: { messageId: `<m${sequence}.${kind}@client.example>`, mailbox: 'INBOX', fromAddress: address, subject, text: `About ${subject}.`, raw: Buffer.from(''), triageCategory: category },
    });
    const draft = await database.prisma.draft.create({ data: { emailId: email.id, toAddress: address, subject: `Re: ${subject}`, body: 'Dear Sir or Madam, …' } });
    return { emailId: email.id, draftId: draft.id, counterparty: address, category };
  }
  async function give(on: Awaited<ReturnType<typeof drafted>>, kind: FeedbackInput['kind'], text: string | null, at?: string) {
    await memory.feedback.record({ ...on, kind, text, givenBy: 'U0ANA' });
    if (at) await database.pool.query('UPDATE feedback SET created_at = $2 WHERE draft_id = $1 AND kind = $3', [on.draftId, at, kind]);
  }
  async function stored(draftId: string) {
    return database.prisma.feedback.findMany({ where: { draftId }, orderBy: { createdAt: 'asc' } });
  }

  it('keeps what teammates said and reads it back newest first, the same contact before the same kind', async () => {
    const finch1 = await drafted('O.Finch@Harrow.example', 'needs_reply');
    const finch2 = await drafted('o.finch@harrow.example', 'task');
    const other = await drafted('dana@client.example', 'needs_reply');
    const unrelated = await drafted('noreply@shop.example', 'automated');
    await give(finch1, 'rejected', '  too formal,\n we use first names here ', '2026-11-18T10:00:00Z');
    await give(other, 'edited', 'removed "Kind regards," added "Thanks!"', '2026-11-21T09:00:00Z');
    await give(finch2, 'redraft', 'mention the 10% discount', '2026-11-20T15:00:00Z');
    await give(unrelated, 'rejected', 'never answer automated mail', '2026-11-22T08:00:00Z');

    expect(await stored(finch1.draftId)).toMatchObject([{ kind: 'rejected', counterparty: 'o.finch@harrow.example', category: 'needs_reply', text: 'too formal,\n we use first names here', givenBy: 'U0ANA', emailId: finch1.emailId }]);

    const guidance = await memory.feedback.guidanceFor({ counterparty: 'O.Finch@harrow.example', category: 'needs_reply' });
    expect(guidance).toEqual([
      '2026-11-20, asked for a redraft of a reply to o.finch@harrow.example: "mention the 10% discount"',
      '2026-11-18, rejected a draft to o.finch@harrow.example: "too formal, we use first names here"',
      '2026-11-21, edited a draft (needs_reply) before approving it: removed "Kind regards," added "Thanks!"',
    ]);
    expect(await memory.feedback.guidanceFor({ counterparty: 'o.finch@harrow.example', category: 'needs_reply' }, 1)).toEqual([guidance[0]]);
    // Only the kind in common: nothing about Olivia Finch is the contact's.
    expect(await memory.feedback.guidanceFor({ counterparty: 'new@else.example', category: 'task' })).toEqual(['2026-11-20, asked for a redraft (task): "mention the 10% discount"']);
    expect(await memory.feedback.guidanceFor({ counterparty: 'new@else.example', category: 'fyi' })).toEqual([]);
    expect(await memory.feedback.guidanceFor({ counterparty: null, category: null })).toEqual([]);
  });

  it('stores nothing for a rejection without a reason, and a repeated click once', async () => {
    const on = await drafted('sam@client.example', 'fyi');
    await give(on, 'rejected', '   ');
    await give(on, 'rejected', null);
    await give(on, 'edited', summariseEdit('Hi Sam,\nYes.', 'Hi Sam,\n\nYes. '));
    expect(await stored(on.draftId)).toEqual([]);

    await Promise.all([give(on, 'rejected', 'wrong price: it is 450 EUR'), give(on, 'rejected', 'wrong price: it is 450 EUR')]);
    await give(on, 'rejected', 'wrong price: it is 450 EUR ');
    // The same words as a redraft instruction are another piece of feedback.
    await give(on, 'redraft', 'wrong price: it is 450 EUR');
    expect((await stored(on.draftId)).map((row) => row.kind).sort()).toEqual(['redraft', 'rejected']);
    // Shown once all the same.
    const lines = await memory.feedback.guidanceFor({ counterparty: 'sam@client.example', category: null });
    expect(lines).toHaveLength(2);
    expect(lines.filter((line) => line.includes('rejected'))).toHaveLength(1);

    await expect(memory.feedback.record({ ...on, kind: 'rejected', text: 'x', givenBy: '' })).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(memory.feedback.record({ ...on, draftId: '00000000-0000-4000-8000-000000000000', kind: 'rejected', text: 'x', givenBy: 'U0ANA' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('bounds what it keeps and what it shows, and does not repeat a lesson', async () => {
    const on = await drafted('long@client.example', 'newsletter');
    await give(on, 'rejected', `${'x'.repeat(2500)}\u0000`);
    const [row] = await stored(on.draftId);
    expect(Array.from(row?.text ?? '')).toHaveLength(2000);
    for (let n = 0; n < 12; n += 1) {
      const again = await drafted('long@client.example', 'newsletter');
      await give(again, 'rejected', n % 2 === 0 ? `reason ${n} ${'y'.repeat(400)}` : 'Too long.');
    }
    const lines = await memory.feedback.guidanceFor({ counterparty: 'long@client.example', category: 'newsletter' }, 20);
    expect(lines.join('\n').length).toBeLessThanOrEqual(1500);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.filter((line) => line.endsWith('"Too long."'))).toHaveLength(1);
    expect(lines.every((line) => line.length < 420)).toBe(true);
  });

  it('gives a later draft to the same contact what the team said, and a draft to someone unrelated nothing', async () => {
    const first = await drafted('p.moss@kestrel.example', 'needs_reply', 'Chair repair');
    await give(first, 'rejected', 'we never promise dates before the workshop has seen the chair');
    await give(first, 'redraft', 'offer to collect the chair on Thursday');

    const later = await drafted('p.moss@kestrel.example', 'task', 'Chair repair again');
    const email = await emails.require(later.emailId);
    const grounding = await gatherGrounding({ memory, emails }, email, { address: 'p.moss@kestrel.example', subject: email.subject, body: email.text, messageId: email.messageId, category: 'task' });
    // About the contact first; then what the team said about other tasks (the first test's redraft).
    const aboutContact = grounding.guidance.slice(0, 2).join('\n');
    expect(aboutContact).toContain('rejected a draft to p.moss@kestrel.example: "we never promise dates before the workshop has seen the chair"');
    expect(aboutContact).toContain('asked for a redraft of a reply to p.moss@kestrel.example: "offer to collect the chair on Thursday"');
    expect(grounding.guidance.slice(2)).toEqual([expect.stringContaining('asked for a redraft (task): "mention the 10% discount"')]);

    const stranger = await drafted('someone@elsewhere.example', 'spam', 'Win a prize');
    const strangerEmail = await emails.require(stranger.emailId);
    const none = await gatherGrounding({ memory, emails }, strangerEmail, { address: 'someone@elsewhere.example', subject: strangerEmail.subject, body: strangerEmail.text, messageId: strangerEmail.messageId, category: 'spam' });
    expect(none.guidance).toEqual([]);
  });

  it('is deleted with its draft', async () => {
    const on = await drafted('gone@client.example', 'fyi');
    await give(on, 'rejected', 'not needed');
    await database.prisma.draft.delete({ where: { id: on.draftId } });
    expect(await stored(on.draftId)).toEqual([]);
  });
});
