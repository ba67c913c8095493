import { z } from 'zod';
import type { ModelRouter } from '../brains/router.ts';
import type { ToolRunner } from '../brains/tool-use.ts';
import type { Memory } from '../memory/memory.ts';
import type { SearchHit } from '../memory/types.ts';
import { loadPrompt, neutraliseTags, renderPrompt, withToolsNote } from './prompts.ts';
import { withoutHiddenCharacters } from './visible-text.ts';

/** A teammate's question (`/adjutant ask`, an @mention, a follow-up in the answer's thread). */
export interface AskInput {
  question: string;
  /** The channel it was asked in: private-channel items are offered only to asks made there. */
  askedIn: { channel: string } | null;
  /** The thread's earlier turns, oldest first, without the question itself. */
  history: { role: 'user' | 'assistant'; text: string }[];
  /** Written on the model call's ledger row. */
  questionId: string;
  now: Date;
}

/** One numbered source of an answer: where a person opens it again. */
export interface Citation {
  n: number;
  title: string;
  kind: string;
  /** The email's card or the Slack permalink, when known. */
  url: string | null;
  sourceRef: string;
  occurredAt: Date | null;
  author: string | null;
}

export type Answer =
  /** Written by a model from the retrieved items only, with [n] markers for `citations`. */
  | { kind: 'answer'; text: string; citations: Citation[]; provider: string; model: string }
  /** Memory had nothing relevant: said plainly, nothing guessed. */
  | { kind: 'nothing'; text: string }
  /** No model: the best search results, each a numbered citation with its snippet. */
  | { kind: 'results'; text: string; citations: Citation[]; notice: string | null };

export interface AnswererDeps {
  /** null when no model is configured: the best search results are returned instead. */
  router: ModelRouter | null;
  memory: Pick<Memory, 'search'>;
  /** The team's other systems (external MCP tools), when any are configured. */
  tools?: ToolRunner;
}

/** Items retrieved for the model. */
const SEARCH_LIMIT = 8;
/** Results listed when there is no model. */
const RESULTS_LISTED = 5;
/** The memory's limit on search text. */
const MAX_SEARCH_CHARS = 2000;
const MAX_SNIPPET_FOR_MODEL = 800;
const MAX_QUESTION_CHARS = 4000;
/** The thread's most recent turns are context; older ones are left out. */
const MAX_TURNS = 10;
const MAX_TURN_CHARS = 1500;
const MAX_ANSWER_CHARS = 3000;
/** A Slack message stays readable (and under the section limits) below this. */
const MAX_MESSAGE_CHARS = 3400;
const MAX_SOURCES_CHARS = 1400;

const FENCE_TAGS = ['memory', 'item', 'conversation', 'teammate_question'];

const modelAnswer = z.object({
  answer: z
    .string()
    .nullish()
    .transform((text) => (text == null ? null : withoutHiddenCharacters(text).trim() || null))
    .pipe(z.string().max(MAX_ANSWER_CHARS, `the answer is over ${MAX_ANSWER_CHARS} characters: shorten it`).nullable()),
  cited: z.array(z.number()).max(50).default([]),
  confident: z.boolean(),
});
type ModelAnswer = z.infer<typeof modelAnswer>;

/**
 * Answers a teammate's question from memory. The question (with, for a follow-up, the previous
 * question's words, so "and when did it arrive?" still finds its topic) is searched; with nothing
 * found, that is said and no model is called. Without a model the best results are listed.
 * Otherwise the model sees the retrieved items numbered and fenced as untrusted data, the
 * thread's earlier turns as context, and answers from the items only, citing them by number, or
 * says memory does not hold the answer. Numbers it was not shown are dropped, and an answer it
 * is unsure of, or that cites nothing, says it is unsure.
 */
export async function answerQuestion(deps: AnswererDeps, input: AskInput): Promise<Answer> {
  const question = withoutHiddenCharacters(input.question).replaceAll('\u0000', '').trim();
  if (question === '') return { kind: 'nothing', text: 'Ask me a question and I will look for the answer in memory.' };

  const response = await deps.memory.search({ text: searchText(question, input.history), limit: SEARCH_LIMIT, askedIn: input.askedIn });
  const hits = response.hits.slice(0, SEARCH_LIMIT);
  const about = `“${oneLine(question, 200)}”`;
  if (hits.length === 0) {
    const textOnly = response.notice ? ` (${response.notice})` : '';
    return { kind: 'nothing', text: `I found nothing in memory about ${about}.${textOnly}` };
  }

  if (!deps.router) {
    const listed = hits.slice(0, RESULTS_LISTED);
    const lines = listed.map((hit, index) => `[${index + 1}] ${oneLine(hit.title || '(untitled)', 120)}: ${oneLine(snippetOf(hit), 300)}`);
    return { kind: 'results', text: [`The best matches in memory for ${about}:`, ...lines].join('\n'), citations: listed.map((hit, index) => citationOf(hit, index + 1)), notice: response.notice };
  }

  const shown = hits.map((hit, index) => citationOf(hit, index + 1));
  const { value, result } = await deps.router.structured(
    'answer',
    modelAnswer,
    {
      system: withToolsNote(renderPrompt(loadPrompt('answer'), { today: describeDay(input.now) }), (deps.tools?.definitions.length ?? 0) > 0),
      messages: [{ role: 'user', content: userTurn(clip(question, MAX_QUESTION_CHARS), input.history, hits) }],
      maxTokens: 1200,
      temperature: 0.2,
    },
    {
      servedFor: { kind: 'question', id: input.questionId },
      ...(deps.tools ? { tools: deps.tools } : {}),
      // A local model's answer it is not sure of is asked of the cloud model too, when there is one.
      confident: (answer) => answer.answer === null || answer.confident,
    },
  );
  return fromModel(value, shown, about, { provider: result.provider, model: result.model });
}

