/**
 * The ports between agents and language models. Providers (anthropic/, ollama/) implement
 * these; nothing outside brains/ sees a provider's wire format.
 */
export type Provider = 'anthropic' | 'ollama';

/** routine: classification, extraction, summaries (local first). hard: drafting, answering (cloud first). */
export type Tier = 'routine' | 'hard';

/** A tool the model may call: its input is described by a JSON Schema object. */
export interface ToolDefinition {
  name: string;
  description: string;
  inputSchema: { type: 'object'; properties?: Record<string, unknown>; required?: string[]; [key: string]: unknown };
}

/** A call the model asked for; `id` pairs it with its result. */
export interface ToolCall {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export type ChatMessage =
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  /** The result of one tool call, fed back to the model. */
  | { role: 'tool'; toolCallId: string; name: string; content: string; isError?: boolean };

export interface ChatRequest {
  system: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  /** Offered to the model; a model that cannot call tools is told nothing of them. */
  tools?: ToolDefinition[];
}

export interface ChatResult {
  /** '' when the model only asked for tool calls. */
  text: string;
  /** Empty unless stopReason is 'tool_use'. */
  toolCalls: ToolCall[];
  provider: Provider;
  model: string;
  inputTokens: number;
  outputTokens: number;
  latencyMs: number;
  /** Provider stop reason mapped to ours. */
  stopReason: 'end' | 'max_tokens' | 'tool_use' | 'other';
}

export interface ChatModel {
  readonly provider: Provider;
  readonly model: string;
  chat(request: ChatRequest, options?: { signal?: AbortSignal }): Promise<ChatResult>;
}

export interface Embedder {
  /** Recorded with every vector: vectors of different models never mix in one search. */
  readonly model: string;
  /** Known up front for the built-in model; learned from the first answer for a server's model. */
  readonly dimensions?: number;
  /** One vector per text, in order. Throws rather than returning a partial batch. */
  embed(texts: string[], options?: { signal?: AbortSignal }): Promise<number[][]>;
  /** Releases what the embedder holds (a worker thread); it starts again on the next call. */
  close?(): Promise<void>;
}

/**
 * What a model call served, so every row of the ledger can be traced to its email, question,
 * briefing or contact.
 */
export interface ServedFor {
  kind: 'email' | 'draft' | 'question' | 'briefing' | 'contact' | 'eval';
  id: string;
}

/** One recorded model call: what the cost ledger stores. */
export interface ModelCallRecord {
  provider: Provider;
  model: string;
  tier: Tier;
  /** One of MODEL_USES (uses.ts). */
  use: string;
  servedFor: ServedFor;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
  ok: boolean;
  error?: string;
}

export interface CallLedger {
  record(call: ModelCallRecord): Promise<void>;
}
