import { z } from 'zod';
import type { Citation } from '../../agents/answerer.ts';
import { defineTool, isoDate, oneLine } from '../tool.ts';

export const inputSchema = z.strictObject({
  question: z.string().trim().min(1, { error: 'the question is empty' }).max(4000, { error: 'the question is over 4000 characters' }).describe('A question about what the team knows: "When is the Lumen delivery due?"'),
});

const citationSchema = z.object({
  n: z.number().int().describe('The number the answer cites as [n]'),
  title: z.string(),
  kind: z.string(),
  url: z.string().nullable().describe("Where a person opens it: the email's card in Slack, or the Slack message"),
  sourceRef: z.string().describe("An email's Message-ID, a Slack channel/ts, or the id a tool gave a fact"),
  occurredAt: z.string().nullable(),
  author: z.string().nullable(),
});

export const outputSchema = z.object({
  kind: z.enum(['answer', 'results', 'nothing']).describe('answer: written from memory by a model; results: no model is configured, the best matches instead; nothing: memory holds nothing on it'),
  answer: z.string().describe('The answer with [n] markers for its citations'),
  citations: z.array(citationSchema),
  notice: z.string().nullable(),
  model: z.string().nullable(),
});

export const askTool = defineTool({
  name: 'ask',
  title: 'Ask team memory',
  description:
    "Answer a question from the team's memory (shared mailbox, Slack, remembered facts) with numbered citations [n] to the items it is based on; says so plainly when memory holds nothing on it. Without a model configured, the best matching items are listed instead. Prefer this to search_memory for a question that wants an answer rather than a list.",
  inputSchema,
  outputSchema,
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler(input, { deps }) {
    const answer = await deps.answer(input.question);
    const sources = answer.citations.map((citation) => `${citation.n}. ${sourceLine(citation)}`);
    const notice = answer.notice ? `(${answer.notice})` : '';
    return {
      text: [answer.text, notice, sources.length > 0 ? `Sources:\n${sources.join('\n')}` : ''].filter((part) => part !== '').join('\n\n'),
      structured: {
        kind: answer.kind,
        answer: answer.text,
        citations: answer.citations.map((citation) => ({ ...citation, occurredAt: isoDate(citation.occurredAt) })),
        notice: answer.notice,
        model: answer.model,
      },
    };
  },
});

function sourceLine(citation: Citation): string {
  const when = citation.occurredAt ? citation.occurredAt.toISOString().slice(0, 10) : 'undated';
  const who = citation.author ? `, ${citation.author}` : '';
  const where = citation.url ?? `${citation.kind} ${citation.sourceRef}`;
  return `${oneLine(citation.title || '(untitled)', 120)} (${citation.kind}, ${when}${who}): ${where}`;
}
