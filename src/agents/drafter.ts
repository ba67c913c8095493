import { z } from 'zod';
import type { ModelRouter } from '../brains/router.ts';
import type { ToolRunner } from '../brains/tool-use.ts';
import type { ThreadMessage } from '../memory/email-store.ts';
import type { Contact, SearchHit } from '../memory/types.ts';
import { loadPrompt, neutraliseTags, renderPrompt, withToolsNote } from './prompts.ts';
import { withoutHiddenCharacters } from './visible-text.ts';

/** One numbered entry of what the drafter was shown from memory; the card links the ones it used. */
export interface DraftSource {
  n: number;
  kind: string;
  title: string;
  /** Message-ID, Slack `<channel>/<ts>`, or a tool's id. */
  sourceRef: string;
  url: string | null;
  occurredAt: string | null;
  author: string | null;
}

/** What the team knows that bears on the reply (draft-grounding.ts gathers it). */
export interface DraftGrounding {
  /** Earlier messages of the thread, oldest first, our sent replies included. */
  conversation: ThreadMessage[];
  contact: Contact | null;
  /** Memory search hits about the email, and about its sender. */
  related: SearchHit[];
  /** Replies we sent to this sender before, newest first. */
  pastReplies: ThreadMessage[];
  /** What teammates said about earlier drafts of this kind or to this contact. */
  guidance: string[];
}

export interface DraftRequest {
  teamName: string;
  emailId: string;
  /** The teammate's note on a forward, or their redraft instruction: the only instruction. */
  instruction: string | null;
  /** 'redraft' when a teammate asked for a new version of `previousDraft`. */
  use?: 'draft' | 'redraft';
  previousDraft?: string | null;
  original: { fromName: string | null; fromAddress: string; subject: string; date: Date | null; body: string };
  grounding: DraftGrounding;
  /** The team's other systems (external MCP tools), when any are configured. */
  tools?: ToolRunner;
}

export interface DraftResult {
  body: string;
  /** The memory entries the model says it relied on. */
  sources: DraftSource[];
  confidence: number;
  rationale: string;
  provider: string;
  model: string;
}

/** Email bodies can be huge; the model needs the gist, and the cost stays bounded. */
const MAX_EMAIL_CHARS = 12_000;
const MAX_THREAD_MESSAGE_CHARS = 1500;
const MAX_MEMORY_SNIPPET_CHARS = 600;

const draftAnswer = z.object({
  body: z
    .string()
    .transform((text) => withoutHiddenCharacters(text).trim())
    .pipe(z.string().min(1, 'the draft is empty').max(10_000, 'the draft is over 10,000 characters')),
  sources: z.array(z.number().int().min(1)).max(20).default([]),
  confidence: z.number().min(0).max(1),
  rationale: z
    .string()
    .transform((text) => withoutHiddenCharacters(text).replace(/\s+/g, ' ').trim())
    .pipe(z.string().min(1, 'the rationale is empty').max(300, 'the rationale is over 300 characters')),
});

/**
 * Drafting is hard work: the cloud model when configured, the local one otherwise. The model
 * sees the thread, the contact and what memory holds about the email, all fenced as data, and
 * answers with the draft, the entries it used, its confidence and a one-line rationale. Who the
 * reply goes to is not its business: the caller decided that from the email before asking.
 */
