import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuiltinEmbedder } from '../src/brains/builtin/builtin-embedder.ts';
import { createOllamaEmbedder } from '../src/brains/ollama/ollama-embedder.ts';
import type { Embedder } from '../src/brains/types.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations, readMigrations } from '../src/db/migrate.ts';
import { HNSW_BUILD_OPTIONS } from '../src/memory/embedding-index.ts';
import { createLogger } from '../src/logger.ts';
import { captureLogs } from './support/log-capture.ts';
import { createEmbeddingBackfill } from '../src/memory/embedding-backfill.ts';
import { createMemory, type Memory } from '../src/memory/memory.ts';
import { embedMemoryJob } from '../src/orchestrator/jobs/embed-memory.ts';
import type { RememberInput } from '../src/memory/types.ts';
import { startOllamaFake, type OllamaFake } from './fakes/ollama-fake.ts';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.ts';

const logger = createLogger({ level: 'silent' });

function email(ref: string, title: string, content: string, extra: Partial<RememberInput> = {}): RememberInput {
  return { kind: 'email', title, content, sourceType: 'email', sourceRef: ref, author: 'dana@client.example', counterparty: 'dana@client.example', occurredAt: new Date('2026-03-02T10:00:00Z'), actor: 'test', ...extra };
}

describe.each<DatabaseKind>(['postgres', 'pglite'])('memory on %s', (kind) => {
  let testDatabase: TestDatabase;
  let database: Database;
  let builtin: Embedder;
  let memory: Memory;
  let ollama: OllamaFake;

  async function embedAll(embedder: Embedder) {
    const backfill = createEmbeddingBackfill({ pool: database.pool, embedder });
    // Until a run finds nothing to do: that run also retires the vectors of other models.
    for (let round = 0; round < 50; round += 1) if ((await backfill.runBatch(32)).embedded === 0) return;
  }
  async function count(sql: string): Promise<number> {
    const result = await database.pool.query<{ count: string }>(sql);
    return Number(result.rows[0]?.count);
  }

  beforeAll(async () => {
    testDatabase = await createTestDatabase(kind);
    database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    await applyMigrations(database.pool);
    builtin = createBuiltinEmbedder({ idleMs: 5000 });
    memory = createMemory({ database, embedder: builtin, logger });
    ollama = await startOllamaFake({ dimension: 64 });
  }, 60_000);
  afterAll(async () => {
    await builtin?.close?.();
    await ollama?.close();
    await database?.close();
    await testDatabase?.drop();
  });

  it('finds by words before vectors exist, by meaning after, with provenance and a highlighted snippet', async () => {
    await memory.remember(email('<chairs@client.example>', 'Invoice overdue', 'Hello, the invoice INV-2026-0443 for the twelve oak chairs is now 30 days overdue. Please pay by Friday.'));
    await memory.remember(email('<lunch@team.example>', 'Lunch', 'Team lunch on Friday at noon, the pizza place downtown.', { author: 'sam@team.example', counterparty: null }));
    await memory.remember({ kind: 'slack_message', title: '#general: van', content: 'The van goes in for its service on Tuesday morning.', sourceType: 'slack', sourceRef: 'C0GENERAL/1700000000.000100', url: 'https://acme.slack.com/archives/C0GENERAL/p1700000000000100', author: 'U0SAM', occurredAt: new Date('2026-04-01T09:00:00Z'), actor: 'test' });

    const before = await memory.search({ text: 'INV-2026-0443' });
    expect(before.mode).toBe('text');
    expect(before.notice).toMatch(/not built yet/);
    expect(before.hits.map((hit) => hit.sourceRef)).toEqual(['<chairs@client.example>']);

    await embedAll(builtin);
    const paraphrase = await memory.search({ text: 'payment reminder for furniture', limit: 3 });
    expect(paraphrase.mode).toBe('hybrid');
    expect(paraphrase.notice).toBeNull();
    expect(paraphrase.hits[0]).toMatchObject({ sourceRef: '<chairs@client.example>', kind: 'email', title: 'Invoice overdue', sourceType: 'email', author: 'dana@client.example', counterparty: 'dana@client.example' });
    expect(paraphrase.hits[0]?.matchedBy).toContain('meaning');
    expect(paraphrase.hits[0]?.occurredAt?.toISOString()).toBe('2026-03-02T10:00:00.000Z');

    const slack = await memory.search({ text: 'when is the van serviced', limit: 1 });
    expect(slack.hits[0]).toMatchObject({ kind: 'slack_message', url: 'https://acme.slack.com/archives/C0GENERAL/p1700000000000100' });
    expect(slack.hits[0]?.snippet).toMatch(/«van»/);
  }, 60_000);

  it('starts the text and meaning halves of a search together, then fuses them', async () => {
    await memory.remember(email('<stools@client.example>', 'Stool repair', 'The oak bar stool has a loose leg; we will collect it on Tuesday and glue the joint.'));
    await embedAll(builtin);
    // The service's pool, counting the halves' statements in flight: on PostgreSQL two at once are two connections.
    let halvesInFlight = 0;
    let mostInFlight = 0;
    const statements: string[] = [];
    const pool = {
      query: async (...args: Parameters<Database['pool']['query']>) => {
        const text = String((args[0] as { text?: string }).text ?? args[0]);
        const half = /text_hits|meaning_hits/.test(text) ? 1 : 0;
        halvesInFlight += half;
        mostInFlight = Math.max(mostInFlight, halvesInFlight);
        statements.push(text);
        try {
          return await (database.pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
        } finally {
          halvesInFlight -= half;
        }
      },
    } as unknown as Database['pool'];
    const counted = createMemory({ database: { ...database, pool }, embedder: builtin, logger });
    const response = await counted.search({ text: 'who mends the wobbly stool', limit: 3 });
    expect(response.mode).toBe('hybrid');
    expect(response.hits[0]).toMatchObject({ sourceRef: '<stools@client.example>' });
    expect(response.hits[0]?.matchedBy).toEqual(['text', 'meaning']);
    expect(mostInFlight).toBe(2);
    expect(statements.filter((text) => /text_hits|meaning_hits/.test(text))).toHaveLength(2);
  }, 60_000);

  it('indexes what a reply adds, not the history it quotes or its signature', async () => {
    await memory.remember(email('<q1@client.example>', 'Veneer sample', 'Could you send a walnut veneer sample with the quote?'));
    await memory.remember(
      email(
        '<q2@team.example>',
        'Re: Veneer sample',
        'Posted the sample this morning.\n\nOn Tue, 3 Mar 2026 at 09:12, Dana <dana@client.example> wrote:\n> Could you send a walnut veneer sample with the quote?\n\nAnything else, just ask.\n-- \nSam Reyes | Lumen Workshop | walnut specialists',
        { author: 'sam@team.example' },
      ),
    );
    const walnut = await memory.search({ text: 'walnut' }, { halves: 'text' });
    expect(walnut.hits.map((hit) => hit.sourceRef)).toEqual(['<q1@client.example>']);
    const answer = await memory.search({ text: 'sample posted' }, { halves: 'text' });
    expect(answer.hits[0]?.sourceRef).toBe('<q2@team.example>');
    const bottomPosted = await memory.search({ text: 'anything else ask' }, { halves: 'text' });
    expect(bottomPosted.hits.map((hit) => hit.sourceRef)).toContain('<q2@team.example>');
  });

  it('puts the newer first among items that match a question equally, whatever their random ids', async () => {
    // Stored out of date order; the same words, so the text half scores them the same.
    const days = [3, 9, 1, 7, 5, 2];
    for (const day of days) {
      await memory.remember({ kind: 'slack_message', title: '#workshop: kiln', content: 'Glaze kiln calibrated again.', sourceType: 'slack', sourceRef: `C0WORKSHOP/kiln-${day}`, author: 'U0SAM', occurredAt: new Date(Date.UTC(2026, 4, day, 9)), actor: 'test' });
    }
    const response = await memory.search({ text: 'glaze kiln calibrated', limit: days.length }, { halves: 'text' });
    expect(response.hits.map((hit) => hit.sourceRef)).toEqual([...days].sort((a, b) => b - a).map((day) => `C0WORKSHOP/kiln-${day}`));
  });

  it('matches a rare question word as the start of longer words, but not a stem of two letters', async () => {
    await memory.remember(email('<remit@client.example>', 'Remittance', 'Remittance advice: the payables team released £2,400 by BACS for the Metalwork benches.'));
    await memory.remember(email('<usb@client.example>', 'Side tables', 'Add USB-C chargers to the side tables.'));
    const paying = await memory.search({ text: 'who is paying?' }, { halves: 'text' });
    expect(paying.hits.map((hit) => hit.sourceRef)).toContain('<remit@client.example>');
    const metal = await memory.search({ text: 'metal benches' }, { halves: 'text' });
    expect(metal.hits[0]?.sourceRef).toBe('<remit@client.example>');
    // "us" would find USB (and every word starting so): too short to stand for a word's forms.
    const us = await memory.search({ text: 'tell us' }, { halves: 'text' });
    expect(us.hits.map((hit) => hit.sourceRef)).not.toContain('<usb@client.example>');
  });

  it('treats SQL and tsquery syntax in a question as words', async () => {
    const hostile = ["'; DROP TABLE memory_items; --", '"unbalanced quote', 'a & b | !c <-> d:* (', '\\', '%_%', 'OR OR -', '-INV-2026-0443', "robert'); DELETE FROM contacts; --", '\u0000nul'];
    for (const text of hostile) {
      const response = await memory.search({ text });
      expect(Array.isArray(response.hits)).toBe(true);
    }
    expect(await count('SELECT count(*) FROM memory_items')).toBeGreaterThan(0);
    const exact = await memory.search({ text: 'INV-2026-0443 overdue?!' }, { halves: 'text' });
    expect(exact.hits[0]?.sourceRef).toBe('<chairs@client.example>');
    await expect(memory.search({ text: '   ' })).rejects.toThrow(/search text is empty/);
  });

  it('supersedes a fact instead of deleting it, keeps exact duplicates out, and shows history on request', async () => {
    const base = { saidBy: 'U0ANA', sourceType: 'slack' as const, actor: 'test' };
    const first = await memory.storeFact({ ...base, subject: 'Wi-Fi password', statement: 'The office wifi password is oak-and-ash-22.', sourceRef: 'C0GENERAL/1.1', occurredAt: new Date('2026-02-01') });
    const again = await memory.storeFact({ ...base, subject: 'wifi password', statement: 'the office wifi password is  oak-and-ash-22.', sourceRef: 'C0GENERAL/1.2' });
    const second = await memory.storeFact({ ...base, subject: 'WiFi Password', statement: 'New office wifi password: birch-77.', sourceRef: 'C0GENERAL/1.3', occurredAt: new Date('2026-06-01') });
    expect(first.outcome).toBe('stored');
    expect(again.outcome).toBe('duplicate');
    expect(again.fact.itemId).toBe(first.fact.itemId);
    expect(second.outcome).toBe('superseded');
    expect(second.previous?.itemId).toBe(first.fact.itemId);
    expect(second.previous?.supersededBy).toBe(second.fact.itemId);

    const history = await memory.factHistory('wifi password');
    expect(history.map((fact) => fact.statement)).toEqual(['New office wifi password: birch-77.', 'The office wifi password is oak-and-ash-22.']);
    expect(await count("SELECT count(*) FROM memory_items WHERE kind = 'fact'")).toBe(2);

    await embedAll(builtin);
    const current = await memory.search({ text: 'what is the wifi password', kinds: ['fact'] });
    expect(current.hits.map((hit) => hit.itemId)).toEqual([second.fact.itemId]);
    const withHistory = await memory.search({ text: 'what is the wifi password', kinds: ['fact'], includeHistory: true });
    expect(withHistory.hits.map((hit) => hit.itemId)).toEqual([second.fact.itemId, first.fact.itemId]);
    expect(withHistory.hits[1]?.supersededBy).toBe(second.fact.itemId);
  }, 60_000);

  it('keeps one current fact when two teammates change it at the same moment', async () => {
    const base = { saidBy: 'U0ANA', sourceType: 'slack' as const, actor: 'test', subject: 'delivery day' };
    await memory.storeFact({ ...base, statement: 'Deliveries go out on Fridays.', sourceRef: 'C0OPS/1' });
    const results = await Promise.all([
      memory.storeFact({ ...base, statement: 'Deliveries move to Thursdays.', sourceRef: 'C0OPS/2' }),
      memory.storeFact({ ...base, statement: 'Deliveries move to Wednesdays.', sourceRef: 'C0OPS/3' }),
    ]);
    expect(results.map((result) => result.outcome).sort()).toEqual(['superseded', 'superseded']);
    const history = await memory.factHistory('delivery day');
    expect(history).toHaveLength(3);
    expect(history.filter((fact) => fact.supersededBy === null)).toHaveLength(1);
  });

  it('shows a private channel item only to asks made in that channel', async () => {
    await memory.remember({ kind: 'slack_message', title: '#finance', content: 'Payroll for November goes out on the 28th; the bonus pool is 14,000.', sourceType: 'slack', sourceRef: 'G0FINANCE/1700000100.000100', author: 'U0ANA', scope: { kind: 'channel', channel: 'G0FINANCE' }, actor: 'test' });
    await embedAll(builtin);
    const elsewhere = await memory.search({ text: 'payroll bonus pool', askedIn: { channel: 'C0GENERAL' } });
    expect(elsewhere.hits.map((hit) => hit.sourceRef)).not.toContain('G0FINANCE/1700000100.000100');
    const noChannel = await memory.search({ text: 'payroll bonus pool' });
    expect(noChannel.hits.map((hit) => hit.sourceRef)).not.toContain('G0FINANCE/1700000100.000100');
    const there = await memory.search({ text: 'payroll bonus pool', askedIn: { channel: 'G0FINANCE' } });
    expect(there.hits[0]?.sourceRef).toBe('G0FINANCE/1700000100.000100');
  }, 60_000);

  it('keeps an edited private message private and findable by its filters', async () => {
    const ref = 'G0FINANCE/1700000150.000100';
    const message = { kind: 'slack_message' as const, title: '#finance', sourceType: 'slack' as const, sourceRef: ref, author: 'U0ANA', occurredAt: new Date('2026-05-04T09:00:00Z'), scope: { kind: 'channel' as const, channel: 'G0FINANCE' }, actor: 'test' };
    await memory.remember({ ...message, content: 'The auditors arrive on the 3rd of June.' });
    expect(await memory.remember({ ...message, content: 'The auditors now arrive on the 9th of June, with a sampling of expense claims.' })).toMatchObject({ updated: true });
    await embedAll(builtin);
    const filtered = { kinds: ['slack_message' as const], after: new Date('2026-05-01T00:00:00Z'), person: 'u0ana' };
    const there = await memory.search({ text: 'auditors expense claims sampling', askedIn: { channel: 'G0FINANCE' }, ...filtered });
    expect(there.hits[0]?.sourceRef).toBe(ref);
    expect(there.hits[0]?.snippet).toMatch(/9th of June/);
    const elsewhere = await memory.search({ text: 'auditors expense claims sampling', askedIn: { channel: 'C0GENERAL' }, ...filtered });
    expect(elsewhere.hits.map((hit) => hit.sourceRef)).not.toContain(ref);
    expect((await memory.search({ text: 'auditors expense claims', askedIn: { channel: 'G0FINANCE' }, kinds: ['email'] })).hits.map((hit) => hit.sourceRef)).not.toContain(ref);
  }, 60_000);

  it('puts a third near-copy of templated mail after a different answer', async () => {
    for (const [n, day] of [['1', 'Monday 2 March'], ['2', 'Monday 9 March'], ['3', 'Monday 16 March'], ['4', 'Monday 23 March'], ['5', 'Monday 30 March'], ['6', 'Monday 6 April']] as const) {
      await memory.remember(email(`<booking-${n}@rooms.example>`, 'Room booking confirmed', `Room booking confirmed: meeting room Birch is booked for the sales review on ${day}, 10:00 to 11:00. Booking number RB-${n}.`, { author: 'bookings@rooms.example', counterparty: 'bookings@rooms.example' }));
    }
    await memory.remember(email('<larch@rooms.example>', 'Sales review room', 'The sales review moves to meeting room Larch: the screen in Birch is broken until further notice.', { author: 'facilities@rooms.example', counterparty: 'facilities@rooms.example' }));
    await embedAll(builtin);
    // Six copies match the question best; the third place goes to the one different answer.
    const result = await memory.search({ text: 'meeting room booking confirmed for the sales review', limit: 3 });
    const refs = result.hits.map((hit) => hit.sourceRef);
    expect(refs.filter((ref) => ref.startsWith('<booking-'))).toHaveLength(2);
    expect(refs).toContain('<larch@rooms.example>');
  }, 60_000);

  it('reads an edited source anew and forgets a deleted one', async () => {
    const ref = 'C0GENERAL/1700000200.000100';
    const message = { kind: 'slack_message' as const, title: '#general', sourceType: 'slack' as const, sourceRef: ref, author: 'U0SAM', actor: 'test' };
    await memory.remember({ ...message, content: 'Kiln number two is broken until the repair on Monday.' });
    const edited = await memory.remember({ ...message, content: 'Spray booth number two is broken until the repair on Monday.' });
    expect(edited).toMatchObject({ created: false, updated: true });
    expect((await memory.search({ text: 'kiln' }, { halves: 'text' })).hits.map((hit) => hit.sourceRef)).not.toContain(ref);
    expect((await memory.search({ text: 'spray booth' }, { halves: 'text' })).hits.map((hit) => hit.sourceRef)).toContain(ref);

    expect(await memory.forget({ sourceType: 'slack', sourceRef: ref }, 'test')).toBe(true);
    await embedAll(builtin);
    expect((await memory.search({ text: 'spray booth repair' })).hits.map((hit) => hit.sourceRef)).not.toContain(ref);
    const row = await database.pool.query<{ content: string; deleted_at: Date | null }>('SELECT content, deleted_at FROM memory_items WHERE source_ref = $1', [ref]);
    expect(row.rows[0]?.content).toBe('');
    expect(row.rows[0]?.deleted_at).toBeInstanceOf(Date);
    // A late redelivery of the original event does not bring the text back.
    await memory.remember({ ...message, content: 'Kiln number two is broken until the repair on Monday.' });
    expect((await memory.search({ text: 'kiln' }, { halves: 'text' })).hits.map((hit) => hit.sourceRef)).not.toContain(ref);
    expect(await memory.forget({ sourceType: 'slack', sourceRef: 'C0GENERAL/never' }, 'test')).toBe(false);
  });

  it('honours web-search syntax: a "quoted phrase" must appear as written, a -word must not appear at all', async () => {
    await memory.remember(email('<walnut1@client.example>', 'Sample by courier', 'Please send the walnut veneer sample by courier before the fitting.'));
    await memory.remember(email('<walnut2@client.example>', 'Offcuts', 'The veneer offcuts are cherry and walnut, free to collect from the yard.'));
    await memory.remember(email('<walnut3@client.example>', 'Boardroom table', 'An oak veneer sample for the boardroom table, by courier.'));
    await embedAll(builtin);
    const refs = async (text: string, halves?: 'text' | 'meaning') => (await memory.search({ text, limit: 20 }, halves ? { halves } : {})).hits.map((hit) => hit.sourceRef);

    // The same words without the syntax find the items holding them in any order.
    expect(await refs('walnut veneer')).toEqual(expect.arrayContaining(['<walnut1@client.example>', '<walnut2@client.example>']));
    for (const halves of [undefined, 'text', 'meaning'] as const) {
      const phrase = await refs('"walnut veneer"', halves);
      expect(phrase).toContain('<walnut1@client.example>');
      expect(phrase).not.toContain('<walnut2@client.example>');
      const leavingOut = await refs('veneer sample by courier -oak', halves);
      expect(leavingOut).toContain('<walnut1@client.example>');
      expect(leavingOut).not.toContain('<walnut3@client.example>');
    }
    // Typographic quotes (as some keyboards type them) work too.
    expect(await refs('“walnut veneer”')).not.toContain('<walnut2@client.example>');
    // A hyphen inside a word, an unbalanced quote, a lone minus and a phrase of stop words are words or nothing, never errors.
    expect(await refs('walnut veneer "by the')).toContain('<walnut1@client.example>');
    expect(await refs('walnut - veneer "the"')).toContain('<walnut2@client.example>');
    expect(await refs('e-mail walnut')).toContain('<walnut1@client.example>');
  }, 60_000);

  it('filters by kind, person and date and still returns the asked number of results', async () => {
    for (let index = 0; index < 30; index += 1) {
      await memory.remember(email(`<filler${index}@supplier.example>`, `Oak delivery ${index}`, `Delivery note ${index}: oak boards, ${10 + index} pieces, pallet ${index}.`, { author: 'depot@supplier.example', counterparty: 'depot@supplier.example', occurredAt: new Date(Date.UTC(2026, 0, 1 + index)) }));
    }
    await embedAll(builtin);
    const byPerson = await memory.search({ text: 'oak boards delivery', person: 'depot@supplier.example', limit: 8 });
    expect(byPerson.hits).toHaveLength(8);
    expect(byPerson.hits.every((hit) => hit.counterparty === 'depot@supplier.example')).toBe(true);
    const byDate = await memory.search({ text: 'oak boards delivery', after: new Date('2026-01-10T00:00:00Z'), before: new Date('2026-01-15T00:00:00Z'), limit: 10 });
    expect(byDate.hits.map((hit) => hit.sourceRef).sort()).toEqual(['<filler10@supplier.example>', '<filler11@supplier.example>', '<filler12@supplier.example>', '<filler13@supplier.example>', '<filler9@supplier.example>'].sort());
    const slackOnly = await memory.search({ text: 'van service delivery', kinds: ['slack_message'], limit: 5 });
    expect(slackOnly.hits.map((hit) => hit.sourceRef)).toEqual(['C0GENERAL/1700000000.000100']);
  }, 120_000);

  it('re-embeds everything when the model changes, searching only the current model meanwhile, then retires the old one', async () => {
    const viaOllama = createOllamaEmbedder({ host: ollama.url, model: 'nomic-embed-text', batchSize: 8 });
    await embedAll(viaOllama);
    const chunks = await count('SELECT count(*) FROM memory_chunks');
    expect(await count("SELECT count(*) FROM memory_embeddings WHERE model = 'nomic-embed-text'")).toBe(chunks);
    expect(await count("SELECT count(*) FROM memory_embeddings WHERE model = 'builtin:use-lite'")).toBe(0);
    expect(await count('SELECT count(*) FROM memory_chunks WHERE needs_embedding')).toBe(0);
    const onOllama = createMemory({ database, embedder: viaOllama, logger });
    expect((await onOllama.search({ text: 'oak boards' })).mode).toBe('hybrid');

    // Back to the built-in model: its vectors were replaced, so everything waits again.
    const backfill = createEmbeddingBackfill({ pool: database.pool, embedder: builtin });
    const first = await backfill.runBatch(4);
    expect(first).toMatchObject({ model: 'builtin:use-lite', embedded: 4, remaining: chunks - 4 });
    const during = await memory.search({ text: 'oak boards delivery', limit: 20 });
    expect(during.mode).toBe('hybrid');
    expect(during.notice).toMatch(new RegExp(`${chunks - 4} passages are still being embedded`));
    const meaningOnly = await memory.search({ text: 'oak boards delivery', limit: 20 }, { halves: 'meaning' });
    expect(meaningOnly.hits.length).toBeLessThanOrEqual(4);

    await embedAll(builtin);
    expect(await count('SELECT count(*) FROM memory_embeddings')).toBe(chunks);
    expect(await count("SELECT count(*) FROM memory_embeddings WHERE model <> 'builtin:use-lite'")).toBe(0);
    const models = await database.pool.query<{ model: string; is_current: boolean }>('SELECT model, is_current FROM embedding_models');
    expect(models.rows).toEqual([{ model: 'builtin:use-lite', is_current: true }]);
    const indexes = await database.pool.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = 'memory_embeddings' AND indexname LIKE 'memory_embeddings_hnsw_%'");
    expect(indexes.rows).toHaveLength(1);
    expect((await memory.search({ text: 'payment reminder for furniture', limit: 1 })).hits[0]?.sourceRef).toBe('<chairs@client.example>');
  }, 120_000);

  it('embeds waiting passages a few batches per run and reports the progress of a backfill', async () => {
    for (let index = 0; index < 12; index += 1) await memory.remember(email(`<progress${index}@client.example>`, `Progress ${index}`, `Progress report number ${index} on the school library shelving.`));
    const logs = captureLogs();
    const job = embedMemoryJob({ backfill: createEmbeddingBackfill({ pool: database.pool, embedder: builtin }), logger: logs.logger }, { batchSize: 4, runBudgetMs: 0 });
    await job.run({}, { attempt: 1, lastAttempt: false });
    // One batch per run with no time budget: 8 of 12 still waiting, said once as a backfill and per run.
    expect(logs.records().map((line) => line.msg)).toEqual([expect.stringMatching(/^embedding 12 memory passages with builtin:use-lite/), 'embedding memory: 8 passages to go']);
    while ((await count('SELECT count(*) FROM memory_chunks WHERE needs_embedding')) > 0) await job.run({}, { attempt: 1, lastAttempt: false });
    expect(logs.records().at(-1)?.msg).toBe('embedding memory: up to date');
    expect((await memory.search({ text: 'bookcases for the school', limit: 3 })).hits.map((hit) => hit.title)).toEqual(expect.arrayContaining([expect.stringMatching(/^Progress/)]));
  }, 60_000);

  it('writes nothing of a batch when the embedder fails half-way, and finishes it on the next run', async () => {
    for (let index = 0; index < 6; index += 1) await memory.remember(email(`<batch${index}@client.example>`, `Question ${index}`, `Question number ${index} about the hotel lobby benches.`));
    const viaOllama = createOllamaEmbedder({ host: ollama.url, model: 'nomic-embed-text', batchSize: 2 });
    const backfill = createEmbeddingBackfill({ pool: database.pool, embedder: viaOllama });
    // A model switch flags everything; let the first run get that far, then fail the second request of a batch.
    await backfill.runBatch(1);
    const waiting = await count('SELECT count(*) FROM memory_chunks WHERE needs_embedding');
    const stored = await count('SELECT count(*) FROM memory_embeddings');
    ollama.failNext(1, 500, { after: 1, message: 'model runner crashed' });
    await expect(backfill.runBatch(6)).rejects.toThrow();
    expect(await count('SELECT count(*) FROM memory_chunks WHERE needs_embedding')).toBe(waiting);
    expect(await count('SELECT count(*) FROM memory_embeddings')).toBe(stored);
    const next = await backfill.runBatch(6);
    expect(next.embedded).toBe(6);
    expect(next.remaining).toBe(waiting - 6);
  }, 60_000);

  it('pauses embedding while the embedder is down, says so once and on health, and resumes', async () => {
    await memory.remember(email('<outage@client.example>', 'During the outage', 'Sent while the model server was down.'));
    const logs = captureLogs();
    const health: string[] = [];
    const viaOllama = createOllamaEmbedder({ host: ollama.url, model: 'nomic-embed-text', batchSize: 64 });
    const job = embedMemoryJob({ backfill: createEmbeddingBackfill({ pool: database.pool, embedder: viaOllama }), logger: logs.logger, onHealth: (report) => health.push(report.status) });
    ollama.failNext(2, 503, { message: 'server busy' });
    await job.run({}, { attempt: 1, lastAttempt: false });
    await job.run({}, { attempt: 1, lastAttempt: false });
    expect(health).toEqual(['failing', 'failing']);
    expect(logs.records().filter((line) => line.msg.startsWith('embedding paused'))).toHaveLength(1);
    await job.run({}, { attempt: 1, lastAttempt: false });
    expect(health.at(-1)).toBe('ok');
    expect(logs.records().some((line) => line.msg === 'embedding works again')).toBe(true);
  }, 60_000);

  it("builds each model's vector index with the denser graph settings", async () => {
    await embedAll(builtin);
    const options = await database.pool.query<{ reloptions: string[] | null }>(
      `SELECT c.reloptions FROM embedding_models m JOIN pg_class c ON c.relname = m.index_name WHERE m.model = 'builtin:use-lite'`,
    );
    expect(options.rows[0]?.reloptions).toEqual(expect.arrayContaining(HNSW_BUILD_OPTIONS.split(', ').map((option) => option.replace(' = ', '='))));
  }, 60_000);
});

describe.each<DatabaseKind>(['postgres', 'pglite'])('memory index migration on %s', (kind) => {
  it('gives an index made before it the denser graph settings and rebuilds it, leaving it usable', async () => {
    const testDatabase = await createTestDatabase(kind);
    const database = await createDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
    try {
      const all = readMigrations();
      const at = all.findIndex((migration) => migration.name.endsWith('_hnsw_build_quality'));
      expect(at).toBeGreaterThan(0);
      await applyMigrations(database.pool, { migrations: all.slice(0, at) });
      // As makeCurrent made them before: pgvector's default build settings.
      const indexName = 'memory_embeddings_hnsw_00112233445566ff';
      await database.pool.query(`INSERT INTO embedding_models (model, dimensions, index_name, is_current) VALUES ('old-model', 3, $1, true)`, [indexName]);
      await database.pool.query(`CREATE INDEX ${indexName} ON memory_embeddings USING hnsw ((embedding::vector(3)) vector_cosine_ops) WHERE model = 'old-model'`);
      await applyMigrations(database.pool);
      const index = await database.pool.query<{ reloptions: string[] | null; valid: boolean }>(
        'SELECT c.reloptions, i.indisvalid AS valid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = $1',
        [indexName],
      );
      expect(index.rows).toEqual([{ reloptions: expect.arrayContaining(['m=16', 'ef_construction=128']), valid: true }]);
    } finally {
      await database.close();
      await testDatabase.drop();
    }
  }, 60_000);
});
