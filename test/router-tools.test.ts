import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createAnthropicChatModel } from '../src/brains/anthropic/anthropic-chat-model.ts';
import { createOllamaChatModel } from '../src/brains/ollama/ollama-chat-model.ts';
import { createModelRouter } from '../src/brains/router.ts';
import { MAX_TOOL_ROUNDS, ToolCallPending, type ToolRunner } from '../src/brains/tool-use.ts';
import type { ModelCallRecord, ToolCall } from '../src/brains/types.ts';
import { AdjutantError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { startOllamaFake, type OllamaFake } from './fakes/ollama-fake.ts';

/**
 * The router's tool rounds, through the real SDKs against the fakes: calls go to the work's
 * runner and their results back to the model; decided calls are replayed; a model that keeps
 * calling is stopped; a call waiting for approval stops the work without asking the other
 * model; a local model that cannot call tools answers without them.
 */
const logger = createLogger({ level: 'silent' });
const answer = z.object({ reply: z.string() });
const lookup = { name: 'tickets__lookup_order', description: 'Look up an order', inputSchema: { type: 'object' as const, properties: { order: { type: 'string' } } } };

describe('tool rounds in the model router', () => {
  let anthropic: AnthropicFake;
  let ollama: OllamaFake;
  const ledger: ModelCallRecord[] = [];
  const cloud = () => createAnthropicChatModel({ apiKey: 'sk-ant-router', baseURL: anthropic.url, model: 'claude-sonnet-5-5', maxRetries: 0 });
  const local = () => createOllamaChatModel({ host: ollama.url, model: 'llama3.2' });
  const router = (models: { cloud?: boolean; local?: boolean }) =>
    createModelRouter({ ...(models.cloud ? { cloud: cloud() } : {}), ...(models.local ? { local: local() } : {}), ledger: { record: async (call) => void ledger.push(call) }, logger });
  const runner = (run: (call: ToolCall) => Promise<{ content: string; isError: boolean }>, priorTurns: ToolRunner['priorTurns'] = []): ToolRunner => ({ definitions: [lookup], priorTurns, run });

  beforeAll(async () => {
    anthropic = await startAnthropicFake({ apiKey: 'sk-ant-router' });
    ollama = await startOllamaFake();
  });
  afterAll(async () => {
    await Promise.all([anthropic?.close(), ollama?.close()]);
  });

  it('runs the calls the model asks for, sends their results back, and records every round', async () => {
    ledger.length = 0;
    anthropic.respondWith((body) => {
      const results = body.messages.flatMap((message) => (Array.isArray(message.content) ? message.content.filter((block) => block.type === 'tool_result') : []));
      if (results.length < 2) return { text: '', toolUses: [{ name: 'tickets__lookup_order', input: { order: String(1181 + results.length) } }] };
      return JSON.stringify({ reply: results.map((result) => String(result.content)).join(' / ') });
    });
    const asked: string[] = [];
    const { value } = await router({ cloud: true }).structured('draft', answer, { system: 'Draft.', messages: [{ role: 'user', content: 'Reply to the order question.' }] }, {
      servedFor: { kind: 'email', id: 'e-1' },
      tools: runner(async (call) => {
        asked.push(String(call.input.order));
        return { content: `order ${String(call.input.order)} shipped`, isError: false };
      }),
    });
    expect(asked).toEqual(['1181', '1182']);
    expect(value.reply).toBe('order 1181 shipped / order 1182 shipped');
    expect(ledger.map((call) => [call.use, call.ok])).toEqual([
      ['draft', true],
      ['draft', true],
      ['draft', true],
    ]);
    expect(anthropic.requests.at(-1)?.body?.tools?.map((tool) => tool.name)).toEqual(['tickets__lookup_order']);
  });

  it('puts decided calls right after the opening message, so the model continues from them', async () => {
    anthropic.respondWith(() => JSON.stringify({ reply: 'done' }));
    await router({ cloud: true }).structured('draft', answer, { system: 'Draft.', messages: [{ role: 'user', content: 'Reply.' }] }, {
      servedFor: { kind: 'email', id: 'e-2' },
      tools: runner(async () => ({ content: 'unused', isError: false }), [
        { role: 'assistant', content: '', toolCalls: [{ id: 'prior_1', name: 'tickets__create_ticket', input: { title: 'Fix' } }] },
        { role: 'tool', toolCallId: 'prior_1', name: 'tickets__create_ticket', content: 'A teammate rejected this call.', isError: true },
      ]),
    });
    const messages = anthropic.requests.at(-1)?.body?.messages ?? [];
    expect(messages.map((message) => message.role)).toEqual(['user', 'assistant', 'user']);
    expect(messages[1]?.content).toEqual([{ type: 'tool_use', id: 'prior_1', name: 'tickets__create_ticket', input: { title: 'Fix' } }]);
    expect(messages[2]?.content).toEqual([{ type: 'tool_result', tool_use_id: 'prior_1', content: 'A teammate rejected this call.', is_error: true }]);
  });

  it(`stops a model that keeps calling tools: refused after ${MAX_TOOL_ROUNDS} rounds, then an error`, async () => {
    anthropic.respondWith(() => ({ text: '', toolUses: [{ name: 'tickets__lookup_order', input: { order: '1' } }] }));
    let runs = 0;
    const before = anthropic.requests.length;
    const error = await router({ cloud: true })
      .complete('answer', { system: 'Answer.', messages: [{ role: 'user', content: 'Loop.' }] }, { servedFor: { kind: 'question', id: 'q-1' }, tools: runner(async () => ({ content: `run ${++runs}`, isError: false })) })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AdjutantError);
    expect((error as AdjutantError).message).toContain(`kept calling tools after ${MAX_TOOL_ROUNDS} rounds`);
    expect(runs).toBe(MAX_TOOL_ROUNDS);
    expect(anthropic.requests.length - before).toBe(MAX_TOOL_ROUNDS + 2);
    const refused = anthropic.requests.at(-1)?.body?.messages.at(-1)?.content;
    expect(JSON.stringify(refused)).toContain('No more tool calls');
  });

  it('stops the work when a call must wait for approval, without asking the other model', async () => {
    anthropic.respondWith(() => ({ text: '', toolUses: [{ name: 'tickets__lookup_order', input: { order: '7' } }] }));
    const ollamaBefore = ollama.requests.length;
    const error = await router({ cloud: true, local: true })
      .structured('draft', answer, { system: 'Draft.', messages: [{ role: 'user', content: 'Reply.' }] }, { servedFor: { kind: 'email', id: 'e-3' }, tools: runner(async () => Promise.reject(new ToolCallPending('call-1', 'tickets__create_ticket'))) })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ToolCallPending);
    expect(ollama.requests.length).toBe(ollamaBefore);
  });

  it('asks a local model that cannot call tools again without them', async () => {
    ollama.failNext(1, 400, { message: 'registry.ollama.ai/library/llama3.2:latest does not support tools' });
    ollama.respondWith(() => JSON.stringify({ reply: 'from memory alone' }));
    const before = ollama.requests.length;
    const { value, result } = await router({ local: true }).structured('triage', answer, { system: 'Sort.', messages: [{ role: 'user', content: 'Sort this.' }] }, { servedFor: { kind: 'email', id: 'e-4' }, tools: runner(async () => ({ content: 'unused', isError: false })) });
    expect(value.reply).toBe('from memory alone');
    expect(result.provider).toBe('ollama');
    const requests = ollama.requests.slice(before).map((request) => request.body as { tools?: unknown[] } | undefined);
    expect(requests.map((body) => (body?.tools ?? []).length)).toEqual([1, 0]);
  });
});
