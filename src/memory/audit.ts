import type { PrismaClient } from '../db/database.ts';

export interface AuditEvent {
  /** Who did it: a Slack user ID, 'system', or a job name. */
  actor: string;
  action: string;
  entityType: 'email' | 'draft' | 'memory_item' | 'mailbox' | 'budget' | 'job' | 'question' | 'tool_call';
  entityId: string;
  data?: Record<string, unknown>;
}

export interface AuditLog {
  record(event: AuditEvent): Promise<void>;
  forEntity(entityType: AuditEvent['entityType'], entityId: string): Promise<{ at: Date; actor: string; action: string; data: unknown }[]>;
}

/** The append-only audit log (a database trigger refuses updates and deletes). */
export function createAuditLog(prisma: PrismaClient): AuditLog {
  return {
    async record(event) {
      await prisma.auditEntry.create({
        data: {
          actor: event.actor,
          action: event.action,
          entityType: event.entityType,
          entityId: event.entityId,
          data: (event.data ?? {}) as object,
        },
      });
    },
    async forEntity(entityType, entityId) {
      return prisma.auditEntry.findMany({
        where: { entityType, entityId },
        orderBy: { id: 'asc' },
        select: { at: true, actor: true, action: true, data: true },
      });
    },
  };
}
