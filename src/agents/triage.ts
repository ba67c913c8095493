import type { MailSignals } from '../channels/email/mail-signals.ts';
import type { ModelRouter } from '../brains/router.ts';
import { loadPrompt, neutraliseTags, renderPrompt } from './prompts.ts';
import { triageByRules, triageResultSchema, type ModelTriage, type TriageCategory, type Urgency } from './triage-rules.ts';

export interface TriageEmailInput {
  teamName: string;
  emailId: string;
  signals: MailSignals;
  from: { name: string | null; address: string | null };
  subject: string;
  date: Date | null;
  text: string;
  /** They wrote to us before: list-looking mail from them may still be personal. */
  knownSender: boolean;
}

export interface Triage {
  category: TriageCategory;
  urgency: Urgency;
  summary: string;
  confidence: number;
  /** rule:<name>, model:<provider>/<model>, or default:no-model. */
  by: string;
  people: ModelTriage['people'];
  organisations: string[];
  dates: ModelTriage['dates'];
}

/** The model sees the gist; long mail costs more and sorts no better. */
const MAX_TRIAGE_CHARS = 6000;
/** Below this a local model's category is checked by the cloud model (when there is one). */
export const TRIAGE_CONFIDENCE_FLOOR = 0.6;

/**
 * Sorts an email: the headers first (triage-rules.ts: obvious mail costs no model call), then
 * the routine model with the email fenced as data. With no model configured, mail the rules
 * cannot place is treated as needing a reply, so a person sees it (never silently filed).
 */
export async function triageEmail(router: ModelRouter | null, input: TriageEmailInput): Promise<Triage> {
  const byRule = triageByRules({ signals: input.signals, fromAddress: input.from.address, subject: input.subject, text: input.text, knownSender: input.knownSender });
  if (byRule) return { category: byRule.category, urgency: byRule.urgency, summary: byRule.summary, confidence: byRule.confidence, by: `rule:${byRule.rule}`, people: [], organisations: [], dates: [] };
  if (!router) {
    return { category: 'needs_reply', urgency: 'normal', summary: oneLine(input.subject) || '(no subject)', confidence: 0.5, by: 'default:no-model', people: [], organisations: [], dates: [] };
  }
  const from = input.from.name ? `${input.from.name} <${input.from.address ?? 'unknown'}>` : (input.from.address ?? 'unknown');
  const body = input.text.length > MAX_TRIAGE_CHARS ? `${input.text.slice(0, MAX_TRIAGE_CHARS)}\n[… truncated]` : input.text;
  const answer = await router.structured(
    'triage',
    triageResultSchema,
    {
      system: renderPrompt(loadPrompt('triage'), { team_name: input.teamName }),
      messages: [
        {
          role: 'user',
          content: `<email>\nFrom: ${neutralise(from)}\nDate: ${input.date?.toUTCString() ?? 'unknown'}\nSubject: ${neutralise(input.subject)}\n\n${neutralise(body)}\n</email>`,
        },
      ],
      maxTokens: 600,
      temperature: 0,
    },
    { servedFor: { kind: 'email', id: input.emailId }, confident: (value) => value.confidence >= TRIAGE_CONFIDENCE_FLOOR },
  );
  const { value, result } = answer;
  return {
    category: value.category,
    urgency: value.urgency,
    summary: oneLine(value.summary),
    confidence: value.confidence,
    by: `model:${result.provider}/${result.model}`,
    people: value.people,
    organisations: value.organisations,
    dates: value.dates,
  };
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 199)}…` : flat;
}

function neutralise(text: string): string {
  return neutraliseTags(text, ['email']);
}