export async function draftReply(router: ModelRouter, request: DraftRequest): Promise<DraftResult> {
  const { original, grounding } = request;
  const sources = numberSources(grounding);
  const from = original.fromName ? `${original.fromName} <${original.fromAddress}>` : original.fromAddress;
  const body = original.body.length > MAX_EMAIL_CHARS ? `${original.body.slice(0, MAX_EMAIL_CHARS)}\n[… truncated]` : original.body;
  const answer = await router.structured(
    request.use ?? 'draft',
    draftAnswer,
    {
      system: withToolsNote(renderPrompt(loadPrompt('draft-reply'), { team_name: request.teamName }), (request.tools?.definitions.length ?? 0) > 0),
      messages: [
        {
          role: 'user',
          content: renderPrompt(loadPrompt('draft-reply.user'), {
            instruction: request.instruction?.trim() ? neutralise(request.instruction) : '(none: write a helpful reply)',
            guidance: grounding.guidance.length > 0 ? grounding.guidance.map((line) => `- ${neutralise(line)}`).join('\n') : '(none)',
            contact: describeContact(grounding.contact),
            conversation: grounding.conversation.length > 0 ? grounding.conversation.map(describeThreadMessage).join('\n\n') : '(this email starts the conversation)',
            memory: sources.entries.length > 0 ? sources.entries.join('\n\n') : '(nothing relevant found)',
            previous_draft: request.previousDraft ? neutralise(clip(request.previousDraft, MAX_EMAIL_CHARS)) : '(none: this is the first draft)',
            from: neutralise(from),
            date: original.date ? original.date.toUTCString() : 'unknown',
            subject: neutralise(original.subject),
            body: neutralise(body),
          }),
        },
      ],
      maxTokens: 1500,
      temperature: 0.3,
    },
    { servedFor: { kind: 'email', id: request.emailId }, ...(request.tools ? { tools: request.tools } : {}) },
  );
  const { value, result } = answer;
  // Numbers the model made up are dropped: a source is only what it was shown.
  const used = [...new Set(value.sources)].flatMap((n) => sources.list.filter((source) => source.n === n));
  return { body: value.body, sources: used, confidence: value.confidence, rationale: value.rationale, provider: result.provider, model: result.model };
}

function numberSources(grounding: DraftGrounding): { list: DraftSource[]; entries: string[] } {
  const list: DraftSource[] = [];
  const entries: string[] = [];
  for (const hit of grounding.related) {
    const n = list.length + 1;
    list.push({ n, kind: hit.kind, title: hit.title, sourceRef: hit.sourceRef, url: hit.url, occurredAt: hit.occurredAt?.toISOString() ?? null, author: hit.author });
    const when = hit.occurredAt ? hit.occurredAt.toISOString().slice(0, 10) : 'undated';
    const snippet = hit.snippet.replace(/[«»]/g, '');
    entries.push(`[${n}] ${hit.kind}, ${when}${hit.author ? `, from ${neutralise(hit.author)}` : ''}: ${neutralise(hit.title)}\n${neutralise(clip(snippet, MAX_MEMORY_SNIPPET_CHARS))}`);
  }
  for (const reply of grounding.pastReplies) {
    const n = list.length + 1;
    list.push({ n, kind: 'sent_reply', title: reply.subject, sourceRef: `reply:${reply.at?.toISOString() ?? n}`, url: null, occurredAt: reply.at?.toISOString() ?? null, author: 'us' });
    entries.push(`[${n}] our earlier reply to them, ${reply.at?.toISOString().slice(0, 10) ?? 'undated'}: ${neutralise(reply.subject)}\n${neutralise(clip(reply.text, MAX_MEMORY_SNIPPET_CHARS))}`);
  }
  return { list, entries };
}

function describeContact(contact: Contact | null): string {
  if (!contact) return '(no contact record yet)';
  const who = [contact.name, `<${contact.address}>`, contact.organisation ? `of ${contact.organisation}` : null].filter(Boolean).join(' ');
  return neutralise(`${who}; ${contact.emailCount} email(s) so far.${contact.summary ? ` ${contact.summary}` : ''}`);
}

function describeThreadMessage(message: ThreadMessage): string {
  const who = message.ours ? 'us (the team)' : message.from;
  return `--- ${neutralise(who)}, ${message.at?.toISOString().slice(0, 16).replace('T', ' ') ?? 'undated'}: ${neutralise(message.subject)}\n${neutralise(clip(message.text, MAX_THREAD_MESSAGE_CHARS))}`;
}

function clip(text: string, max: number): string {
  const trimmed = text.trim();
  return trimmed.length > max ? `${trimmed.slice(0, max)} […]` : trimmed;
}

/** Untrusted text must not be able to close one of our sections and speak outside it. */
function neutralise(text: string): string {
  return neutraliseTags(text, ['email', 'teammate_instruction', 'team_guidance', 'contact', 'conversation', 'memory', 'previous_draft']);
}
