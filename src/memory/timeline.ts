import type { PrismaClient } from '../db/database.ts';
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
  return entries.map((entry) => ({
    at: entry.at,
    actor: entry.actor,
    action: entry.action,
    detail: entry.data !== null && typeof entry.data === 'object' && !Array.isArray(entry.data) ? (entry.data as Record<string, unknown>) : {},
  }));
}
