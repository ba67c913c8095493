import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createAnthropicChatModel } from '../src/brains/anthropic/anthropic-chat-model.ts';
import { createOllamaChatModel } from '../src/brains/ollama/ollama-chat-model.ts';
import type { ChatMessage, ChatRequest, ToolDefinition } from '../src/brains/types.ts';
import { AdjutantError } from '../src/errors.ts';

/**
 * Tool calling through the real @anthropic-ai/sdk and `ollama` packages, against small local
 * servers that record what arrives and answer with whatever body the test scripts.
 */

const API_KEY = 'sk-ant-test-key';
const CLOUD_MODEL = 'claude-sonnet-4-6';
const LOCAL_MODEL = 'llama3.2';

const lookupContact: ToolDefinition = {
  name: 'lookup_contact',
  description: 'Find a contact by email address.',
  inputSchema: {
    type: 'object',
    properties: { email: { type: 'string', description: 'The address to look up' } },
    required: ['email'],
  },
};

const searchMemory: ToolDefinition = {
  name: 'search_memory',
  description: 'Search what Adjutant remembers.',
  inputSchema: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
};

const firstTurn: ChatRequest = {
  system: 'You are Adjutant, an operations assistant.',
  messages: [{ role: 'user', content: 'Who is ana@example.com and what did we promise her?' }],
  maxTokens: 300,
  tools: [lookupContact, searchMemory],
};

/** The conversation after the model asked for two tools and both ran (the second failed). */
function secondTurn(assistantText: string): ChatRequest {
  const messages: ChatMessage[] = [
    ...firstTurn.messages,
    {
      role: 'assistant',
      content: assistantText,
      toolCalls: [
        { id: 'toolu_01', name: 'lookup_contact', input: { email: 'ana@example.com' } },
        { id: 'toolu_02', name: 'search_memory', input: { query: 'promise to Ana' } },
      ],
    },
    { role: 'tool', toolCallId: 'toolu_01', name: 'lookup_contact', content: 'Ana Silva, CFO at Acme' },
    {
      role: 'tool',
      toolCallId: 'toolu_02',
      name: 'search_memory',
      content: 'memory search is offline',
      isError: true,
    },
  ];
  return { ...firstTurn, messages };
}

interface Recorded {
  path: string;
  body: Record<string, unknown>;
}

interface Fake {
  url: string;
  requests: Recorded[];
  /** Answer the next requests with these (status, JSON body) pairs, in order. */
  answer(...replies: Array<{ status?: number; body: unknown }>): void;
  close(): Promise<void>;
}

