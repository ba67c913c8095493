/**
 * The ports between agents and language models. Providers (anthropic/, ollama/) implement
 * these; nothing outside brains/ sees a provider's wire format.
 */
export type Provider = 'anthropic' | 'ollama';

/** routine: classification, extraction, summaries (local first). hard: drafting, answering (cloud first). */
export type Tier = 'routine' | 'hard';

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  system: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
}

export interface ChatResult {
  text: string;
  provider: Provider;
  model: string;
  inputTokens: number;
  outputTokens: number;
  latencyMs: number;
  /** Provider stop reason mapped to ours. */
  stopReason: 'end' | 'max_tokens' | 'other';
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

/** One recorded model call: what the cost ledger stores. */
export interface ModelCallRecord {
  provider: Provider;
  model: string;
  tier: Tier;
  purpose: string;
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
