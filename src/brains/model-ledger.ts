import type { CallLedger } from './types.ts';
import type { PrismaClient } from '../db/database.ts';

/** The cost ledger: one row per model call, ok or failed. */
export function createModelLedger(prisma: PrismaClient): CallLedger {
  return {
    async record(call) {
      await prisma.modelCall.create({
        data: {
          provider: call.provider,
          model: call.model,
          tier: call.tier,
          purpose: call.use,
          servedKind: call.servedFor.kind,
          servedId: call.servedFor.id,
          inputTokens: call.inputTokens,
          outputTokens: call.outputTokens,
          costUsd: call.costUsd,
          latencyMs: Math.round(call.latencyMs),
          ok: call.ok,
          error: call.error ?? null,
        },
      });
    },
  };
}
