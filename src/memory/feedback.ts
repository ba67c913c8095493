/**
 * Learning from the team: why a teammate rejected a draft, what they changed before approving
 * it, and what they asked a redraft to do are kept, and read back as short guidance lines for
 * later drafts to the same contact or of the same kind (the email's triage category, or
 * 'forward' for a teammate's forward). The drafter sees them as <team_guidance>.
 */
import { z } from 'zod';
import type { Database } from '../db/database.ts';
import { AdjutantError } from '../errors.ts';

export const FEEDBACK_KINDS = ['rejected', 'edited', 'redraft'] as const;
export type FeedbackKind = (typeof FEEDBACK_KINDS)[number];

export interface FeedbackInput {
  kind: FeedbackKind;
  draftId: string;
  emailId: string;
  /** The draft's recipient (stored lower-cased); null when unknown. */
  counterparty: string | null;
  /** The email's triage category, or 'forward' for a teammate's forward. */
  category: string | null;
  /** The reason, the instruction, or `summariseEdit(before, after)`. Empty or null: nothing to learn, nothing stored. */
  text: string | null;
  /** The Slack user id of the teammate. */
  givenBy: string;
}

export interface FeedbackStore {
  /** Keeps what a teammate said about a draft: once per (kind, draft, text), so a Slack retry stores nothing new. */
  record(input: FeedbackInput): Promise<void>;
  /**
   * Up to `limit` (default 5) one-line lessons, newest first: those about the same contact, then
   * those about drafts of the same kind. No line twice; about 1500 characters at most in all.
   */
  guidanceFor(target: { counterparty: string | null; category: string | null }, limit?: number): Promise<string[]>;
}

/** Stored text: a Slack modal allows 3000 characters; the lesson is in the first part. */
const MAX_TEXT_CHARS = 2000;
/** What one guidance line quotes of it. */
const MAX_LINE_TEXT_CHARS = 300;
const MAX_GUIDANCE_CHARS = 1500;
const DEFAULT_LIMIT = 5;
const MAX_LIMIT = 20;
const MAX_EDIT_SUMMARY_CHARS = 300;

/** Control characters that are not line breaks or tabs (NUL included: PostgreSQL text cannot hold it). */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

const feedbackInput = z.object({
  kind: z.enum(FEEDBACK_KINDS),
  draftId: z.uuid(),
  emailId: z.uuid(),
  counterparty: z
    .string()
    .transform((address) => address.replace(CONTROL, '').trim().toLowerCase())
    .pipe(z.string().max(320))
    .nullable()
    .transform((address) => address || null),
  category: z
    .string()
    .transform((category) => category.replace(CONTROL, '').trim().toLowerCase())
    .pipe(z.string().max(64))
    .nullable()
    .transform((category) => category || null),
  text: z
    .string()
    .nullable()
    .transform((text) => clip((text ?? '').replace(CONTROL, '').trim(), MAX_TEXT_CHARS)),
  givenBy: z
    .string()
    .transform((user) => user.replace(CONTROL, '').trim())
    .pipe(z.string().min(1, 'who gave the feedback is missing').max(64)),
});

interface FeedbackRow {
  kind: FeedbackKind;
  counterparty: string | null;
  category: string | null;
  text: string;
  created_at: Date;
  same_contact: boolean;
}

export function createFeedbackStore(database: Pick<Database, 'prisma' | 'pool'>): FeedbackStore {
  const { pool } = database;
  return {
    async record(raw) {
      const parsed = feedbackInput.safeParse(raw);
      if (!parsed.success) {
        throw new AdjutantError('CONFLICT', `bad feedback: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`).join('; ')}`, { retryable: false });
      }
      const input = parsed.data;
      // A rejection without a reason teaches nothing.
      if (input.text === '') return;
      try {
        await pool.query(
          `INSERT INTO feedback (id, kind, draft_id, email_id, counterparty, category, text, given_by)
           VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (draft_id, kind, md5(text)) DO NOTHING`,
          [input.kind, input.draftId, input.emailId, input.counterparty, input.category, input.text, input.givenBy],
        );
      } catch (error) {
        if ((error as { code?: unknown }).code === '23503') {
          throw new AdjutantError('NOT_FOUND', `feedback on draft ${input.draftId}, which does not exist`, { cause: error, retryable: false });
        }
        throw error;
      }
    },

    async guidanceFor(target, limit = DEFAULT_LIMIT) {
      const wanted = Math.max(0, Math.min(MAX_LIMIT, Math.floor(limit)));
      const counterparty = target.counterparty?.trim().toLowerCase() || null;
      const category = target.category?.trim().toLowerCase() || null;
      if (wanted === 0 || (counterparty === null && category === null)) return [];
      // Each half newest first from its own index; more rows than lines, for the duplicates.
      const fetch = wanted * 3;
      const result = await pool.query<FeedbackRow>(
        `SELECT * FROM (
           (SELECT kind, counterparty, category, text, created_at, true AS same_contact FROM feedback
             WHERE counterparty = $1::text ORDER BY created_at DESC, id DESC LIMIT $3)
           UNION ALL
           (SELECT kind, counterparty, category, text, created_at, false AS same_contact FROM feedback
             WHERE category = $2::text AND counterparty IS DISTINCT FROM $1::text ORDER BY created_at DESC, id DESC LIMIT $3)
         ) AS found
         ORDER BY same_contact DESC, created_at DESC`,
        [counterparty, category, fetch],
      );
      const lines: string[] = [];
      const seen = new Set<string>();
      let total = 0;
      for (const row of result.rows) {
        const key = `${row.kind}\u0000${oneLine(row.text).toLowerCase()}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const line = guidanceLine(row);
        // A long line that does not fit leaves room for a shorter, older one.
        if (total + line.length + 1 > MAX_GUIDANCE_CHARS) continue;
        lines.push(line);
        total += line.length + 1;
        if (lines.length === wanted) break;
      }
      return lines;
    },
  };
}

