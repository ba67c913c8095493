import type { Email, EmailStore } from '../memory/email-store.ts';
import type { Memory } from '../memory/memory.ts';
import type { SearchHit } from '../memory/types.ts';
import type { DraftGrounding } from './drafter.ts';

export interface GroundingDeps {
  memory: Pick<Memory, 'search' | 'contact' | 'feedback'>;
  emails: Pick<EmailStore, 'thread' | 'repliesSentTo'>;
}

/** What the reply is about, as the drafter sees it (the original of a forward). */
export interface GroundingTarget {
  address: string;
  subject: string;
  body: string;
  messageId: string | null;
  /** What kind of email it is, for the team's guidance on drafts of that kind: its triage category, or 'forward'. */
  category: string | null;
}

const THREAD_MESSAGES = 6;
const RELATED_ABOUT_EMAIL = 6;
const RELATED_ABOUT_SENDER = 4;
const MAX_RELATED = 8;
const PAST_REPLIES = 3;
const GUIDANCE_LINES = 5;
/** The subject and the start of the body say what the email is about; the rest adds noise. */
const QUERY_BODY_CHARS = 400;

/**
 * Gathers what the team knows that bears on a reply: the thread so far, the contact, memory
 * about the email's subject (facts, other mail, Slack) and about its sender, our past replies to
 * them, and what teammates said about earlier drafts to them or of this kind. Only team-wide
 * memory: a private channel's items never reach a reply.
 */
export async function gatherGrounding(deps: GroundingDeps, email: Email, target: GroundingTarget): Promise<DraftGrounding> {
  const query = `${target.subject} ${target.body.replace(/\s+/g, ' ').slice(0, QUERY_BODY_CHARS)}`.trim() || '(no subject)';
  const [conversation, contact, aboutEmail, aboutSender, pastReplies, guidance] = await Promise.all([
    deps.emails.thread(email, THREAD_MESSAGES),
    deps.memory.contact(target.address),
    deps.memory.search({ text: query, limit: RELATED_ABOUT_EMAIL, askedIn: null }),
    deps.memory.search({ text: query, limit: RELATED_ABOUT_SENDER, person: target.address, askedIn: null }),
    deps.emails.repliesSentTo(target.address, PAST_REPLIES),
    deps.memory.feedback.guidanceFor({ counterparty: target.address, category: target.category }, GUIDANCE_LINES),
  ]);
  // The email itself is what is being answered, not a source about it.
  const own = new Set([email.messageId, target.messageId].filter((id): id is string => id !== null));
  const related: SearchHit[] = [];
  const seen = new Set<string>();
  for (const hit of [...aboutEmail.hits, ...aboutSender.hits]) {
    if (own.has(hit.sourceRef) || seen.has(hit.itemId) || hit.supersededBy !== null) continue;
    seen.add(hit.itemId);
    related.push(hit);
    if (related.length === MAX_RELATED) break;
  }
  return { conversation, contact, related, pastReplies, guidance };
}
