/**
 * What the team remembers, in our own words: every reader (agents, Slack, CLI, MCP) sees these
 * types, never a database row.
 */

export const ITEM_KINDS = ['email', 'slack_message', 'fact', 'note'] as const;
export type ItemKind = (typeof ITEM_KINDS)[number];

export const SOURCE_TYPES = ['email', 'slack', 'mcp', 'cli'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

/** Where a result may be shown: everywhere in the team, or only in one private channel. */
export type Scope = { kind: 'team' } | { kind: 'channel'; channel: string };

/** Where an item came from, enough for a person to open it again. */
export interface Provenance {
  sourceType: SourceType;
  /** Email Message-ID, `<channel>/<ts>` for Slack, or an id given by the tool that stored it. */
  sourceRef: string;
  /** A Slack permalink, when there is one. */
  url: string | null;
  /** Who wrote or said it: an email address or a Slack user. */
  author: string | null;
  /** When it happened (sent, posted, said). */
  occurredAt: Date | null;
}

export interface RememberInput extends Omit<Provenance, 'url' | 'author' | 'occurredAt'> {
  kind: ItemKind;
  title: string;
  content: string;
  url?: string | null;
  author?: string | null;
  occurredAt?: Date | null;
  /** The outside address this concerns. */
  counterparty?: string | null;
  emailId?: string | null;
  scope?: Scope;
  /** Who stores it, for the audit entry written with the item. */
  actor: string;
}

export interface RememberResult {
  itemId: string;
  /** false: this source was stored before (a job or event that ran twice). */
  created: boolean;
  /** true: the source was stored before with other text (an edited Slack message) and now reads anew. */
  updated: boolean;
  chunks: number;
}

export interface SearchQuery {
  text: string;
  /** How many items to return (default 10, at most 50). */
  limit?: number;
  kinds?: ItemKind[];
  /** An address or a name: items whose counterparty or author matches. */
  person?: string;
  after?: Date;
  before?: Date;
  /** Private channel items are returned only to asks made in that channel. */
  askedIn?: { channel: string } | null;
  /** Superseded facts too, after the current ones. */
  includeHistory?: boolean;
}

export interface SearchHit extends Provenance {
  itemId: string;
  kind: ItemKind;
  title: string;
  /** The passage that matched, with the matched words in «guillemets» when full text matched. */
  snippet: string;
  /** Reciprocal-rank-fusion score: higher is better; comparable only within one search. */
  score: number;
  /** Which halves found it. */
  matchedBy: ('text' | 'meaning')[];
  /** Set when a newer fact replaced this one. */
  supersededBy: string | null;
  counterparty: string | null;
}

export interface SearchResponse {
  hits: SearchHit[];
  /** 'hybrid', or 'text' with the reason meaning was not used in `notice` ('meaning': asked for that half alone). */
  mode: 'hybrid' | 'text' | 'meaning';
  notice: string | null;
}

export interface FactInput {
  /** What the fact is about ("wifi password", "delivery day"): a newer fact on it supersedes. */
  subject: string;
  statement: string;
  /** Who said it. */
  saidBy: string;
  sourceType: SourceType;
  sourceRef: string;
  url?: string | null;
  occurredAt?: Date | null;
  scope?: Scope;
  actor: string;
}

export interface Fact {
  itemId: string;
  subject: string;
  statement: string;
  saidBy: string | null;
  occurredAt: Date | null;
  url: string | null;
  sourceRef: string;
  supersededBy: string | null;
  supersededAt: Date | null;
}

export interface FactResult {
  fact: Fact;
  /** 'stored': new; 'duplicate': the same statement is already current; 'superseded': it replaced `previous`. */
  outcome: 'stored' | 'duplicate' | 'superseded';
  previous: Fact | null;
}

export interface Contact {
  address: string;
  name: string | null;
  organisation: string | null;
  summary: string | null;
  summarySource: 'model' | 'data' | null;
  emailCount: number;
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
}

export interface TimelineEntry {
  at: Date;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
}
