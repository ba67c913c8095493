/**
 * The team memory, as everything that reads or writes it sees it (agents, Slack, CLI, MCP):
 * remember an item, forget a deleted source, search, store a fact, read a contact, read an
 * email's timeline. Built once in main.ts from the database and the configured embedder.
 */
import { z } from 'zod';
import type { Embedder } from '../brains/types.ts';
import type { Database } from '../db/database.ts';
import { AdjutantError, errorMessage } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { createContactStore, type ContactStore } from './contacts.ts';
import { readModel } from './embedding-index.ts';
import { createFactStore } from './facts.ts';
import { createFeedbackStore, type FeedbackStore } from './feedback.ts';
import { createItemWriter } from './items.ts';
import { hybridSearch, MAX_LIMIT } from './search.ts';
import { createWordStatistics } from './word-statistics.ts';
import { emailTimeline } from './timeline.ts';
import {
  ITEM_KINDS,
  type Contact,
  type Fact,
  type FactInput,
  type FactResult,
  type RememberInput,
  type RememberResult,
  type Scope,
  type SearchQuery,
  type SearchResponse,
  type SourceType,
  type TimelineEntry,
} from './types.ts';

export interface Memory {
  remember(input: RememberInput): Promise<RememberResult>;
  forget(source: { sourceType: SourceType; sourceRef: string }, actor: string): Promise<boolean>;
  /** Where a person opens the item (an email's card in Slack), once known. */
  setLink(source: { sourceType: SourceType; sourceRef: string }, url: string): Promise<void>;
  search(query: SearchQuery, options?: { halves?: 'both' | 'text' | 'meaning' }): Promise<SearchResponse>;
  storeFact(input: FactInput): Promise<FactResult>;
  factHistory(subject: string, scope?: Scope): Promise<Fact[]>;
  contact(address: string): Promise<Contact | null>;
  timeline(emailId: string): Promise<TimelineEntry[]>;
  readonly contacts: ContactStore;
  /** What teammates said about drafts (rejection reasons, edits, redraft instructions), read back as guidance. */
  readonly feedback: FeedbackStore;
}

/** What a caller may ask, checked where it enters (Slack text, MCP arguments and CLI flags all end here). */
export const searchQuerySchema = z.object({
  text: z
    .string()
    .transform((text) => text.replaceAll('\u0000', '').trim())
    .pipe(z.string().min(1, 'the search text is empty').max(2000, 'the search text is over 2000 characters')),
  limit: z.number().int().min(1).max(MAX_LIMIT).optional(),
  kinds: z.array(z.enum(ITEM_KINDS)).optional(),
  person: z.string().trim().max(320).optional(),
  after: z.date().optional(),
  before: z.date().optional(),
  askedIn: z.object({ channel: z.string().regex(/^[CGD][A-Z0-9]{2,}$/) }).nullable().optional(),
  includeHistory: z.boolean().optional(),
});

export interface MemoryDeps {
  database: Pick<Database, 'pool' | 'prisma' | 'kind'>;
  /** null: full-text search only; `embedderOff` says why. */
  embedder: Embedder | null;
  embedderOff?: string;
  logger: Logger;
}

export function createMemory(deps: MemoryDeps): Memory {
  const { database, embedder, logger } = deps;
  const items = createItemWriter(database);
  const facts = createFactStore(database);
  const contacts = createContactStore(database);
  const feedback = createFeedbackStore(database);
  const wordStatistics = createWordStatistics(database, logger);

  async function meaningOf(text: string): Promise<{ use: Awaited<ReturnType<typeof readModel>>; vector: number[] | null; notice: string | null }> {
    if (!embedder) return { use: null, vector: null, notice: `full-text search only: ${deps.embedderOff ?? 'no embedder configured (EMBEDDER)'}` };
    const model = await readModel(database.pool, embedder.model);
    if (!model) return { use: null, vector: null, notice: `full-text search only: the ${embedder.model} index is not built yet` };
    try {
      const [vector] = await embedder.embed([text]);
      if (!vector || vector.length !== model.dimensions) throw new AdjutantError('MODEL_OUTPUT_INVALID', `query vector has ${vector?.length ?? 0} dimensions, the index ${model.dimensions}`);
      return { use: model, vector, notice: null };
    } catch (error) {
      logger.warn({ err: error }, 'query embedding failed; searching full text only');
      return { use: null, vector: null, notice: `full-text search only: the embedder failed (${errorMessage(error)})` };
    }
  }

  return {
    contacts,
    feedback,
    async remember(input) {
      const result = await items.remember(input);
      if (result.created || result.updated) wordStatistics.passagesWritten(result.chunks);
      return result;
    },
    forget: (source, actor) => items.forget(source, actor),
    async setLink(source, url) {
      await database.pool.query('UPDATE memory_items SET url = $3 WHERE source_type = $1 AND source_ref = $2', [source.sourceType, source.sourceRef, url]);
    },
    async search(raw, options = {}) {
      const parsed = searchQuerySchema.safeParse(raw);
      if (!parsed.success) throw new AdjutantError('CONFLICT', `bad search: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'query'}: ${issue.message}`).join('; ')}`, { retryable: false });
      const query = parsed.data as SearchQuery;
      const halves = options.halves ?? 'both';
      const meaning = halves === 'text' ? { use: null, vector: null, notice: null } : await meaningOf(query.text);
      const useMeaning = meaning.use !== null && meaning.vector !== null;
      // The count of passages still waiting for vectors (for the notice) runs beside the search, not after it.
      const [hits, waiting] = await Promise.all([
        hybridSearch(database.pool, {
          query,
          text: halves !== 'meaning',
          meaning: useMeaning && meaning.use && meaning.vector ? { model: meaning.use, vector: meaning.vector } : null,
        }),
        useMeaning ? database.pool.query<{ count: string }>('SELECT count(*) FROM memory_chunks WHERE needs_embedding') : null,
      ]);
      let notice = meaning.notice;
      const count = Number(waiting?.rows[0]?.count ?? 0);
      if (embedder && count > 0) notice = `${count} passage${count === 1 ? ' is' : 's are'} still being embedded with ${embedder.model}: those are found by their words only for now`;
      return { hits, mode: halves === 'meaning' ? 'meaning' : useMeaning ? 'hybrid' : 'text', notice };
    },
    storeFact: (input) => facts.store(input),
    factHistory: (subject, scope) => facts.history(subject, scope),
    contact: (address) => contacts.get(address),
    timeline: (emailId) => emailTimeline(database.prisma, emailId),
  };
}