function fromModel(value: ModelAnswer, shown: Citation[], about: string, by: { provider: string; model: string }): Answer {
  if (value.answer === null) return { kind: 'nothing', text: `I found nothing in memory that answers ${about}.` };
  const valid = new Set(shown.map((citation) => citation.n));
  // A number the model was not shown is no source: its marker goes, and so does the citation.
  const text = keepMarkers(value.answer, valid);
  if (text === '') return { kind: 'nothing', text: `I found nothing in memory that answers ${about}.` };
  const numbers = [...new Set([...markersIn(text), ...value.cited.filter((n) => Number.isInteger(n) && valid.has(n))])];
  const citations = numbers.flatMap((n) => shown.filter((citation) => citation.n === n));
  const unsure = !value.confident || citations.length === 0;
  const said = unsure && !SAYS_UNSURE.test(text) ? `${citations.length === 0 ? '(Not sure: no item in memory states this.)' : '(Not sure: memory does not say this clearly.)'} ${text}` : text;
  return { kind: 'answer', text: said, citations, provider: by.provider, model: by.model };
}

const SAYS_UNSURE = /\b(not sure|unsure|uncertain|not certain|unclear|not clear|(?:does|do|did)(?: not|n['’]t) (?:say|state|mention|show|tell))\b/i;

/** `[2]`, `[2, 5]`, `[2][5]`: the model's citation markers. */
const MARKER = /\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g;

function markersIn(text: string): number[] {
  return [...text.matchAll(MARKER)].flatMap((match) => (match[1] ?? '').split(',').map((n) => Number(n.trim())));
}

function keepMarkers(text: string, valid: Set<number>): string {
  return text
    .replace(/\s*\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g, (whole, list: string) => {
      const kept = list.split(',').map((n) => Number(n.trim())).filter((n) => valid.has(n));
      if (kept.length === 0) return '';
      return `${whole.slice(0, whole.indexOf('['))}[${kept.join(', ')}]`;
    })
    .trim();
}

/** The question, and for a follow-up the previous question's words: "and when?" alone finds nothing. */
function searchText(question: string, history: AskInput['history']): string {
  const asked = history.filter((turn) => turn.role === 'user').map((turn) => turn.text.trim());
  // The caller may have included the question as the last turn.
  if (asked.at(-1) === question) asked.pop();
  const previous = asked.at(-1);
  const text = previous ? `${question}\n${withoutHiddenCharacters(previous)}` : question;
  return text.replaceAll('\u0000', '').slice(0, MAX_SEARCH_CHARS);
}

function userTurn(question: string, history: AskInput['history'], hits: SearchHit[]): string {
  const turns = history.filter((turn) => turn.text.trim() !== '');
  if (turns.at(-1)?.role === 'user' && turns.at(-1)?.text.trim() === question) turns.pop();
  const conversation = turns
    .slice(-MAX_TURNS)
    .map((turn) => `${turn.role === 'user' ? 'Teammate' : 'Adjutant'}: ${neutralise(clip(withoutHiddenCharacters(turn.text), MAX_TURN_CHARS))}`)
    .join('\n\n');
  const items = hits.map((hit, index) => {
    const n = index + 1;
    const when = hit.occurredAt ? hit.occurredAt.toISOString().slice(0, 10) : 'undated';
    const who = hit.author ? `, from ${neutralise(oneLine(hit.author, 200))}` : '';
    const superseded = hit.supersededBy ? ' (superseded by a newer fact)' : '';
    const snippet = neutralise(clip(snippetOf(hit).replace(/[«»]/g, ''), MAX_SNIPPET_FOR_MODEL));
    return `<item n="${n}">\n[${n}] ${kindName(hit.kind)}, ${when}${who}${superseded}: ${neutralise(oneLine(hit.title || '(untitled)', 300))}\n${snippet}\n</item>`;
  });
  return [
    `<conversation>\n${conversation || '(none: this question starts the thread)'}\n</conversation>`,
    `<memory>\n${items.join('\n\n')}\n</memory>`,
    `<teammate_question>\n${neutralise(question)}\n</teammate_question>`,
    'Answer the question now, as the JSON object.',
  ].join('\n\n');
}

/**
 * The snippet without the title its passage starts with (the title is shown already). Memory
 * strips it only when no word of it is highlighted, and the full-text headline drops a leading '#'.
 */
function snippetOf(hit: SearchHit): string {
  const snippet = hit.snippet.trim();
  for (const title of [hit.title.trim(), hit.title.trim().replace(/^#+/, '')]) {
    if (title === '') continue;
    let at = 0;
    let matched = 0;
    while (at < snippet.length && matched < title.length) {
      const character = snippet[at];
      if (character === '«' || character === '»') at += 1;
      else if (character === title[matched]) [at, matched] = [at + 1, matched + 1];
      else break;
    }
    if (matched < title.length) continue;
    while (snippet[at] === '»') at += 1;
    const rest = snippet.slice(at).replace(/^\s*[:–—-]\s*/, '').trim();
    if (rest !== '') return rest;
  }
  return snippet;
}

function citationOf(hit: SearchHit, n: number): Citation {
  return { n, title: hit.title, kind: hit.kind, url: hit.url, sourceRef: hit.sourceRef, occurredAt: hit.occurredAt, author: hit.author };
}

function kindName(kind: string): string {
  return kind === 'slack_message' ? 'Slack message' : kind;
}

function describeDay(now: Date): string {
  const weekday = now.toLocaleDateString('en-GB', { weekday: 'long', timeZone: 'UTC' });
  return `${weekday} ${now.toISOString().slice(0, 10)}`;
}

function oneLine(text: string, max: number): string {
  return clip(text.replace(/\s+/g, ' '), max);
}

function clip(text: string, max: number): string {
  const trimmed = text.trim();
  return trimmed.length > max ? `${trimmed.slice(0, max).trimEnd()}…` : trimmed;
}

/** Untrusted text must not be able to close one of our sections and speak outside it. */
function neutralise(text: string): string {
  return neutraliseTags(text, FENCE_TAGS);
}

/**
 * The answer as Slack mrkdwn: its [n] markers link to their sources where a link exists, then a
 * "Sources" list. Everything from memory or the model is escaped (&, <, >), so text from an email
 * cannot ping a channel or forge a link; the message stays under MAX_MESSAGE_CHARS.
 */
export function formatAnswer(answer: Answer): string {
  if (answer.kind === 'nothing') return cutSafely(escapeMrkdwn(answer.text), MAX_MESSAGE_CHARS);
  const byNumber = new Map(answer.citations.map((citation) => [citation.n, citation]));
  const sources = sourcesList(answer.citations);
  const notice = answer.kind === 'results' && answer.notice ? `_(${escapeMrkdwn(oneLine(answer.notice, 300))})_` : '';
  const room = MAX_MESSAGE_CHARS - sources.length - notice.length - 4;
  const linked = escapeMrkdwn(answer.text).replace(MARKER, (whole, list: string) => {
    const numbers = list.split(',').map((n) => Number(n.trim()));
    if (!numbers.some((n) => byNumber.has(n))) return whole;
    return numbers
      .map((n) => {
        const url = linkable(byNumber.get(n)?.url ?? null);
        return url ? `<${url}|[${n}]>` : `[${n}]`;
      })
      .join('');
  });
  return [cutSafely(linked, room), notice, sources].filter((part) => part !== '').join('\n\n');
}

function sourcesList(citations: Citation[]): string {
  if (citations.length === 0) return '';
  const lines: string[] = ['*Sources*'];
  let length = lines[0]?.length ?? 0;
  for (const [index, citation] of citations.entries()) {
    const title = escapeMrkdwn(oneLine(citation.title || '(untitled)', 100));
    const when = citation.occurredAt ? citation.occurredAt.toISOString().slice(0, 10) : 'undated';
    const url = linkable(citation.url);
    const where = url ? `<${url}|${linkLabel(citation.kind)}>` : `${escapeMrkdwn(kindName(citation.kind))}, no link`;
    const line = `${citation.n}. ${title} — ${when}, ${where}`;
    if (length + line.length + 1 > MAX_SOURCES_CHARS - 30) {
      lines.push(`…and ${citations.length - index} more`);
      break;
    }
    lines.push(line);
    length += line.length + 1;
  }
  return lines.join('\n');
}

function linkLabel(kind: string): string {
  if (kind === 'email') return 'email card';
  if (kind === 'slack_message') return 'Slack message';
  return 'open';
}

/** A url usable inside Slack's <url|label>, escaped as Slack expects; null when it could break out. */
function linkable(url: string | null): string | null {
  if (url === null || url.length > 500 || !/^https?:\/\/[^\s<>|]+$/.test(url)) return null;
  return url.replace(/&/g, '&amp;');
}

/** Slack mrkdwn treats &, < and > as markup. */
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Cut escaped mrkdwn to `max` characters without splitting a link, an entity or a character. */
function cutSafely(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = Math.max(0, max - 1);
  const open = text.lastIndexOf('<', cut - 1);
  if (open > text.lastIndexOf('>', cut - 1)) cut = open;
  const amp = text.lastIndexOf('&', cut - 1);
  if (amp >= 0 && !text.slice(amp, cut).includes(';') && cut - amp <= 6) cut = amp;
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut -= 1;
  return `${text.slice(0, cut).trimEnd()}…`;
}
