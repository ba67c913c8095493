import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { startService, type Service } from '../src/main.ts';
import { emailTimeline } from '../src/memory/timeline.ts';
import { startAnthropicFake, type AnthropicFake, type AnthropicFakeReply, type AnthropicFakeRequestBody } from './fakes/anthropic-fake.ts';
import { buttonClick, sendSignedEvent, sendSignedInteraction, startSlackFake, type SlackCall, type SlackFake } from './fakes/slack-fake.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
import { deliver, freshMailboxUser, plainMessage } from './support/mailbox.ts';
import { databaseEnv, imapEnv, slackEnv } from './support/service-env.ts';
import { waitUntil } from './support/wait.ts';

/**
 * The drafter using the team's other systems through external MCP servers, through the running
 * service: a read tool runs when the model asks; a write tool waits for a signed Approve in Slack
 * and runs exactly once however many clicks arrive, its result fed back to the model; a rejected
 * call never runs; a server that never answers, and one that is down, do not stop the draft.
 */
const BOT_TOKEN = 'xoxb-tools-bot';
const SIGNING_SECRET = 'tools-signing-secret-0123456789';
const APPROVALS = 'C0APPROVALS';
const ALICE = 'U0ALICE';
const MALLORY = 'U0MALLORY';
const SERVER_SCRIPT = new URL('./fakes/mcp-tools-server.mjs', import.meta.url).pathname;

const COMPLAINT = 'One of the six oak chairs from order 1182 arrived with a broken leg. Can you replace it?';

/** The tool results in a request, by tool name, in order. */
function toolResults(body: AnthropicFakeRequestBody): { name: string; content: string; isError: boolean }[] {
  const names = new Map<string, string>();
  const results: { name: string; content: string; isError: boolean }[] = [];
  for (const message of body.messages) {
    if (!Array.isArray(message.content)) continue;
    for (const block of message.content) {
      if (block.type === 'tool_use') names.set(String((block as { id?: string }).id), String(block.name));
      if (block.type === 'tool_result') results.push({ name: names.get(String(block.tool_use_id)) ?? '?', content: typeof block.content === 'string' ? block.content : JSON.stringify(block.content), isError: block.is_error === true });
    }
  }
  return results;
}

const systemOf = (body: AnthropicFakeRequestBody) => (typeof body.system === 'string' ? body.system : (body.system ?? []).map((block) => block.text).join(''));

/**
 * A model that looks the order up (in two systems), then asks to open a ticket, then writes the
 * reply from what the ticket call gave back.
 */
function model(body: AnthropicFakeRequestBody): string | AnthropicFakeReply {
  if (systemOf(body).startsWith('You sort the email')) {
    return JSON.stringify({ category: 'needs_reply', urgency: 'normal', summary: 'A broken chair to replace', people: [], organisations: [], dates: [], confidence: 0.9 });
  }
  const results = toolResults(body);
  if (systemOf(body).startsWith('You answer')) {
    if (!results.some((result) => result.name === 'tickets__lookup_order')) return { text: '', toolUses: [{ name: 'tickets__lookup_order', input: { order: '1182' } }] };
    const ticket = results.find((result) => result.name === 'tickets__create_ticket');
    if (!ticket) return { text: '', toolUses: [{ name: 'tickets__create_ticket', input: { title: 'Check the replacement chair', order: '1182' } }] };
    return JSON.stringify({ answer: `Order 1182 shipped by DHL [1]. ${ticket.content}.`, cited: [1], confident: true });
  }
  if (!results.some((result) => result.name === 'tickets__lookup_order')) {
    return { text: 'Let me check the order.', toolUses: [{ name: 'tickets__lookup_order', input: { order: '1182' } }, { name: 'crm__lookup_order', input: { order: '1182' } }] };
  }
  const ticket = results.find((result) => result.name === 'tickets__create_ticket');
  if (!ticket) return { text: '', toolUses: [{ name: 'tickets__create_ticket', input: { title: 'Replace the broken chair leg', order: '1182' } }] };
  const order = results.find((result) => result.name === 'tickets__lookup_order')?.content ?? '';
  const body2 = ticket.isError ? `Dear Olivia,\n\nSorry about the chair (${order}). We will be in touch.\n\nAcme Ops` : `Dear Olivia,\n\nSorry about the chair (${order}). ${ticket.content}.\n\nAcme Ops`;
  return JSON.stringify({ body: body2, sources: [], confidence: 0.8, rationale: ticket.isError ? 'No ticket: the call was rejected.' : 'Ticket opened for the replacement.' });
}

