import { randomUUID } from 'node:crypto';
import pgvector from 'pgvector';
import type { Embedder } from '../brains/types.ts';
import type { PrismaClient } from '../db/database.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { chunkText } from './chunking.ts';

/** Must match the vector(N) column in prisma/migrations. */
export const EMBEDDING_DIMENSIONS = 768;

export interface RememberInput {
  kind: 'email' | 'fact';
  title: string;
  content: string;
  sourceType: 'email' | 'slack';
  /** Email Message-ID or Slack permalink: where this came from. */
  sourceRef: string;
  author?: string | null;
  occurredAt?: Date | null;
  emailId?: string | null;
  /** Who stores it, for the audit entry written with the item. */
  actor: string;
}

export interface RememberResult {
  itemId: string;
  created: boolean;
  chunks: number;
  embedded: boolean;
  /** Why embeddings were skipped, when they were. */
  embeddingSkipped?: string;
}

export interface MemoryStore {
  remember(input: RememberInput): Promise<RememberResult>;
}

/**
 * Items with provenance, cut into chunks with a full-text vector (a generated column) and an
 * embedding when an embedder is configured. Keyed by source so a job that runs twice stores once.
 */
export function createMemoryStore(deps: { prisma: PrismaClient; embedder?: Embedder; logger: Logger }): MemoryStore {
  const { prisma, embedder, logger } = deps;
  return {
    async remember(input) {
      const existing = await prisma.memoryItem.findUnique({
        where: { sourceType_sourceRef: { sourceType: input.sourceType, sourceRef: input.sourceRef } },
        include: { _count: { select: { chunks: true } } },
      });
      if (existing) return { itemId: existing.id, created: false, chunks: existing._count.chunks, embedded: false };

      const texts = chunkText(`${input.title}\n\n${input.content}`);
      let embeddings: number[][] | null = null;
      let embeddingSkipped: string | undefined;
      if (!embedder) {
        embeddingSkipped = 'no embedding model configured (OLLAMA_HOST)';
      } else if (texts.length > 0) {
        try {
          const vectors = await embedder.embed(texts);
          const wrong = vectors.find((vector) => vector.length !== EMBEDDING_DIMENSIONS);
          if (wrong) embeddingSkipped = `embedding model ${embedder.model} returns ${wrong.length} dimensions; the database stores ${EMBEDDING_DIMENSIONS}`;
          else embeddings = vectors;
        } catch (error) {
          // Full-text search still works without embeddings; losing the item would be worse.
          embeddingSkipped = `embedding failed: ${errorMessage(error)}`;
        }
      }
      if (embeddingSkipped) logger.warn({ sourceRef: input.sourceRef, reason: embeddingSkipped }, 'storing memory item without embeddings');

      const itemId = randomUUID();
      try {
        await prisma.$transaction([
          prisma.memoryItem.create({
            data: {
              id: itemId,
              kind: input.kind,
              title: input.title,
              content: input.content,
              sourceType: input.sourceType,
              sourceRef: input.sourceRef,
              author: input.author ?? null,
              occurredAt: input.occurredAt ?? null,
              emailId: input.emailId ?? null,
            },
          }),
          ...texts.map((text, position) => {
            const vector = embeddings?.[position];
            return vector
              ? prisma.$executeRaw`INSERT INTO memory_chunks (id, item_id, position, text, embedding, embedding_model)
                  VALUES (${randomUUID()}::uuid, ${itemId}::uuid, ${position}, ${text}, ${pgvector.toSql(vector)}::vector, ${embedder?.model ?? null})`
              : prisma.$executeRaw`INSERT INTO memory_chunks (id, item_id, position, text) VALUES (${randomUUID()}::uuid, ${itemId}::uuid, ${position}, ${text})`;
          }),
          // Written with the item it describes: a crash cannot leave one without the other.
          prisma.auditEntry.create({
            data: {
              actor: input.actor,
              action: 'memory.stored',
              entityType: input.emailId ? 'email' : 'memory_item',
              entityId: input.emailId ?? itemId,
              data: { itemId, chunks: texts.length, embedded: embeddings !== null, ...(embeddingSkipped ? { embeddingSkipped } : {}) },
            },
          }),
        ]);
      } catch (error) {
        // Another worker stored the same source between our check and insert: theirs stands.
        const raced = await prisma.memoryItem.findUnique({
          where: { sourceType_sourceRef: { sourceType: input.sourceType, sourceRef: input.sourceRef } },
        });
        if (raced) return { itemId: raced.id, created: false, chunks: texts.length, embedded: false };
        throw error;
      }
      return { itemId, created: true, chunks: texts.length, embedded: embeddings !== null, ...(embeddingSkipped ? { embeddingSkipped } : {}) };
    },
  };
}
