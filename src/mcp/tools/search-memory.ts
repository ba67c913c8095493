import { z } from 'zod';
import { formatSearch } from '../../memory/format-search.ts';
import { MAX_LIMIT } from '../../memory/search.ts';
import { ITEM_KINDS } from '../../memory/types.ts';
import { defineTool, isoDate } from '../tool.ts';

const DATE_FORM = 'a date such as 2026-03-01 or a time such as 2026-03-01T09:00:00Z';

/** YYYY-MM-DD (midnight UTC) or an ISO 8601 time with its offset. */
const dateInput = (what: string) =>
  z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/, { error: `expected ${DATE_FORM}` })
    .refine((value) => !Number.isNaN(Date.parse(value)), { error: `expected ${DATE_FORM}` })
    .describe(`${what}: ${DATE_FORM} (a date alone is midnight UTC)`);

export const inputSchema = z
  .strictObject({
    query: z.string().trim().min(1, { error: 'the query is empty' }).max(2000, { error: 'the query is over 2000 characters' }).describe('What to look for: words, a name, an invoice number, or a question'),
    kinds: z
      .array(z.enum(ITEM_KINDS))
      .min(1)
      .max(ITEM_KINDS.length)
      .optional()
      .describe('Only these kinds of item: email, slack_message, fact (remembered statements), note'),
    person: z.string().trim().min(1).max(320).optional().describe('Only items from or about this person: an exact email address, or part of a name or domain'),
    after: dateInput('Only items dated on or after this').optional(),
    before: dateInput('Only items dated before this').optional(),
    limit: z.number().int().min(1).max(MAX_LIMIT).optional().describe(`How many items to return (default 10, at most ${MAX_LIMIT})`),
    includeHistory: z.boolean().optional().describe('Also return facts that a newer statement replaced, after the current ones'),
  })
  .refine((input) => !input.after || !input.before || Date.parse(input.after) < Date.parse(input.before), { path: ['before'], error: 'before must be later than after' });

const hitSchema = z.object({
  itemId: z.string(),
  kind: z.enum(ITEM_KINDS),
  title: z.string(),
  snippet: z.string().describe('The passage that matched; matched words are in «guillemets»'),
  author: z.string().nullable(),
  counterparty: z.string().nullable(),
  occurredAt: z.string().nullable(),
  sourceType: z.string(),
  sourceRef: z.string().describe("The source's own id: an email's Message-ID, a Slack channel/ts, or the id a tool gave a fact"),
  url: z.string().nullable().describe("Where a person opens it: the email's card in Slack, or the Slack message"),
  matchedBy: z.array(z.enum(['text', 'meaning'])),
  superseded: z.boolean().describe('A newer fact replaced this one'),
});

export const outputSchema = z.object({
  mode: z.enum(['hybrid', 'text', 'meaning']),
  notice: z.string().nullable(),
  hits: z.array(hitSchema),
});

export const searchMemoryTool = defineTool({
  name: 'search_memory',
  title: 'Search team memory',
  description:
    "Search what the team's Adjutant remembers: emails in the shared mailbox, Slack messages and remembered facts, each with where it came from. Hybrid search (full text and meaning), best first. Filter by kind, person (address, name or domain) and date range. Use get_email_timeline with an email's sourceRef (its Message-ID) to see what happened to it.",
  inputSchema,
  outputSchema,
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler(input, { deps }) {
    const response = await deps.memory.search({
      text: input.query,
      ...(input.kinds ? { kinds: input.kinds } : {}),
      ...(input.person ? { person: input.person } : {}),
      ...(input.after ? { after: new Date(input.after) } : {}),
      ...(input.before ? { before: new Date(input.before) } : {}),
      ...(input.limit ? { limit: input.limit } : {}),
      ...(input.includeHistory ? { includeHistory: true } : {}),
      // Team-wide items only: a private channel's messages are for asks made in that channel.
      askedIn: null,
    });
    return {
      text: formatSearch(response),
      structured: {
        mode: response.mode,
        notice: response.notice,
        hits: response.hits.map((hit) => ({
          itemId: hit.itemId,
          kind: hit.kind,
          title: hit.title,
          snippet: hit.snippet,
          author: hit.author,
          counterparty: hit.counterparty,
          occurredAt: isoDate(hit.occurredAt),
          sourceType: hit.sourceType,
          sourceRef: hit.sourceRef,
          url: hit.url,
          matchedBy: hit.matchedBy,
          superseded: hit.supersededBy !== null,
        })),
      },
    };
  },
});
