import { z } from 'zod';
import { formatTimeline } from '../../memory/timeline.ts';
import { defineTool, ToolFailure } from '../tool.ts';

export const inputSchema = z.strictObject({
  email: z
    .string()
    .trim()
    .min(1, { error: 'give an email: its Message-ID or Adjutant id' })
    .max(998, { error: 'the email reference is over 998 characters' })
    .describe("The email's Message-ID (a search_memory hit's sourceRef, with or without <>) or Adjutant's id for it"),
});

const entrySchema = z.object({
  at: z.string(),
  actor: z.string().describe('Who did it: a Slack user ID, a job, system, or the model (provider/model)'),
  action: z.string().describe('What happened: email.received, email.triaged, draft.created, approval.posted, draft.approved, reply.sent, model.<purpose> (a model call, with its cost)…'),
  detail: z.record(z.string(), z.unknown()),
});

export const outputSchema = z.object({
  email: z.object({ id: z.string(), messageId: z.string(), subject: z.string(), from: z.string().nullable(), receivedAt: z.string() }),
  entries: z.array(entrySchema),
});

export const getEmailTimelineTool = defineTool({
  name: 'get_email_timeline',
  title: "An email's timeline",
  description:
    "What happened to one email, in order, from the append-only audit log and the model-call ledger: received, remembered, sorted, drafted, posted for approval, edited, approved or rejected, sent, and each model call made for it with its cost. Give its Message-ID (the sourceRef of an email found with search_memory) or Adjutant's id for it.",
  inputSchema,
  outputSchema,
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler(input, { deps }) {
    const email = await deps.findEmail(input.email);
    if (!email) throw new ToolFailure(`No email with the Message-ID or id “${input.email}” is stored. Find one with search_memory (kinds: ["email"]) and pass its sourceRef.`);
    const entries = await deps.memory.timeline(email.id);
    const head = `“${email.subject}” from ${email.from ?? 'an unknown sender'} (${email.messageId}), received ${email.receivedAt.toISOString()}`;
    return {
      text: `${head}\n\n${formatTimeline(entries)}`,
      structured: {
        email: { ...email, receivedAt: email.receivedAt.toISOString() },
        entries: entries.map((entry) => ({ at: entry.at.toISOString(), actor: entry.actor, action: entry.action, detail: entry.detail })),
      },
    };
  },
});