describe('external MCP tools in drafting, with Slack approval for write tools (postgres)', () => {
  let database: TestDatabase;
  let slack: SlackFake;
  let anthropic: AnthropicFake;
  let service: Service;
  let url: string;
  let mailboxUser: string;
  const dir = mkdtempSync(join(tmpdir(), 'adjutant-mcp-approvals-'));
  const ticketsFile = join(dir, 'tickets.jsonl');
  const tickets = () => (existsSync(ticketsFile) ? readFileSync(ticketsFile, 'utf8').split('\n').filter(Boolean) : []);

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    slack = await startSlackFake({ botToken: BOT_TOKEN, channelMembers: { [APPROVALS]: [ALICE] } });
    anthropic = await startAnthropicFake({ apiKey: 'sk-ant-tools', respond: model });
    const serversFile = join(dir, 'mcp-servers.json');
    writeFileSync(
      serversFile,
      JSON.stringify({
        mcpServers: {
          tickets: { command: process.execPath, args: [SERVER_SCRIPT], env: { TICKETS_FILE: ticketsFile }, tools: { lookup_order: 'read' } },
          // Up, but never answers: its call times out and the draft goes on.
          crm: { command: process.execPath, args: [SERVER_SCRIPT], env: { HANG: '1' }, tools: { lookup_order: 'read' }, timeoutMs: 700 },
          // Down: never connects, its tools are not offered.
          calendar: { command: process.execPath, args: ['-e', 'process.exit(2)'] },
        },
      }),
    );
    mailboxUser = freshMailboxUser('mcp-tools');
    const config = loadConfig({
      envFile: null,
      env: {
        ...databaseEnv(database),
        ...slackEnv({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, apiUrl: slack.apiUrl, approvalsChannel: APPROVALS }),
        ...imapEnv(mailboxUser),
        TEAM_DOMAINS: 'team.example',
        EMBEDDER: 'none',
        ANTHROPIC_API_KEY: 'sk-ant-tools',
        ANTHROPIC_BASE_URL: anthropic.url,
        MCP_SERVERS_FILE: serversFile,
      },
    });
    service = await startService(config, { host: '127.0.0.1', jobPollMs: 200, shutdownGraceMs: 1000 });
    url = `http://127.0.0.1:${service.port}/slack/events`;
    await waitUntil('the mailbox watcher', () => service.watcher?.health().state === 'watching');
    await waitUntil('the tickets server to connect', async () => {
      const health = (await (await fetch(`http://127.0.0.1:${service.port}/healthz`)).json()) as { parts: Record<string, { detail?: string }> };
      const detail = health.parts['mcp-servers']?.detail ?? '';
      return detail.includes('tickets: 3 tool(s)') && detail.includes('crm: 3 tool(s)') && detail.includes('calendar: unavailable');
    });
  });
  afterAll(async () => {
    await service?.stop();
    await Promise.all([slack?.close(), anthropic?.close()]);
    await database?.drop();
  });

  const emailId = async (messageId: string) => (await waitUntil('the email', () => service.database.prisma.email.findUnique({ where: { messageId } }))).id;
  const toolCard = (since: number) => waitUntil('the tool call’s approval card', () => slack.callsTo('chat.postMessage').slice(since).find((call) => !call.args.thread_ts && JSON.stringify(call.args.blocks ?? '').includes('tool_call_approve')));
  const postedDraft = (id: string) => waitUntil('the draft to be posted', () => service.database.prisma.draft.findFirst({ where: { emailId: id, slackDraftTs: { not: null } } }), 30_000);
  const cardUpdate = (ts: string, text: string) => waitUntil(`the card to say “${text}”`, () => slack.callsTo('chat.update').find((call: SlackCall) => call.args.ts === ts && JSON.stringify(call.args.blocks).includes(text)));
  const click = (userId: string, ts: string, actionId: string, value: string) => sendSignedInteraction(url, SIGNING_SECRET, buttonClick({ userId, channel: APPROVALS, messageTs: ts, actionId, value }));

  it('runs a read tool directly, waits for approval of a write tool, and runs it exactly once on two Approve clicks', async () => {
    const before = slack.callsTo('chat.postMessage').length;
    await deliver(mailboxUser, plainMessage('chair-1', 'Broken chair leg', COMPLAINT));
    const id = await emailId('<chair-1@client.example>');
    const card = await toolCard(before);
    const ts = String((await waitUntil('the card’s ts', () => service.database.prisma.toolCall.findFirst({ where: { servedId: id, slackTs: { not: null } } }))).slackTs);
    const call = await service.database.prisma.toolCall.findFirstOrThrow({ where: { servedId: id } });

    // The card shows the tool, its server and the exact arguments.
    const shown = JSON.stringify(card.args.blocks);
    expect(shown).toContain('*Tool:* `create_ticket`');
    expect(shown).toContain('*Server:* `tickets`');
    const argumentsShown = /\*Arguments:\*\n```([\s\S]*?)```/.exec(String((card.args.blocks as { text?: { text?: string } }[])[1]?.text?.text))?.[1];
    expect(JSON.parse(argumentsShown ?? 'null')).toEqual({ title: 'Replace the broken chair leg', order: '1182' });
    // Nothing ran, and nothing was drafted, while it waits.
    expect(tickets()).toEqual([]);
    expect(await service.database.prisma.draft.count({ where: { emailId: id } })).toBe(0);

    // The model was offered the connected servers' tools, none of the server that is down.
    const offered = (anthropic.requests.find((request) => request.body?.tools)?.body?.tools ?? []).map((tool) => tool.name);
    expect(offered).toEqual(expect.arrayContaining(['tickets__lookup_order', 'tickets__create_ticket', 'crm__lookup_order']));
    expect(offered.some((name) => name.startsWith('calendar__'))).toBe(false);

    // Someone who is not an approver is refused; the call still waits.
    await click(MALLORY, ts, 'tool_call_approve', call.id);
    await waitUntil('the refusal', () => slack.callsTo('chat.postEphemeral').find((entry) => entry.args.user === MALLORY));
    expect((await service.database.prisma.toolCall.findUniqueOrThrow({ where: { id: call.id } })).status).toBe('pending');

    // Two approvals at once (a double click, Slack's retry): one run.
    const responses = await Promise.all([click(ALICE, ts, 'tool_call_approve', call.id), click(ALICE, ts, 'tool_call_approve', call.id)]);
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    const draft = await postedDraft(id);
    expect(tickets()).toHaveLength(1);
    expect(draft.body).toContain('Ticket T-1 opened: Replace the broken chair leg');
    // The read tool's result reached the model; the server that never answers was reported unavailable.
    expect(draft.body).toContain('DHL-88341');
    const last = anthropic.requests.filter((request) => request.body?.tools).at(-1)?.body;
    const results = last ? toolResults(last) : [];
    expect(results.find((result) => result.name === 'crm__lookup_order')).toMatchObject({ isError: true, content: expect.stringContaining('no answer within 0.7 s') });
    await cardUpdate(ts, `Approved by <@${ALICE}> and run: Ticket T-1 opened`);
    expect((await service.database.prisma.toolCall.findUniqueOrThrow({ where: { id: call.id } })).status).toBe('succeeded');

    // The email's timeline tells the story, the refusal and the read calls included.
    const actions = (await emailTimeline(service.database.prisma, id)).map((entry) => entry.action);
    expect(actions).toEqual(expect.arrayContaining(['tool.called', 'tool.failed', 'tool.approval_requested', 'tool.approved', 'tool.succeeded', 'draft.created']));
    expect(actions.indexOf('tool.approved')).toBeLessThan(actions.indexOf('tool.succeeded'));
    const refused = await service.database.prisma.auditEntry.findMany({ where: { entityType: 'tool_call', entityId: call.id } });
    expect(refused.map((entry) => [entry.actor, entry.action])).toEqual([[MALLORY, 'tool_call.approve.refused']]);
  });

  it('never runs a rejected call, and tells the model it was rejected', async () => {
    const before = slack.callsTo('chat.postMessage').length;
    const ran = tickets().length;
    await deliver(mailboxUser, plainMessage('chair-2', 'Another broken chair', COMPLAINT));
    const id = await emailId('<chair-2@client.example>');
    await toolCard(before);
    const call = await waitUntil('the card’s ts', () => service.database.prisma.toolCall.findFirst({ where: { servedId: id, slackTs: { not: null } } }));
    await click(ALICE, String(call.slackTs), 'tool_call_reject', call.id);

    const draft = await postedDraft(id);
    expect(draft.body).toContain('We will be in touch');
    expect(tickets()).toHaveLength(ran);
    const last = anthropic.requests.filter((request) => request.body?.tools).at(-1)?.body;
    expect(last ? toolResults(last).find((result) => result.name === 'tickets__create_ticket') : null).toMatchObject({ isError: true, content: expect.stringContaining('A teammate rejected this call') });
    await cardUpdate(String(call.slackTs), `Rejected by <@${ALICE}>: not run.`);
    // A late Approve changes nothing.
    await click(ALICE, String(call.slackTs), 'tool_call_approve', call.id);
    await waitUntil('the late click to be told', () => slack.callsTo('chat.postEphemeral').find((entry) => String(entry.args.text).includes('already rejected')));
    expect(tickets()).toHaveLength(ran);
    const actions = (await emailTimeline(service.database.prisma, id)).map((entry) => entry.action);
    expect(actions).toEqual(expect.arrayContaining(['tool.approval_requested', 'tool.rejected', 'draft.created']));
    expect(actions).not.toContain('tool.succeeded');
  });

  it('offers the tools to the answerer: a question that needs a write tool waits for approval, then is answered in its thread', async () => {
    const before = slack.callsTo('chat.postMessage').length;
    await sendSignedEvent(url, SIGNING_SECRET, { type: 'app_mention', user: ALICE, text: '<@U000BOT> where is order 1182 with the broken chair? Open a ticket to check the replacement.', ts: '1700000300.000100', channel: 'C0GENERAL', event_ts: '1700000300.000100' });
    const waiting = await waitUntil('the answer to say it waits', () => slack.callsTo('chat.postMessage').slice(before).find((call) => call.args.thread_ts === '1700000300.000100'));
    expect(String(waiting.args.text)).toContain('I have asked the approvers');
    await toolCard(before);
    const call = await waitUntil('the call’s card', () => service.database.prisma.toolCall.findFirst({ where: { servedKind: 'question', slackTs: { not: null } } }));
    expect(call.arguments).toEqual({ title: 'Check the replacement chair', order: '1182' });

    // The App Home shows the servers (the one that is down too) and the call that waits.
    await sendSignedEvent(url, SIGNING_SECRET, { type: 'app_home_opened', user: ALICE, channel: 'D0ALICE', tab: 'home', event_ts: '1700000301.000100' });
    const [home] = await slack.waitFor('views.publish', 1);
    const view = JSON.stringify(home?.args.view);
    expect(view).toContain('Other systems (MCP)');
    expect(view).toContain('✅ tickets: 3 tool(s)');
    expect(view).toMatch(/⚠️ calendar: unavailable: could not connect/);
    expect(view).toContain('create_ticket on tickets');

    const ran = tickets().length;
    await click(ALICE, String(call.slackTs), 'tool_call_approve', call.id);
    const answer = await waitUntil('the answer in the thread', () => slack.callsTo('chat.postMessage').slice(before).find((entry) => entry.args.thread_ts === '1700000300.000100' && String(entry.args.text).includes('Ticket T-')));
    expect(String(answer.args.text)).toContain('Order 1182 shipped by DHL');
    expect(String(answer.args.text)).toContain(`Ticket T-${ran + 1} opened: Check the replacement chair`);
    expect(tickets()).toHaveLength(ran + 1);
    const audited = await service.database.prisma.auditEntry.findMany({ where: { entityType: 'question', entityId: call.servedId }, orderBy: { id: 'asc' } });
    expect(audited.map((entry) => entry.action)).toEqual(['tool.called', 'tool.approval_requested', 'tool.approved', 'tool.succeeded', 'tool.called']);
  });
});