const fakes: Fake[] = [];

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function startFake(): Promise<Fake> {
  const requests: Recorded[] = [];
  const replies: Array<{ status?: number; body: unknown }> = [];
  const server: Server = createServer((request, response) => {
    void readBody(request).then((raw) => {
      const path = new URL(request.url ?? '/', 'http://fake').pathname;
      requests.push({ path, body: raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>) });
      const reply = replies.shift() ?? { status: 500, body: { error: 'the test scripted no answer' } };
      response.writeHead(reply.status ?? 200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: Fake = {
    url: `http://127.0.0.1:${port}`,
    requests,
    answer(...next) {
      replies.push(...next);
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  fakes.push(fake);
  return fake;
}

/** A Messages API response with the given content blocks. */
function anthropicMessage(content: unknown[], stopReason: string): unknown {
  return {
    id: 'msg_fake_000001',
    type: 'message',
    role: 'assistant',
    model: CLOUD_MODEL,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: { input_tokens: 42, output_tokens: 17, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
}

/** An /api/chat (stream: false) response with the given assistant message. */
function ollamaReply(message: Record<string, unknown>): unknown {
  return {
    model: LOCAL_MODEL,
    created_at: '2026-01-01T00:00:00Z',
    message: { role: 'assistant', ...message },
    done: true,
    done_reason: 'stop',
    total_duration: 1_000_000,
    prompt_eval_count: 30,
    eval_count: 12,
  };
}

async function expectAdjutantError(promise: Promise<unknown>): Promise<AdjutantError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AdjutantError);
  return error as AdjutantError;
}

describe('anthropic chat model with tools', () => {
  async function setUp(): Promise<{ fake: Fake; model: ReturnType<typeof createAnthropicChatModel> }> {
    const fake = await startFake();
    const model = createAnthropicChatModel({ apiKey: API_KEY, baseURL: fake.url, model: CLOUD_MODEL, maxRetries: 0 });
    return { fake, model };
  }

  it('sends tools as name, description and input_schema, and reads tool_use blocks back', async () => {
    const { fake, model } = await setUp();
    fake.answer({
      body: anthropicMessage(
        [
          { type: 'text', text: 'Let me look that up.' },
          { type: 'tool_use', id: 'toolu_01', name: 'lookup_contact', input: { email: 'ana@example.com' } },
          { type: 'tool_use', id: 'toolu_02', name: 'search_memory', input: { query: 'promise to Ana' } },
        ],
        'tool_use',
      ),
    });

    const result = await model.chat(firstTurn);

    expect(fake.requests[0]?.path).toBe('/v1/messages');
    expect(fake.requests[0]?.body.tools).toEqual([
      { name: 'lookup_contact', description: lookupContact.description, input_schema: lookupContact.inputSchema },
      { name: 'search_memory', description: searchMemory.description, input_schema: searchMemory.inputSchema },
    ]);
    expect(result).toMatchObject({
      text: 'Let me look that up.',
      stopReason: 'tool_use',
      provider: 'anthropic',
      inputTokens: 42,
      outputTokens: 17,
    });
    expect(result.toolCalls).toEqual([
      { id: 'toolu_01', name: 'lookup_contact', input: { email: 'ana@example.com' } },
      { id: 'toolu_02', name: 'search_memory', input: { query: 'promise to Ana' } },
    ]);
  });

  it('accepts an answer that is only tool calls', async () => {
    const { fake, model } = await setUp();
    fake.answer({
      body: anthropicMessage(
        [{ type: 'tool_use', id: 'toolu_09', name: 'search_memory', input: { query: 'invoices' } }],
        'tool_use',
      ),
    });

    const result = await model.chat(firstTurn);

    expect(result.text).toBe('');
    expect(result.stopReason).toBe('tool_use');
    expect(result.toolCalls).toEqual([{ id: 'toolu_09', name: 'search_memory', input: { query: 'invoices' } }]);
  });

  it('sends the assistant tool_use turn, then all its results grouped in one user message', async () => {
    const { fake, model } = await setUp();
    fake.answer({ body: anthropicMessage([{ type: 'text', text: 'Ana is the CFO.' }], 'end_turn') });

    const result = await model.chat(secondTurn('Let me look that up.'));

    expect(result).toMatchObject({ text: 'Ana is the CFO.', toolCalls: [], stopReason: 'end' });
    expect(fake.requests[0]?.body.messages).toEqual([
      { role: 'user', content: 'Who is ana@example.com and what did we promise her?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me look that up.' },
          { type: 'tool_use', id: 'toolu_01', name: 'lookup_contact', input: { email: 'ana@example.com' } },
          { type: 'tool_use', id: 'toolu_02', name: 'search_memory', input: { query: 'promise to Ana' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_01', content: 'Ana Silva, CFO at Acme' },
          { type: 'tool_result', tool_use_id: 'toolu_02', content: 'memory search is offline', is_error: true },
        ],
      },
    ]);
    expect(fake.requests[0]?.body.tools).toHaveLength(2);
  });

  it('leaves out the text block of an assistant turn that only called tools', async () => {
    const { fake, model } = await setUp();
    fake.answer({ body: anthropicMessage([{ type: 'text', text: 'Done.' }], 'end_turn') });

    await model.chat(secondTurn(''));

    const messages = fake.requests[0]?.body.messages as Array<{ role: string; content: unknown }>;
    expect(messages[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'tool_use', id: 'toolu_01', name: 'lookup_contact', input: { email: 'ana@example.com' } },
        { type: 'tool_use', id: 'toolu_02', name: 'search_memory', input: { query: 'promise to Ana' } },
      ],
    });
  });

  it('sends no tools field without tools and returns no tool calls for a plain answer', async () => {
    const { fake, model } = await setUp();
    fake.answer({ body: anthropicMessage([{ type: 'text', text: 'Plain answer.' }], 'end_turn') });

    const { tools: _tools, ...withoutTools } = firstTurn;
    const result = await model.chat(withoutTools);

    expect(fake.requests[0]?.body).not.toHaveProperty('tools');
    expect(result.toolCalls).toEqual([]);
    expect(result.stopReason).toBe('end');
  });

  it('rejects a tool_use block whose input is not an object as MODEL_OUTPUT_INVALID', async () => {
    const { fake, model } = await setUp();
    fake.answer({
      body: anthropicMessage(
        [{ type: 'tool_use', id: 'toolu_01', name: 'lookup_contact', input: 'ana@example.com' }],
        'tool_use',
      ),
    });

    const error = await expectAdjutantError(model.chat(firstTurn));

    expect(error.code).toBe('MODEL_OUTPUT_INVALID');
  });

  it('still rejects an answer with neither text nor tool calls', async () => {
    const { fake, model } = await setUp();
    fake.answer({ body: anthropicMessage([], 'end_turn') });

    const error = await expectAdjutantError(model.chat(firstTurn));

    expect(error.code).toBe('MODEL_OUTPUT_INVALID');
    expect(error.message).toContain(CLOUD_MODEL);
  });
});

describe('ollama chat model with tools', () => {
  async function setUp(modelName = LOCAL_MODEL): Promise<{ fake: Fake; model: ReturnType<typeof createOllamaChatModel> }> {
    const fake = await startFake();
    return { fake, model: createOllamaChatModel({ host: fake.url, model: modelName }) };
  }

  it('sends tools as functions with their JSON Schema, and reads tool_calls back with distinct ids', async () => {
    const { fake, model } = await setUp();
    fake.answer({
      body: ollamaReply({
        content: '',
        tool_calls: [
          { function: { name: 'lookup_contact', arguments: { email: 'ana@example.com' } } },
          { function: { name: 'search_memory', arguments: { query: 'promise to Ana' } } },
        ],
      }),
    });

    const result = await model.chat(firstTurn);

    expect(fake.requests[0]?.path).toBe('/api/chat');
    expect(fake.requests[0]?.body.tools).toEqual([
      {
        type: 'function',
        function: { name: 'lookup_contact', description: lookupContact.description, parameters: lookupContact.inputSchema },
      },
      {
        type: 'function',
        function: { name: 'search_memory', description: searchMemory.description, parameters: searchMemory.inputSchema },
      },
    ]);
    expect(result).toMatchObject({ text: '', stopReason: 'tool_use', provider: 'ollama', inputTokens: 30 });
    expect(result.toolCalls).toMatchObject([
      { name: 'lookup_contact', input: { email: 'ana@example.com' } },
      { name: 'search_memory', input: { query: 'promise to Ana' } },
    ]);
    const ids = result.toolCalls.map((call) => call.id);
    expect(ids.every((id) => id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(2);
  });

  it('sends the assistant tool_calls and each result as role tool with tool_name', async () => {
    const { fake, model } = await setUp();
    fake.answer({ body: ollamaReply({ content: 'Ana is the CFO.' }) });

    const result = await model.chat(secondTurn(''));

    expect(result).toMatchObject({ text: 'Ana is the CFO.', toolCalls: [], stopReason: 'end' });
    expect(fake.requests[0]?.body.messages).toEqual([
      { role: 'system', content: firstTurn.system },
      { role: 'user', content: 'Who is ana@example.com and what did we promise her?' },
      {
        role: 'assistant',
        content: '',
        tool_calls: [
          { function: { name: 'lookup_contact', arguments: { email: 'ana@example.com' } } },
          { function: { name: 'search_memory', arguments: { query: 'promise to Ana' } } },
        ],
      },
      { role: 'tool', content: 'Ana Silva, CFO at Acme', tool_name: 'lookup_contact' },
      { role: 'tool', content: 'memory search is offline', tool_name: 'search_memory' },
    ]);
  });

  it("maps Ollama's 'does not support tools' 400 to MODEL_NO_TOOLS naming the model", async () => {
    const { fake, model } = await setUp('gemma:2b');
    fake.answer({ status: 400, body: { error: 'registry.ollama.ai/library/gemma:2b does not support tools' } });

    const error = await expectAdjutantError(model.chat(firstTurn));

    expect(error.code).toBe('MODEL_NO_TOOLS');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("'gemma:2b'");
    expect(error.message).toContain('cannot call tools');
  });

  it('sends no tools field without tools and returns no tool calls for a plain answer', async () => {
    const { fake, model } = await setUp();
    fake.answer({ body: ollamaReply({ content: 'Plain answer.' }) });

    const { tools: _tools, ...withoutTools } = firstTurn;
    const result = await model.chat(withoutTools);

    expect(fake.requests[0]?.body).not.toHaveProperty('tools');
    expect(result.toolCalls).toEqual([]);
    expect(result.stopReason).toBe('end');
  });

  it('rejects tool call arguments that are not an object as MODEL_OUTPUT_INVALID', async () => {
    const { fake, model } = await setUp();
    fake.answer({
      body: ollamaReply({ content: '', tool_calls: [{ function: { name: 'lookup_contact', arguments: '{}' } }] }),
    });

    const error = await expectAdjutantError(model.chat(firstTurn));

    expect(error.code).toBe('MODEL_OUTPUT_INVALID');
  });
});
