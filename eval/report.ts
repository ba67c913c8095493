/**
 * The eval's bookkeeping: what happened to each labelled email, the figures drawn from that and
 * the ledger, and the table printed at the end. No IO and no models here (run.ts does that).
 */
import type { TriageCategory, Urgency } from '../src/agents/triage-rules.ts';
import { TRIAGE_CATEGORIES } from '../src/agents/triage-rules.ts';
import type { ModelCallRecord, Provider } from '../src/brains/types.ts';

export type Stage = 'parse' | 'triage' | 'draft';

/** The other model was asked: the first one failed, gave invalid output twice, or was unsure. */
export interface Escalation {
  file: string;
  use: string;
  from: Provider;
  to: Provider;
  reason: 'unsure' | 'failed';
}

export interface EmailOutcome {
  file: string;
  label: { category: TriageCategory; urgency: Urgency; mustMention: string[] };
  triage: {
    category: TriageCategory;
    urgency: Urgency;
    confidence: number;
    /** rule:<name> or model:<provider>/<model>. */
    by: string;
    summary: string;
  } | null;
  draft: {
    body: string;
    provider: string;
    model: string;
    confidence: number;
    mentioned: string[];
    missing: string[];
  } | null;
  /** A draft was wanted but not attempted (no sender address, --no-draft). */
  draftSkipped: string | null;
  failures: { stage: Stage; error: string }[];
  escalations: Escalation[];
  calls: number;
  costUsd: number;
}

export interface EvalSummary {
  emails: number;
  triage: {
    triaged: number;
    failed: number;
    correct: number;
    accuracy: number | null;
    urgencyCorrect: number;
    urgencyAccuracy: number | null;
    /** Decided by the header rules: no model call. */
    byRule: { count: number; correct: number; share: number | null };
    byModel: { count: number; correct: number };
    perCategory: Record<TriageCategory, { labelled: number; predicted: number; correct: number; recall: number | null; precision: number | null }>;
    /** label → predicted, most frequent first. */
    confusion: { label: TriageCategory; predicted: TriageCategory; count: number; files: string[] }[];
  };
  drafting: {
    enabled: boolean;
    /** Labelled or predicted needs_reply. */
    wanted: number;
    drafted: number;
    failed: number;
    skipped: number;
    terms: number;
    termsMentioned: number;
    mustMentionHitRate: number | null;
    /** Drafts for mail labelled needs_reply that mention every term. */
    completeDrafts: number;
    labelledDrafts: number;
    /** Drafts written because triage said needs_reply where the label says otherwise. */
    unneededDrafts: number;
  };
  calls: {
    total: number;
    ok: number;
    failed: number;
    byProvider: Partial<Record<Provider, { ok: number; failed: number; costUsd: number; meanLatencyMs: number | null }>>;
    byUse: Record<string, Partial<Record<Provider, number>>>;
    /** Answered (ok) calls served by the local model. */
    localShare: number | null;
  };
  costUsd: number;
  costPerEmailUsd: number | null;
  escalations: Escalation[];
  failures: { file: string; stage: Stage; error: string }[];
}

/** Case-insensitive substring match, whitespace (including no-break spaces) folded. */
export function mentions(body: string, term: string): boolean {
  const fold = (text: string) => text.normalize('NFC').toLowerCase().replace(/\s+/g, ' ');
  return fold(body).includes(fold(term).trim());
}

/** Which of `calls` (the rows one step added to the ledger) show the other model being asked. */
export function escalationOf(file: string, use: string, calls: ModelCallRecord[]): Escalation | null {
  const providers = [...new Set(calls.map((call) => call.provider))];
  const from = providers[0];
  const to = providers[providers.length - 1];
  if (providers.length < 2 || from === undefined || to === undefined) return null;
  const firstProviderLast = calls.filter((call) => call.provider === from).at(-1);
  return { file, use, from, to, reason: firstProviderLast?.ok ? 'unsure' : 'failed' };
}

const ratio = (part: number, whole: number): number | null => (whole === 0 ? null : part / whole);

