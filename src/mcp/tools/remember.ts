import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { defineTool, isoDate } from '../tool.ts';

export const inputSchema = z.strictObject({
  subject: z
    .string()
    .trim()
    .min(1, { error: 'the subject is empty' })
    .max(200, { error: 'the subject is over 200 characters' })
    .describe('What the fact is about, in a few words ("Lumen delivery day"): a later fact on the same subject replaces this one, which is kept as history'),
  statement: z.string().trim().min(1, { error: 'the statement is empty' }).max(2000, { error: 'the statement is over 2000 characters' }).describe('The fact, as a full sentence ("Lumen deliver on Tuesdays, not Mondays.")'),
});

export const outputSchema = z.object({
  outcome: z.enum(['stored', 'duplicate', 'superseded']).describe('stored: new; duplicate: already known; superseded: it replaced an earlier fact on the subject'),
  itemId: z.string(),
  subject: z.string(),
  statement: z.string(),
  saidBy: z.string().nullable().describe('Who the fact is attributed to: the MCP client that stored it'),
  sourceRef: z.string(),
  occurredAt: z.string().nullable(),
  replaced: z.string().nullable().describe('The statement it replaced, when it superseded one'),
});

/** Who a fact stored through MCP is said by when the client did not introduce itself. */
export const UNNAMED_CLIENT = 'mcp-client';

export const rememberTool = defineTool({
  name: 'remember',
  title: 'Remember a fact',
  description:
    "Store a fact in the team's memory, attributed to this MCP client. A new statement on the same subject replaces the current one (the old one is kept as history); the same statement twice is stored once. Everyone in the team can then find it with search_memory and ask. Store only what the user asked to be remembered.",
  inputSchema,
  outputSchema,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(input, { deps, client, now }) {
    const clientName = client?.name.trim() || UNNAMED_CLIENT;
    const result = await deps.memory.storeFact({
      subject: input.subject,
      statement: input.statement,
      saidBy: clientName,
      sourceType: 'mcp',
      sourceRef: `${clientName}/${randomUUID()}`,
      occurredAt: now,
      scope: { kind: 'team' },
      actor: `mcp:${clientName}`,
    });
    const { fact, outcome, previous } = result;
    const text =
      outcome === 'duplicate'
        ? `Already known: “${fact.statement}”.`
        : outcome === 'superseded' && previous
          ? `Remembered: “${fact.statement}”. It replaces “${previous.statement}” (kept in its history).`
          : `Remembered: “${fact.statement}”.`;
    return {
      text,
      structured: {
        outcome,
        itemId: fact.itemId,
        subject: fact.subject,
        statement: fact.statement,
        saidBy: fact.saidBy,
        sourceRef: fact.sourceRef,
        occurredAt: isoDate(fact.occurredAt),
        replaced: outcome === 'superseded' ? (previous?.statement ?? null) : null,
      },
    };
  },
});
