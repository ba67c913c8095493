/**
 * Writing items: an item with provenance, its chunks (full text is a generated column; vectors
 * come later from the embedding backfill) and its audit entry, in one statement.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Database } from '../db/database.ts';
import { chunkText } from './chunking.ts';
import { indexableEmailText } from './email-sections.ts';
import type { RememberInput, RememberResult, Scope, SourceType } from './types.ts';

export function scopeKey(scope: Scope | undefined): string {
  return !scope || scope.kind === 'team' ? 'team' : `channel:${scope.channel}`;
}

export function contentHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex');
}

/** The chunks an item is searched by: the title leads, an email's quoted history and signature stay out. */
export function itemChunks(input: Pick<RememberInput, 'kind' | 'title' | 'content'>): string[] {
  const body = input.kind === 'email' ? indexableEmailText(input.content) : input.content.trim();
  return chunkText(input.title.trim() === '' ? body : `${input.title}\n\n${body}`);
}

/** PostgreSQL text cannot hold NUL; everything else is kept as written. */
function clean(text: string): string {
  return text.replaceAll('\u0000', '');
}

export interface ItemWriter {
  remember(input: RememberInput): Promise<RememberResult>;
  /** The source was deleted: its text leaves memory, the row stays as a tombstone. false: nothing stored. */
  forget(source: { sourceType: SourceType; sourceRef: string }, actor: string): Promise<boolean>;
}

export function createItemWriter({ pool, prisma }: Pick<Database, 'pool' | 'prisma'>): ItemWriter {
  return {
    async remember(input) {
      const title = clean(input.title);
      const content = clean(input.content);
      const chunks = itemChunks({ kind: input.kind, title, content });
      const hash = contentHash(title, content);
      const itemId = randomUUID();
      const auditEntity = input.emailId ? ['email', input.emailId] : ['memory_item', itemId];
      // Keyed by source: an event delivered twice stores once. The chunks and the audit entry
      // are written only when the item row was (they select from `item`). The chunks carry the
      // item's search filters (the trigger that copies them cannot see an item inserted by the
      // same statement).
      const inserted = await pool.query<{ id: string }>(
        `WITH item AS (
           INSERT INTO memory_items (id, kind, title, content, source_type, source_ref, author, occurred_at, email_id, scope, counterparty, url, content_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (source_type, source_ref) DO NOTHING RETURNING id),
         chunks AS (
           INSERT INTO memory_chunks (id, item_id, position, text, scope, kind, occurred_at, counterparty, author)
           SELECT gen_random_uuid(), item.id, chunk.position - 1, chunk.text, $10, $2, $8, $11, lower($7)
           FROM item, unnest($14::text[]) WITH ORDINALITY AS chunk(text, position)),
         audit AS (
           INSERT INTO audit_log (actor, action, entity_type, entity_id, data)
           SELECT $15, 'memory.stored', $16, $17, jsonb_build_object('itemId', item.id, 'chunks', $18::int, 'kind', $2::text) FROM item)
         SELECT id::text FROM item`,
        [
          itemId,
          input.kind,
          title,
          content,
          input.sourceType,
          clean(input.sourceRef),
          input.author ?? null,
          input.occurredAt ?? null,
          input.emailId ?? null,
          scopeKey(input.scope),
          input.counterparty?.toLowerCase() ?? null,
          input.url ?? null,
          hash,
          chunks,
          input.actor,
          auditEntity[0],
          auditEntity[1],
          chunks.length,
        ],
      );
      if (inserted.rows[0]) return { itemId, created: true, updated: false, chunks: chunks.length };

      const existing = await prisma.memoryItem.findUniqueOrThrow({
        where: { sourceType_sourceRef: { sourceType: input.sourceType, sourceRef: clean(input.sourceRef) } },
        select: { id: true, contentHash: true, deletedAt: true, _count: { select: { chunks: true } } },
      });
      if (existing.contentHash === hash || existing.deletedAt) {
        // The same text again, or an edit that arrived after the deletion: nothing to do.
        return { itemId: existing.id, created: false, updated: false, chunks: existing._count.chunks };
      }
      // An edited source (a Slack message): new text, new chunks, the old text no longer found.
      await prisma.$transaction([
        prisma.memoryItem.update({ where: { id: existing.id }, data: { title, content, contentHash: hash, updatedAt: new Date() } }),
        prisma.memoryChunk.deleteMany({ where: { itemId: existing.id } }),
        prisma.memoryChunk.createMany({ data: chunks.map((text, position) => ({ itemId: existing.id, position, text })) }),
        prisma.auditEntry.create({ data: { actor: input.actor, action: 'memory.updated', entityType: 'memory_item', entityId: existing.id, data: { chunks: chunks.length } } }),
      ]);
      return { itemId: existing.id, created: false, updated: true, chunks: chunks.length };
    },

    async forget(source, actor) {
      const existing = await prisma.memoryItem.findUnique({
        where: { sourceType_sourceRef: { sourceType: source.sourceType, sourceRef: clean(source.sourceRef) } },
        select: { id: true, deletedAt: true },
      });
      if (!existing) return false;
      if (existing.deletedAt) return true;
      await prisma.$transaction([
        prisma.memoryItem.update({ where: { id: existing.id }, data: { title: '(deleted)', content: '', contentHash: null, deletedAt: new Date(), updatedAt: new Date() } }),
        // Vectors go with their chunks (ON DELETE CASCADE).
        prisma.memoryChunk.deleteMany({ where: { itemId: existing.id } }),
        prisma.auditEntry.create({ data: { actor, action: 'memory.forgotten', entityType: 'memory_item', entityId: existing.id, data: { sourceType: source.sourceType, sourceRef: source.sourceRef } } }),
      ]);
      return true;
    },
  };
}