export function summarise(outcomes: EmailOutcome[], calls: ModelCallRecord[], options: { drafting: boolean }): EvalSummary {
  const triaged = outcomes.filter((outcome) => outcome.triage !== null);
  const isCorrect = (outcome: EmailOutcome) => outcome.triage?.category === outcome.label.category;
  const correct = triaged.filter(isCorrect).length;
  const urgencyCorrect = triaged.filter((outcome) => outcome.triage?.urgency === outcome.label.urgency).length;
  const ruled = triaged.filter((outcome) => outcome.triage?.by.startsWith('rule:'));
  const modelled = triaged.filter((outcome) => !outcome.triage?.by.startsWith('rule:'));

  const perCategory = Object.fromEntries(
    TRIAGE_CATEGORIES.map((category) => {
      const labelled = triaged.filter((outcome) => outcome.label.category === category).length;
      const predicted = triaged.filter((outcome) => outcome.triage?.category === category).length;
      const hits = triaged.filter((outcome) => outcome.label.category === category && isCorrect(outcome)).length;
      return [category, { labelled, predicted, correct: hits, recall: ratio(hits, labelled), precision: ratio(hits, predicted) }];
    }),
  ) as EvalSummary['triage']['perCategory'];

  const confusionMap = new Map<string, EvalSummary['triage']['confusion'][number]>();
  for (const outcome of triaged) {
    const predicted = outcome.triage?.category;
    if (predicted === undefined || predicted === outcome.label.category) continue;
    const key = `${outcome.label.category}>${predicted}`;
    const entry = confusionMap.get(key) ?? { label: outcome.label.category, predicted, count: 0, files: [] };
    entry.count += 1;
    entry.files.push(outcome.file);
    confusionMap.set(key, entry);
  }
  const confusion = [...confusionMap.values()].sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));

  const wantsDraft = (outcome: EmailOutcome) => outcome.label.category === 'needs_reply' || outcome.triage?.category === 'needs_reply';
  const wanted = outcomes.filter(wantsDraft);
  const drafted = wanted.filter((outcome) => outcome.draft !== null);
  const labelledDrafts = drafted.filter((outcome) => outcome.label.category === 'needs_reply');
  const terms = labelledDrafts.reduce((sum, outcome) => sum + outcome.label.mustMention.length, 0);
  const termsMentioned = labelledDrafts.reduce((sum, outcome) => sum + (outcome.draft?.mentioned.length ?? 0), 0);

  const answered = calls.filter((call) => call.ok);
  const byProvider: EvalSummary['calls']['byProvider'] = {};
  for (const provider of ['ollama', 'anthropic'] as const) {
    const rows = calls.filter((call) => call.provider === provider);
    if (rows.length === 0) continue;
    const ok = rows.filter((call) => call.ok);
    byProvider[provider] = {
      ok: ok.length,
      failed: rows.length - ok.length,
      costUsd: rows.reduce((sum, call) => sum + call.costUsd, 0),
      meanLatencyMs: ok.length === 0 ? null : Math.round(ok.reduce((sum, call) => sum + call.latencyMs, 0) / ok.length),
    };
  }
  const byUse: EvalSummary['calls']['byUse'] = {};
  for (const call of answered) {
    const row = (byUse[call.use] ??= {});
    row[call.provider] = (row[call.provider] ?? 0) + 1;
  }
  const costUsd = calls.reduce((sum, call) => sum + call.costUsd, 0);

  return {
    emails: outcomes.length,
    triage: {
      triaged: triaged.length,
      failed: outcomes.filter((outcome) => outcome.failures.some((failure) => failure.stage !== 'draft')).length,
      correct,
      accuracy: ratio(correct, triaged.length),
      urgencyCorrect,
      urgencyAccuracy: ratio(urgencyCorrect, triaged.length),
      byRule: { count: ruled.length, correct: ruled.filter(isCorrect).length, share: ratio(ruled.length, triaged.length) },
      byModel: { count: modelled.length, correct: modelled.filter(isCorrect).length },
      perCategory,
      confusion,
    },
    drafting: {
      enabled: options.drafting,
      wanted: wanted.length,
      drafted: drafted.length,
      failed: wanted.filter((outcome) => outcome.failures.some((failure) => failure.stage === 'draft')).length,
      skipped: wanted.filter((outcome) => outcome.draftSkipped !== null).length,
      terms,
      termsMentioned,
      mustMentionHitRate: ratio(termsMentioned, terms),
      completeDrafts: labelledDrafts.filter((outcome) => (outcome.draft?.missing.length ?? 0) === 0).length,
      labelledDrafts: labelledDrafts.length,
      unneededDrafts: drafted.length - labelledDrafts.length,
    },
    calls: {
      total: calls.length,
      ok: answered.length,
      failed: calls.length - answered.length,
      byProvider,
      byUse,
      localShare: ratio(answered.filter((call) => call.provider === 'ollama').length, answered.length),
    },
    costUsd,
    costPerEmailUsd: ratio(costUsd, outcomes.length),
    escalations: outcomes.flatMap((outcome) => outcome.escalations),
    failures: outcomes.flatMap((outcome) => outcome.failures.map((failure) => ({ file: outcome.file, ...failure }))),
  };
}

const percent = (value: number | null): string => (value === null ? '–' : `${(value * 100).toFixed(1)}%`);
const usd = (value: number | null): string => (value === null ? '–' : `$${value.toFixed(4)}`);
const fraction = (part: number, whole: number): string => `${part}/${whole}`;