/** `2026-11-20, rejected a draft to o.finch@harrow.example: "too formal, we use first names here"`. */
function guidanceLine(row: FeedbackRow): string {
  const date = row.created_at.toISOString().slice(0, 10);
  const about = row.same_contact && row.counterparty ? ` to ${row.counterparty}` : row.category ? ` (${row.category})` : '';
  const text = clip(oneLine(row.text), MAX_LINE_TEXT_CHARS);
  switch (row.kind) {
    case 'rejected':
      return `${date}, rejected a draft${about}: "${text}"`;
    case 'edited':
      // Stored as summariseEdit wrote it: `removed "…" added "…"`.
      return `${date}, edited a draft${about} before approving it: ${text}`;
    case 'redraft':
      return `${date}, asked for a redraft${row.same_contact && row.counterparty ? ` of a reply to ${row.counterparty}` : about}: "${text}"`;
  }
}

/**
 * What a teammate changed between the draft and the text they approved, for people and for the
 * drafter: `removed "Dear Mrs Finch," added "Hi Olivia,"`. Line by line; within a changed line
 * only the changed words with a little context. At most about 300 characters; null when only
 * whitespace changed.
 */
export function summariseEdit(before: string, after: string): string | null {
  const old = comparableLines(before);
  const now = comparableLines(after);
  if (old.length === now.length && old.every((line, index) => line === now[index])) return null;
  const removed: string[] = [];
  const added: string[] = [];
  for (const hunk of diffHunks(old, now)) {
    if (hunk.removed.length === hunk.added.length) {
      // A line rewritten in place: show what changed in it, not the whole paragraph.
      hunk.removed.forEach((line, index) => {
        const [was, is] = changedWords(line, hunk.added[index] ?? '');
        if (was) removed.push(was);
        if (is) added.push(is);
      });
    } else {
      removed.push(...hunk.removed);
      added.push(...hunk.added);
    }
  }
  const pieces = (lines: string[], budget: number) => `"${clip(lines.map((line) => clip(line, 100)).join(' / '), budget)}"`;
  const parts: string[] = [];
  const budget = removed.length > 0 && added.length > 0 ? Math.floor((MAX_EDIT_SUMMARY_CHARS - 20) / 2) : MAX_EDIT_SUMMARY_CHARS - 12;
  if (removed.length > 0) parts.push(`removed ${pieces(removed, budget)}`);
  if (added.length > 0) parts.push(`added ${pieces(added, budget)}`);
  return parts.length > 0 ? parts.join(' ') : null;
}

/** At most this many lines of each text are compared (a draft is at most 10,000 characters). */
const MAX_DIFF_LINES = 400;

function comparableLines(text: string): string[] {
  return text
    .replace(CONTROL, '')
    .split(/\r\n|\r|\n/)
    .map(oneLine)
    .filter((line) => line !== '')
    .slice(0, MAX_DIFF_LINES);
}

interface Hunk {
  removed: string[];
  added: string[];
}

/** The runs of lines only in `a` and only in `b` between the lines they share (longest common subsequence). */
function diffHunks(a: string[], b: string[]): Hunk[] {
  const width = b.length + 1;
  // common[i * width + j]: the longest common subsequence of a[i..] and b[j..].
  const common = new Uint16Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i -= 1) {
    for (let j = b.length - 1; j >= 0; j -= 1) {
      common[i * width + j] = a[i] === b[j] ? (common[(i + 1) * width + j + 1] ?? 0) + 1 : Math.max(common[(i + 1) * width + j] ?? 0, common[i * width + j + 1] ?? 0);
    }
  }
  const hunks: Hunk[] = [];
  let current: Hunk = { removed: [], added: [] };
  const close = () => {
    if (current.removed.length > 0 || current.added.length > 0) hunks.push(current);
    current = { removed: [], added: [] };
  };
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      close();
      i += 1;
      j += 1;
    } else if (j >= b.length || (i < a.length && (common[(i + 1) * width + j] ?? 0) >= (common[i * width + j + 1] ?? 0))) {
      current.removed.push(a[i] ?? '');
      i += 1;
    } else {
      current.added.push(b[j] ?? '');
      j += 1;
    }
  }
  close();
  return hunks;
}

const CONTEXT_WORDS = 2;

/** The words that differ between two versions of a line, with a couple of words of context either side. */
function changedWords(before: string, after: string): [string, string] {
  const a = before.split(' ');
  const b = after.split(' ');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let end = 0;
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end += 1;
  const from = Math.max(0, start - CONTEXT_WORDS);
  const excerpt = (words: string[]) => {
    const to = Math.min(words.length, words.length - end + CONTEXT_WORDS);
    if (start >= words.length - end) return ''; // nothing of this side changed (a pure insertion or deletion)
    return `${from > 0 ? '… ' : ''}${words.slice(from, to).join(' ')}${to < words.length ? ' …' : ''}`;
  };
  return [excerpt(a), excerpt(b)];
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Cut at a character boundary (never inside a surrogate pair), marked with an ellipsis. */
function clip(text: string, max: number): string {
  const characters = Array.from(text);
  return characters.length > max ? `${characters.slice(0, max - 1).join('').trimEnd()}…` : text;
}
