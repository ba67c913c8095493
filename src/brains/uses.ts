import type { Tier } from './types.ts';

/**
 * Every job a language model does for us, each with its tier, in one place. Routine work
 * (reading, sorting, summing up) goes to the local model first; hard work (writing what a
 * customer or a teammate will read) goes to the cloud model first when one is configured.
 * There are no free-text purposes: the ledger's `purpose` column holds one of these names.
 */
export const MODEL_USES = {
  /** Sort an email: category, urgency, summary, people, dates. */
  triage: 'routine',
  /** Pull structured facts out of text. */
  extract: 'routine',
  /** A contact's rolling summary. */
  summarise: 'routine',
  /** A reply to an email, grounded in memory. */
  draft: 'hard',
  /** A new version of a draft after a teammate's instruction. */
  redraft: 'hard',
  /** An answer to a teammate's question from memory. */
  answer: 'hard',
  /** The morning briefing's opening paragraph. */
  brief: 'routine',
} as const satisfies Record<string, Tier>;

export type ModelUse = keyof typeof MODEL_USES;

export function tierOf(use: ModelUse): Tier {
  return MODEL_USES[use];
}
