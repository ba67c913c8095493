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
  readonly model: string;
  embed(texts: string[], options?: { signal?: AbortSignal }): Promise<number[][]>;
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