/** The first column (and any listed in `left`) left-aligned, the others (numbers) right-aligned. */
function table(header: string[], rows: string[][], options: { indent?: string; left?: number[] } = {}): string[] {
  const indent = options.indent ?? '  ';
  const left = new Set([0, ...(options.left ?? [])]);
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) =>
    indent +
    cells
      .map((cell, column) => (left.has(column) ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function formatReport(summary: EvalSummary, context: { models: string[]; resultsPath: string }): string {
  const { triage, drafting, calls } = summary;
  const out: string[] = [];
  out.push(`Adjutant eval: ${summary.emails} emails`);
  for (const model of context.models) out.push(`  ${model}`);

  out.push('', 'TRIAGE');
  out.push(
    ...table(
      ['', 'right', 'of', '%'],
      [
        ['category accuracy', String(triage.correct), String(triage.triaged), percent(triage.accuracy)],
        ['urgency accuracy', String(triage.urgencyCorrect), String(triage.triaged), percent(triage.urgencyAccuracy)],
        ['decided by rules (no model call)', String(triage.byRule.correct), String(triage.byRule.count), percent(triage.byRule.count === 0 ? null : triage.byRule.correct / triage.byRule.count)],
        ['decided by a model', String(triage.byModel.correct), String(triage.byModel.count), percent(triage.byModel.count === 0 ? null : triage.byModel.correct / triage.byModel.count)],
      ],
    ),
  );
  out.push(`  rule-decided share: ${fraction(triage.byRule.count, triage.triaged)} (${percent(triage.byRule.share)})${triage.failed > 0 ? `; ${triage.failed} email(s) not triaged (see FAILURES)` : ''}`);
  out.push('');
  out.push(
    ...table(
      ['category', 'labelled', 'predicted', 'correct', 'recall', 'precision'],
      TRIAGE_CATEGORIES.map((category) => {
        const row = triage.perCategory[category];
        return [category, String(row.labelled), String(row.predicted), String(row.correct), percent(row.recall), percent(row.precision)];
      }),
    ),
  );
  if (triage.confusion.length > 0) {
    out.push('', '  confusion (label → predicted)');
    out.push(...table(['pair', 'n', 'files'], triage.confusion.map((pair) => [`${pair.label} → ${pair.predicted}`, String(pair.count), pair.files.join(', ')]), { indent: '    ', left: [2] }));
  }

  out.push('', 'DRAFTING');
  if (!drafting.enabled) {
    out.push('  skipped (--no-draft)');
  } else {
    out.push(`  drafts written: ${fraction(drafting.drafted, drafting.wanted)} wanted (labelled or predicted needs_reply)${drafting.failed > 0 ? `, ${drafting.failed} failed` : ''}${drafting.skipped > 0 ? `, ${drafting.skipped} skipped` : ''}`);
    out.push(`  mustMention hit rate: ${fraction(drafting.termsMentioned, drafting.terms)} terms (${percent(drafting.mustMentionHitRate)}); ${fraction(drafting.completeDrafts, drafting.labelledDrafts)} drafts mention every term`);
    out.push(`  drafts for mail not labelled needs_reply: ${drafting.unneededDrafts}`);
  }

  out.push('', 'MODEL CALLS');
  const providers = Object.entries(calls.byProvider);
  if (providers.length === 0) {
    out.push('  none');
  } else {
    out.push(
      ...table(
        ['provider', 'ok', 'failed', 'cost', 'mean latency'],
        providers.map(([provider, row]) => [provider, String(row.ok), String(row.failed), usd(row.costUsd), row.meanLatencyMs === null ? '–' : `${row.meanLatencyMs} ms`]),
      ),
    );
    const uses = Object.entries(calls.byUse);
    if (uses.length > 0) {
      out.push('');
      out.push(...table(['use (answered)', 'ollama', 'anthropic'], uses.map(([use, row]) => [use, String(row.ollama ?? 0), String(row.anthropic ?? 0)])));
    }
  }
  out.push('');
  out.push(`  local share: ${percent(calls.localShare)} of ${calls.ok} answered calls (${calls.failed} failed or invalid attempts not counted)`);
  out.push(`  total cost: ${usd(summary.costUsd)}   per handled email: ${usd(summary.costPerEmailUsd)}`);
  out.push(`  escalations: ${summary.escalations.length}`);
  if (summary.escalations.length > 0) {
    const rows = summary.escalations.map((escalation) => [escalation.file, escalation.use, `${escalation.from} → ${escalation.to}`, `${escalation.from} ${escalation.reason}`]);
    out.push(...table(['file', 'use', 'asked', 'because'], rows, { indent: '    ', left: [1, 2, 3] }));
  }

  out.push('', `FAILURES: ${summary.failures.length}`);
  const width = Math.max(0, ...summary.failures.map((failure) => failure.file.length));
  for (const failure of summary.failures) out.push(`  ${failure.file.padEnd(width)}  ${failure.stage}: ${clip(failure.error, 160)}`);

  out.push('', `Details: ${context.resultsPath}`);
  return out.join('\n');
}
