/**
 * The rule half of mail triage: decides the mail whose headers already say what it is (spam
 * verdicts, bounces, auto-replies, list and bulk mail, no-reply senders) without a model call,
 * and returns null for everything else, meaning a model should look. When in doubt a rule
 * returns null: a wrong "newsletter" hides a person's mail, a model call only costs money.
 *
 * Also the contract for the model half: `triageResultSchema` is what a model's triage answer
 * must parse as before anything trusts it.
 */
import { z } from 'zod';
import type { MailSignals } from '../channels/email/mail-signals.ts';

export const TRIAGE_CATEGORIES = ['needs_reply', 'fyi', 'task', 'newsletter', 'automated', 'spam'] as const;
export type TriageCategory = (typeof TRIAGE_CATEGORIES)[number];

export const URGENCIES = ['low', 'normal', 'high'] as const;
export type Urgency = (typeof URGENCIES)[number];

export interface TriageInput {
  signals: MailSignals;
  /**
   * Not read by the rules: the signals come from the message's own headers, while this may be
   * the original sender of a forward, and a teammate forwarding a no-reply notice wants it
   * handled. Part of the input the model half takes too.
   */
  fromAddress: string | null;
  /** As parsed (decoded); the summary is built from it. */
  subject: string;
  /** Not read by the rules (headers decide them); part of the input the model half takes too. */
  text: string;
  /** The sender has written to us before, or is a contact: their list-looking mail may still be personal. */
  knownSender: boolean;
}

export interface RuleTriage {
  category: TriageCategory;
  urgency: Urgency;
  /** One line: a short label and the subject, e.g. "Newsletter: Spring sale". */
  summary: string;
  /** 0.9–0.99: how unambiguous the deciding signal is (see CONFIDENCE). */
  confidence: number;
  /** Which rule decided: 'spam-flag', 'bounce', 'auto-reply', 'auto-submitted', 'list-mail' or 'no-reply-sender'. */
  rule: TriageRuleName;
}

export type TriageRuleName = 'spam-flag' | 'bounce' | 'auto-reply' | 'auto-submitted' | 'list-mail' | 'no-reply-sender';

/**
 * How far each signal can be trusted. Headers written by protocol (a delivery-status report,
 * an RFC 3834 auto-reply marker, List-Id, Precedence) are near certain; a spam verdict is the
 * receiving filter's guess and has false positives; List-Unsubscribe or an ESP header alone
 * is also added by CRMs to one-to-one mail; a no-reply local part is only a naming habit.
 */
const CONFIDENCE = {
  bounce: 0.99,
  autoReply: 0.97,
  autoSubmitted: 0.95,
  listHeaders: 0.95,
  spamFlag: 0.95,
  unsubscribeOnly: 0.9,
  noReplySender: 0.9,
} as const;

const MAX_SUBJECT_CHARS = 120;

/** Auto-Submitted keywords (RFC 3834, RFC 5436) that mean no person wrote the message. */
const AUTOMATED_KEYWORDS = new Set(['auto-replied', 'auto-generated', 'auto-notified']);

export function triageByRules(input: TriageInput): RuleTriage | null {
  const { signals } = input;
  const decide = (category: TriageCategory, urgency: Urgency, label: string, confidence: number, rule: TriageRuleName): RuleTriage => ({
    category,
    urgency,
    summary: `${label}: ${summarySubject(input.subject)}`,
    confidence,
    rule,
  });

  if (signals.spamFlag) return decide('spam', 'low', 'Spam', CONFIDENCE.spamFlag, 'spam-flag');

  // Normal, not low: a bounce usually means a reply of ours never arrived, which someone
  // should know, though nobody answers the notice itself.
  if (signals.bounce) return decide('automated', 'normal', 'Delivery failure notice', CONFIDENCE.bounce, 'bounce');

  // Precedence: auto_reply is the older vacation programs' marker for the same thing.
  if (signals.autoReply || signals.precedence === 'auto_reply' || signals.autoSubmitted === 'auto-replied') {
    return decide('automated', 'low', 'Auto-reply', CONFIDENCE.autoReply, 'auto-reply');
  }
  if (signals.autoSubmitted !== null && AUTOMATED_KEYWORDS.has(signals.autoSubmitted)) {
    return decide('automated', 'low', 'Automated', CONFIDENCE.autoSubmitted, 'auto-submitted');
  }

  const listPrecedence = signals.precedence === 'bulk' || signals.precedence === 'list' || signals.precedence === 'junk';
  const listHeaders = listPrecedence || signals.listId !== null;
  if (listHeaders || signals.listUnsubscribe || signals.bulkSender) {
    // A known person's mail sent through a CRM or with an unsubscribe footer is still theirs:
    // only protocol list headers outweigh knowing the sender.
    if (input.knownSender && !listHeaders) return null;
    const confidence = listHeaders ? CONFIDENCE.listHeaders : CONFIDENCE.unsubscribeOnly;
    return decide('newsletter', 'low', newsletterLabel(signals), confidence, 'list-mail');
  }

  if (signals.noReplySender) return decide('automated', 'low', 'Automated', CONFIDENCE.noReplySender, 'no-reply-sender');
  return null;
}

/**
 * "Newsletter" for marketing (bulk precedence or an ESP's headers), "Mailing list" for list
 * traffic without them (GitHub, discussion lists): both are category newsletter, but the
 * label is what a person reads.
 */
function newsletterLabel(signals: MailSignals): string {
  const marketing = signals.precedence === 'bulk' || signals.precedence === 'junk' || signals.bulkSender;
  if (!marketing && (signals.listId !== null || signals.precedence === 'list')) return 'Mailing list';
  return 'Newsletter';
}

/** Trimmed, whitespace (and control characters) collapsed, at most 120 characters. */
function summarySubject(subject: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is collapsed
  const clean = subject.replace(/[\s\u0000-\u001f\u007f]+/g, ' ').trim();
  if (clean === '') return '(no subject)';
  const chars = Array.from(clean);
  if (chars.length <= MAX_SUBJECT_CHARS) return clean;
  return `${chars.slice(0, MAX_SUBJECT_CHARS - 1).join('').trimEnd()}…`;
}

/** Bounds that keep a model's answer storable and showable; a longer one is refused, not cut. */
const MAX_TEXT = 200;
const MAX_ADDRESS = 320;

export const triageResultSchema = z.object({
  category: z.enum(TRIAGE_CATEGORIES),
  urgency: z.enum(URGENCIES),
  summary: z.string().trim().min(1).max(MAX_TEXT),
  people: z
    .array(
      z.object({
        name: z.string().max(MAX_TEXT).optional(),
        address: z.string().max(MAX_ADDRESS).optional(),
        organisation: z.string().max(MAX_TEXT).optional(),
      }),
    )
    .max(20),
  organisations: z.array(z.string().max(MAX_TEXT)).max(20),
  dates: z
    .array(
      z.object({
        /** YYYY-MM-DD and a real calendar day (z.iso.date rejects 2025-02-30). */
        date: z.iso.date(),
        what: z.string().max(MAX_TEXT),
        kind: z.enum(['deadline', 'promised', 'meeting', 'other']),
      }),
    )
    .max(10),
  confidence: z.number().min(0).max(1),
});

export type ModelTriage = z.infer<typeof triageResultSchema>;
