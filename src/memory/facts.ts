/**
 * Facts that supersede instead of deleting: a new statement about a subject becomes the current
 * one and the previous one is kept, linked to its successor, as history. The same statement
 * again is not stored twice. One current fact per subject and scope is enforced by a unique
 * partial index, so two writers racing on a subject cannot both win.
 */
import { randomUUID } from 'node:crypto';
import type { Database } from '../db/database.ts';
import { AdjutantError } from '../errors.ts';
import { contentHash, itemChunks, scopeKey } from './items.ts';
import type { Fact, FactInput, FactResult, Scope } from './types.ts';

/** "The Wi-Fi password!" and "wifi password" are one subject. */
export function subjectKey(subject: string): string {
  return subject
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '')
    .slice(0, 200);
}

function statementHash(statement: string): string {
  return contentHash(statement.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase());
}

interface FactRow {
  id: string;
  title: string;
  content: string;
  author: string | null;
  occurredAt: Date | null;
  url: string | null;
  sourceRef: string;
  supersededBy: string | null;
  supersededAt: Date | null;
  contentHash: string | null;
}

const factColumns = { id: true, title: true, content: true, author: true, occurredAt: true, url: true, sourceRef: true, supersededBy: true, supersededAt: true, contentHash: true } as const;

function toFact(row: FactRow): Fact {
  return {
    itemId: row.id,
    subject: row.title,
    statement: row.content,
    saidBy: row.author,
    occurredAt: row.occurredAt,
    url: row.url,
    sourceRef: row.sourceRef,
    supersededBy: row.supersededBy,
    supersededAt: row.supersededAt,
  };
}

export interface FactStore {
  store(input: FactInput): Promise<FactResult>;
  /** Every fact on the subject, newest first: the current one, then what it replaced. */
  history(subject: string, scope?: Scope): Promise<Fact[]>;
}

export function createFactStore({ prisma }: Pick<Database, 'prisma'>): FactStore {
  async function attempt(input: FactInput): Promise<FactResult> {
    const key = subjectKey(input.subject);
    if (key === '') throw new AdjutantError('CONFLICT', 'a fact needs a subject with at least one letter or digit', { retryable: false });
    const statement = input.statement.replaceAll('\u0000', '').trim();
    if (statement === '') throw new AdjutantError('CONFLICT', 'a fact needs a statement', { retryable: false });
    const scope = scopeKey(input.scope);
    const hash = statementHash(statement);

    const sameSource = await prisma.memoryItem.findUnique({ where: { sourceType_sourceRef: { sourceType: input.sourceType, sourceRef: input.sourceRef } }, select: factColumns });
    if (sameSource) return { fact: toFact(sameSource), outcome: 'duplicate', previous: null };
    const current = await prisma.memoryItem.findFirst({
      where: { kind: 'fact', scope, subjectKey: key, supersededBy: null, deletedAt: null },
      select: factColumns,
    });
    if (current && current.contentHash === hash) return { fact: toFact(current), outcome: 'duplicate', previous: null };

    const id = randomUUID();
    const title = input.subject.trim().slice(0, 200);
    const occurredAt = input.occurredAt ?? new Date();
    const chunks = itemChunks({ kind: 'fact', title, content: statement });
    await prisma.$transaction([
      // The old one steps aside first (the unique index counts facts with no superseded_at), then
      // points at its successor once that exists. A racing writer that got there first leaves
      // this update matching nothing, and the insert then fails on the index: we read again.
      ...(current ? [prisma.memoryItem.updateMany({ where: { id: current.id, supersededAt: null }, data: { supersededAt: new Date() } })] : []),
      prisma.memoryItem.create({
        data: {
          id,
          kind: 'fact',
          title,
          content: statement,
          sourceType: input.sourceType,
          sourceRef: input.sourceRef,
          author: input.saidBy,
          occurredAt,
          url: input.url ?? null,
          scope,
          subjectKey: key,
          contentHash: hash,
        },
      }),
      ...(current ? [prisma.memoryItem.update({ where: { id: current.id }, data: { supersededBy: id } })] : []),
      prisma.memoryChunk.createMany({ data: chunks.map((text, position) => ({ itemId: id, position, text })) }),
      prisma.auditEntry.create({
        data: { actor: input.actor, action: current ? 'fact.superseded' : 'fact.stored', entityType: 'memory_item', entityId: id, data: { subject: title, ...(current ? { previous: current.id } : {}) } },
      }),
    ]);
    const stored = await prisma.memoryItem.findUniqueOrThrow({ where: { id }, select: factColumns });
    const previous = current ? await prisma.memoryItem.findUniqueOrThrow({ where: { id: current.id }, select: factColumns }) : null;
    return { fact: toFact(stored), outcome: current ? 'superseded' : 'stored', previous: previous ? toFact(previous) : null };
  }

  return {
    async store(input) {
      try {
        return await attempt(input);
      } catch (error) {
        // Another writer made a fact on this subject current between our read and write: read again.
        if ((error as { code?: string }).code === 'P2002' || /unique|duplicate key/i.test(String((error as Error).message))) return attempt(input);
        throw error;
      }
    },
    async history(subject, scope) {
      const rows = await prisma.memoryItem.findMany({
        where: { kind: 'fact', scope: scopeKey(scope), subjectKey: subjectKey(subject), deletedAt: null },
        orderBy: [{ occurredAt: 'desc' }, { createdAt: 'desc' }],
        select: factColumns,
      });
      // Current first, whatever the clocks of the sources said.
      return rows.map(toFact).sort((a, b) => Number(a.supersededBy !== null) - Number(b.supersededBy !== null));
    },
  };
}
