/**
 * What the MCP server asks of the rest of Adjutant: its port, declared here and wired in by the
 * composition roots (main.ts for /mcp, `adjutant mcp` for stdio) through
 * orchestrator/mcp-port.ts. The tools see these functions and our own types, never the database.
 */
import type { Citation } from '../agents/answerer.ts';
import type { Logger } from '../logger.ts';
import type { Memory } from '../memory/memory.ts';

/** An answer from memory: its text carries [n] markers for `citations`. */
export interface McpAnswer {
  /** answer: written by a model; results: no model, the best matches listed; nothing: memory has nothing on it. */
  kind: 'answer' | 'results' | 'nothing';
  text: string;
  citations: Citation[];
  /** Why search was by words only, when it was. */
  notice: string | null;
  /** provider/model that wrote an answer. */
  model: string | null;
}

/** A draft reply waiting for a teammate's decision in Slack. */
export interface PendingApproval {
  draftId: string;
  version: number;
  subject: string;
  to: string;
  toName: string | null;
  /** The email it answers. */
  emailMessageId: string;
  /** Waiting since the first version for this email was drafted. */
  waitingSince: Date;
  confidence: number | null;
  /** The card in the approvals channel, once posted. */
  cardUrl: string | null;
  /** The start of the reply's text. */
  preview: string;
}

export interface EmailSummary {
  id: string;
  messageId: string;
  subject: string;
  from: string | null;
  receivedAt: Date;
}

export interface McpDeps {
  memory: Pick<Memory, 'search' | 'storeFact' | 'timeline'>;
  /** Answer a question from memory, with numbered citations (team-wide items only). */
  answer(question: string): Promise<McpAnswer>;
  /** Drafts waiting for approval, oldest first, at most `limit`, and how many there are in all. */
  pendingApprovals(limit: number): Promise<{ pending: PendingApproval[]; total: number }>;
  /** An email by Adjutant's id or by its Message-ID (with or without the angle brackets). */
  findEmail(ref: string): Promise<EmailSummary | null>;
  logger: Logger;
  now?: () => Date;
}
