import { randomUUID } from 'node:crypto';
import { answerQuestion } from '../agents/answerer.ts';
import type { ModelRouter } from '../brains/router.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import type { Memory } from '../memory/memory.ts';
import type { EmailSummary, McpDeps, PendingApproval } from '../mcp/port.ts';
import { createDraftStore } from './draft-store.ts';

/** The start of a pending reply shown in the list. */
const PREVIEW_CHARS = 280;

/**
 * The MCP server's port over memory, the answerer and the draft table: built by the composition
 * roots (main.ts for /mcp, the `adjutant mcp` command for stdio), so the tools stay free of the
 * database.
 */
export function mcpPort(deps: { memory: Memory; router: ModelRouter | null; database: Pick<Database, 'prisma'>; logger: Logger; now?: () => Date }): McpDeps {
  const { memory, router, logger } = deps;
  const { prisma } = deps.database;
  const drafts = createDraftStore(prisma);
  const now = deps.now ?? (() => new Date());
  return {
    memory,
    logger,
    now,
    async answer(question) {
      // askedIn null: an MCP client is in no Slack channel, so it sees team-wide items only.
      const answer = await answerQuestion({ router, memory }, { question, askedIn: null, history: [], questionId: `mcp-${randomUUID()}`, now: now() });
      if (answer.kind === 'nothing') return { kind: 'nothing', text: answer.text, citations: [], notice: null, model: null };
      if (answer.kind === 'results') return { kind: 'results', text: answer.text, citations: answer.citations, notice: answer.notice, model: null };
      return { kind: 'answer', text: answer.text, citations: answer.citations, notice: null, model: `${answer.provider}/${answer.model}` };
    },
    async pendingApprovals(limit) {
      const { drafts: rows, total } = await drafts.waiting(limit);
      if (rows.length === 0) return { pending: [], total };
      const emailIds = [...new Set(rows.map((draft) => draft.emailId))];
      const [emails, items] = await Promise.all([
        prisma.email.findMany({ where: { id: { in: emailIds } }, select: { id: true, messageId: true } }),
        // The email's memory item links to its card once the card is posted.
        prisma.memoryItem.findMany({ where: { emailId: { in: emailIds }, kind: 'email', url: { not: null } }, select: { emailId: true, url: true } }),
      ]);
      const messageIds = new Map(emails.map((email) => [email.id, email.messageId]));
      const cards = new Map(items.map((item) => [item.emailId, item.url]));
      const pending: PendingApproval[] = rows.map((draft) => ({
        draftId: draft.id,
        version: draft.version,
        subject: draft.subject,
        to: draft.toAddress,
        toName: draft.toName,
        emailMessageId: messageIds.get(draft.emailId) ?? '',
        waitingSince: draft.waitingSince,
        confidence: draft.confidence,
        cardUrl: cards.get(draft.emailId) ?? null,
        preview: draft.body.length > PREVIEW_CHARS ? `${draft.body.slice(0, PREVIEW_CHARS).trimEnd()}…` : draft.body,
      }));
      return { pending, total };
    },
    async findEmail(ref) {
      const text = ref.trim();
      const select = { id: true, messageId: true, subject: true, fromAddress: true, receivedAt: true } as const;
      const byId = UUID.test(text) ? await prisma.email.findUnique({ where: { id: text }, select }) : null;
      const row =
        byId ??
        (await prisma.email.findUnique({ where: { messageId: text }, select })) ??
        // Message-IDs are stored with their angle brackets; a client may leave them off.
        (!text.startsWith('<') ? await prisma.email.findUnique({ where: { messageId: `<${text}>` }, select }) : null);
      if (!row) return null;
      const email: EmailSummary = { id: row.id, messageId: row.messageId, subject: row.subject, from: row.fromAddress, receivedAt: row.receivedAt };
      return email;
    },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
