import { z } from 'zod';
import { defineTool, oneLine } from '../tool.ts';

const MAX_LISTED = 50;

export const inputSchema = z.strictObject({
  limit: z.number().int().min(1).max(MAX_LISTED).optional().describe(`How many to list, oldest first (default 20, at most ${MAX_LISTED})`),
});

const pendingSchema = z.object({
  draftId: z.string(),
  version: z.number().int().describe('Edits and redrafts make new versions'),
  subject: z.string(),
  to: z.string().describe('The address the reply goes to'),
  toName: z.string().nullable(),
  emailMessageId: z.string().describe('The Message-ID of the email it answers (for get_email_timeline)'),
  waitingSince: z.string().describe('When the first version for this email was drafted'),
  confidence: z.number().nullable().describe("The drafter's confidence, 0 to 1"),
  cardUrl: z.string().nullable().describe('The card in the approvals channel, where a teammate approves, edits or rejects it'),
  preview: z.string().describe("The start of the reply's text"),
});

export const outputSchema = z.object({
  total: z.number().int().describe('How many drafts are waiting in all'),
  pending: z.array(pendingSchema),
});

export const listPendingApprovalsTool = defineTool({
  name: 'list_pending_approvals',
  title: 'List drafts waiting for approval',
  description:
    'List the draft replies waiting for a teammate to approve in Slack, oldest first, with who each goes to, how long it has waited and a link to its card. Read-only: nothing is approved or sent from here; every reply leaves only after a person clicks Approve in Slack.',
  inputSchema,
  outputSchema,
  annotations: { readOnlyHint: true, openWorldHint: false },
  async handler(input, { deps, now }) {
    const { pending, total } = await deps.pendingApprovals(input.limit ?? 20);
    const lines = pending.map((draft, index) => {
      const to = draft.toName ? `${draft.toName} <${draft.to}>` : draft.to;
      const card = draft.cardUrl ? `\n   card: ${draft.cardUrl}` : '\n   card: not posted yet';
      return `${index + 1}. “${oneLine(draft.subject, 120)}” to ${to}, waiting ${age(now.getTime() - draft.waitingSince.getTime())}${draft.version > 1 ? ` (version ${draft.version})` : ''}${card}\n   ${oneLine(draft.preview, 200)}`;
    });
    const head = total === 0 ? 'No drafts are waiting for approval.' : `${total} draft${total === 1 ? ' is' : 's are'} waiting for approval${total > pending.length ? ` (the oldest ${pending.length} listed)` : ''}:`;
    return {
      text: [head, ...lines].join('\n'),
      structured: {
        total,
        pending: pending.map((draft) => ({ ...draft, waitingSince: draft.waitingSince.toISOString() })),
      },
    };
  },
});

function age(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.floor(hours / 24)} days`;
}
