import type { Database, PrismaClient } from '../db/database.ts';
import type { TimelineEntry } from './types.ts';

/**
 * What happened to one email, in order: received, remembered, drafted, posted, approved, sent.
 * Read from the append-only audit log, entries about the email itself and about its drafts.
 */
export async function emailTimeline(prisma: PrismaClient, emailId: string): Promise<TimelineEntry[]> {
  const drafts = await prisma.draft.findMany({ where: { emailId }, select: { id: true } });
  const entries = await prisma.auditEntry.findMany({
    where: {
      OR: [
        { entityType: 'email', entityId: emailId },
        ...(drafts.length > 0 ? [{ entityType: 'draft', entityId: { in: drafts.map((draft) => draft.id) } }] : []),
      ],
    },
    orderBy: [{ at: 'asc' }, { id: 'asc' }],
    select: { at: true, actor: true, action: true, data: true },
  });
  // Model calls are in their own ledger: each says which email it served, with its cost.
  const calls = await prisma.modelCall.findMany({ where: { servedKind: 'email', servedId: emailId }, orderBy: { id: 'asc' } });
  const timeline: TimelineEntry[] = [
    ...entries.map((entry) => ({
      at: entry.at,
      actor: entry.actor,
      action: entry.action,
      detail: entry.data !== null && typeof entry.data === 'object' && !Array.isArray(entry.data) ? (entry.data as Record<string, unknown>) : {},
    })),
    ...calls.map((call) => ({
      at: call.at,
      actor: `${call.provider}/${call.model}`,
      action: call.ok ? `model.${call.purpose}` : `model.${call.purpose}.failed`,
      detail: { costUsd: Number(call.costUsd), inputTokens: call.inputTokens, outputTokens: call.outputTokens, latencyMs: call.latencyMs, ...(call.error ? { error: call.error } : {}) },
    })),
  ];
  return timeline.sort((a, b) => a.at.getTime() - b.at.getTime());
}

/** A timeline as lines a person reads: when, what, who, and the details that matter. */
export function formatTimeline(entries: TimelineEntry[]): string {
  if (entries.length === 0) return 'Nothing recorded for this email.';
  return entries
    .map((entry) => {
      const detail = Object.entries(entry.detail)
        .filter(([, value]) => value !== null && value !== undefined && typeof value !== 'object')
        .map(([key, value]) => `${key}=${String(value).slice(0, 80)}`)
        .join(' ');
      return `${entry.at.toISOString().replace('T', ' ').slice(0, 19)}  ${entry.action.padEnd(24)} ${entry.actor}${detail ? `  ${detail}` : ''}`;
    })
    .join('\n');
}

export interface FoundEmail {
  id: string;
  subject: string;
  fromAddress: string | null;
  receivedAt: Date;
}

/**
 * Emails a person means by `wanted`: its id, its Message-ID (with or without <>), or words of
 * its subject or sender; exact matches first, then the newest. At most `limit`.
 */
export async function findEmails(pool: Database['pool'], wanted: string, limit = 5): Promise<FoundEmail[]> {
  const result = await pool.query<{ id: string; subject: string; from_address: string | null; received_at: Date }>(
    `SELECT id::text, subject, from_address, received_at FROM emails
      WHERE id::text = $1 OR message_id = $1 OR message_id = '<' || $1 || '>' OR subject ILIKE '%' || $1 || '%' OR from_address ILIKE '%' || $1 || '%'
      ORDER BY (id::text = $1 OR message_id IN ($1, '<' || $1 || '>')) DESC, received_at DESC LIMIT $2`,
    [wanted, limit],
  );
  return result.rows.map((row) => ({ id: row.id, subject: row.subject, fromAddress: row.from_address, receivedAt: row.received_at }));
}
