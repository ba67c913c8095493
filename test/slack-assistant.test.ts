import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { startService, type Service } from '../src/main.ts';
import { startAnthropicFake, type AnthropicFake } from './fakes/anthropic-fake.ts';
import { buttonClick, sendSignedEvent, sendSignedInteraction, slackSignature, startSlackFake, type SlackFake } from './fakes/slack-fake.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';
import { databaseEnv, slackEnv } from './support/service-env.ts';
import { startResponseCatcher, type ResponseCatcher } from './support/response-catcher.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Asking the memory from Slack, through the running service: `/adjutant` (signed like Slack,
 * acknowledged at once, answered through its response_url), @mentions answered in their thread
 * with the thread as the conversation (follow-ups there need no mention), direct messages, a
 * card's Timeline button, and the App Home overview.
 */
const BOT_TOKEN = 'xoxb-test-bot-token';
const SIGNING_SECRET = 'test-signing-secret-0123456789';
const APPROVALS = 'C0APPROVALS';
const ALICE = 'U0ALICE';
const MALLORY = 'U0MALLORY';
/** Not in SLACK_MEMORY_CHANNELS: what is remembered from #general comes from the bot's threads. */
const MEMORY_CHANNEL = 'C0ELSEWHERE';

describe('asking Adjutant in Slack (postgres)', () => {
  let database: TestDatabase;
  let slack: SlackFake;
  let anthropic: AnthropicFake;
  let catcher: ResponseCatcher;
  let service: Service;
  let config: ReturnType<typeof loadConfig>;
  let url: string;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    slack = await startSlackFake({ botToken: BOT_TOKEN, channelMembers: { [APPROVALS]: [ALICE] } });
    catcher = await startResponseCatcher();
    anthropic = await startAnthropicFake({
      apiKey: 'sk-ant-test-key',
      respond: (body) => {
        const prompt = JSON.stringify(body.messages);
        if (prompt.includes('delivery van')) return JSON.stringify({ answer: 'The van is serviced on Fridays [1].', cited: [1], confident: true });
        return JSON.stringify({ answer: 'The Wi-Fi password is oak-1234 [1].', cited: [1], confident: true });
      },
    });
    config = loadConfig({
      envFile: null,
      env: {
        ...databaseEnv(database),
        ...slackEnv({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, apiUrl: slack.apiUrl, approvalsChannel: APPROVALS }),
        SLACK_MEMORY_CHANNELS: MEMORY_CHANNEL,
        MAIL_FROM: 'Acme Ops <ops@team.example>',
        EMBEDDER: 'none',
        ANTHROPIC_API_KEY: 'sk-ant-test-key',
        ANTHROPIC_BASE_URL: anthropic.url,
      },
    });
    service = await startService(config, { host: '127.0.0.1', jobPollMs: 200, shutdownGraceMs: 1000 });
    url = `http://127.0.0.1:${service.port}/slack/events`;
  });

  afterAll(async () => {
    await service?.stop();
    await Promise.all([slack?.close(), anthropic?.close(), catcher?.close()]);
    await database?.drop();
  });

  async function command(text: string, channel = 'C0GENERAL'): Promise<Record<string, unknown>> {
    const before = catcher.responses.length;
    const body = new URLSearchParams({
      token: 'legacy',
      team_id: 'T000FAKE',
      channel_id: channel,
      channel_name: 'general',
      user_id: ALICE,
      user_name: 'alice',
      command: '/adjutant',
      text,
      response_url: catcher.url,
      trigger_id: '1234.5678.cmd',
      api_app_id: 'A000FAKE',
    }).toString();
    const timestamp = Math.floor(Date.now() / 1000);
    const started = Date.now();
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': slackSignature(SIGNING_SECRET, timestamp, body) },
      body,
    });
    expect(response.status).toBe(200);
    // Acknowledged well within Slack's three seconds, even when the answer takes longer.
    expect(Date.now() - started).toBeLessThan(3000);
    return waitUntil(`the answer to "/adjutant ${text}"`, () => catcher.responses[before]);
  }

  it('remembers a fact and answers a question about it with a numbered, linked source', async () => {
    const stored = await command('remember wifi password: oak-1234');
    expect(stored).toMatchObject({ response_type: 'in_channel' });
    expect(String(stored.text)).toBe('Remembered: “wifi password: oak-1234”.');

    const answer = await command('ask what is the wifi password?');
    expect(String(answer.text)).toContain('The Wi-Fi password is oak-1234');
    expect(String(answer.text)).toMatch(/Sources/);
    expect(String(answer.text)).toContain('wifi password');
    const modelCall = await service.database.prisma.modelCall.findFirst({ where: { purpose: 'answer' } });
    expect(modelCall).toMatchObject({ provider: 'anthropic', servedKind: 'question', ok: true });
  });

  it('says plainly when memory has nothing, lists matches for search, and shows help for anything else', async () => {
    const before = anthropic.requests.length;
    const nothing = await command('ask who won the 1998 regatta?');
    expect(String(nothing.text)).toMatch(/nothing/i);
    expect(anthropic.requests.length).toBe(before);

    const found = await command('search wifi');
    expect(String(found.text)).toContain('[1] wifi password: oak-1234');
    const help = await command('dance');
    expect(String(help.text)).toContain('I don’t know “dance”');
    expect(String(help.text)).toContain('/adjutant ask <question>');
    expect(String((await command('')).text)).toContain('/adjutant remember <subject>: <fact>');
  });

  it('answers privately when asked in a direct message, and shows status in the channel', async () => {
    const privately = await command('ask what is the wifi password?', 'D0ALICE');
    expect(privately).toMatchObject({ response_type: 'ephemeral' });
    const status = await command('status');
    expect(String(status.text)).toContain('*Waiting for approval (0)*');
    expect(String(status.text)).toContain('*Models this week*');
    expect(String(status.text)).toMatch(/served locally|no calls yet/);
    const briefing = await command('briefing');
    expect(briefing).toMatchObject({ response_type: 'in_channel' });
    expect(JSON.stringify(briefing.blocks)).toContain('Briefing (on demand)');
  });

  it('shows what happened to an email when status is given its subject', async () => {
    const email = await service.database.prisma.email.create({ data: { messageId: '<timeline-1@client.example>', mailbox: 'INBOX', fromAddress: 'dana@client.example', subject: 'Invoice for PO 7781', text: 'Hi', raw: Buffer.from('') } });
    await service.database.prisma.auditEntry.create({ data: { actor: 'imap-watcher', action: 'email.received', entityType: 'email', entityId: email.id, data: {} } });
    await service.database.prisma.auditEntry.create({ data: { actor: 'email.triage', action: 'email.triaged', entityType: 'email', entityId: email.id, data: { category: 'needs_reply' } } });
    await service.database.prisma.modelCall.create({ data: { provider: 'anthropic', model: 'claude-sonnet-5-5', tier: 'hard', purpose: 'draft', inputTokens: 1200, outputTokens: 300, costUsd: 0.0081, latencyMs: 900, ok: true, servedKind: 'email', servedId: email.id } });

    const shown = String((await command('status PO 7781')).text);
    expect(shown).toContain('*Invoice for PO 7781* from dana@client.example');
    expect(shown.indexOf('email.received')).toBeLessThan(shown.indexOf('email.triaged'));
    expect(shown).toMatch(/model\.draft · anthropic\/claude-sonnet-5-5 · \$0\.0081/);
    expect(String((await command('status no such thing')).text)).toBe('No email matches “no such thing”.');
  });

  /** A teammate's message in a channel, as Slack delivers it (a reply when `threadTs` is given). */
  const channelMessage = (input: { channel?: string; ts: string; threadTs?: string; text: string; user?: string }) => ({
    type: 'message',
    channel_type: 'channel',
    channel: input.channel ?? 'C0GENERAL',
    user: input.user ?? ALICE,
    text: input.text,
    ts: input.ts,
    event_ts: input.ts,
    ...(input.threadTs ? { thread_ts: input.threadTs } : {}),
  });
  /** What the bot posted in a thread after the first `from` posts. */
  const postedIn = (threadTs: string, from = 0) => slack.callsTo('chat.postMessage').slice(from).filter((call) => call.args.thread_ts === threadTs);
  /** The conversation part of the model request that carried `words`. */
  const conversationSent = (words: string) => {
    const prompt = anthropic.requests.map((request) => JSON.stringify(request.body?.messages)).find((messages) => messages.includes(words)) ?? '';
    return prompt.slice(prompt.indexOf('<conversation>'), prompt.indexOf('</conversation>'));
  };
  /** A mention that starts a thread, answered there; resolves with the answer's ts. */
  async function mentionAnswered(channel: string, ts: string, text: string): Promise<string> {
    const posts = slack.callsTo('chat.postMessage').length;
    await sendSignedEvent(url, SIGNING_SECRET, { type: 'app_mention', user: ALICE, text: `<@U000BOT> ${text}`, ts, channel, event_ts: ts });
    const answer = await waitUntil('the answer to the mention', () => postedIn(ts, posts)[0]);
    expect(answer.args.channel).toBe(channel);
    return String((answer.reply as { ts?: string } | undefined)?.ts);
  }
  /** The questions put to the model since request `from` (not the memory sent with them: replies in the bot's threads are remembered). */
  const questionsAsked = (from: number) => anthropic.requests.slice(from).map((request) => /<teammate_question>(.*?)<\/teammate_question>/.exec(JSON.stringify(request.body?.messages))?.[1] ?? '');
  const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('answers a mention in its thread, and a follow-up in that thread without a mention sees the conversation so far', async () => {
    await command('remember delivery van: serviced on Fridays at the Mill Road garage');
    const thread = '1700000000.000100';
    const posts = slack.callsTo('chat.postMessage').length;
    const answerTs = await mentionAnswered('C0GENERAL', thread, 'when is the delivery van serviced?');
    expect(String(postedIn(thread, posts)[0]?.args.text)).toContain('The van is serviced on Fridays');

    // A plain reply, as most people write one: no mention, only the thread.
    await sendSignedEvent(url, SIGNING_SECRET, channelMessage({ ts: String(Number(answerTs) + 1), threadTs: thread, text: 'and which garage does the delivery van go to?' }));
    const followUp = await waitUntil('the answer to the follow-up', () => postedIn(thread, posts)[1]);
    expect(followUp.args.channel).toBe('C0GENERAL');
    expect(String(followUp.args.text)).toContain('The van is serviced on Fridays');
    // The model saw the earlier answer in the thread as the conversation.
    expect(conversationSent('which garage does the delivery van go to')).toContain('The van is serviced on Fridays');
  });

  it('leaves alone a thread it never answered and a follow-up addressed to someone else, and answers a follow-up that mentions it once', async () => {
    const thread = '1700000010.000100';
    const posts = slack.callsTo('chat.postMessage').length;
    const answerTs = Number(await mentionAnswered('C0GENERAL', thread, 'when is the delivery van serviced?'));
    const requests = anthropic.requests.length;

    // Teammates talking among themselves: in a thread the bot is not in, and to Bob in its thread.
    await sendSignedEvent(url, SIGNING_SECRET, channelMessage({ ts: '1700000020.000200', threadTs: '1700000020.000100', text: 'is the delivery van back from the garage?' }));
    await sendSignedEvent(url, SIGNING_SECRET, channelMessage({ ts: String(answerTs + 1), threadTs: thread, text: '<@U0BOB> can you drive the delivery van to the garage?' }));
    // A follow-up that mentions the bot arrives twice, as Slack sends it: app_mention and message.
    const mentioned = String(answerTs + 2);
    await sendSignedEvent(url, SIGNING_SECRET, channelMessage({ ts: mentioned, threadTs: thread, text: '<@U000BOT> is the delivery van at the Mill Road garage?' }));
    await sendSignedEvent(url, SIGNING_SECRET, { type: 'app_mention', user: ALICE, text: '<@U000BOT> is the delivery van at the Mill Road garage?', ts: mentioned, thread_ts: thread, channel: 'C0GENERAL', event_ts: mentioned });
    await waitUntil('the answer to the follow-up that mentions the bot', () => postedIn(thread, posts)[1]);
    await settle(1500);

    expect(postedIn(thread, posts)).toHaveLength(2);
    expect(postedIn('1700000020.000100', posts)).toEqual([]);
    const asked = questionsAsked(requests);
    expect(asked.filter((question) => question.includes('at the Mill Road garage?'))).toHaveLength(1);
    expect(asked.some((question) => question.includes('back from the garage') || question.includes('can you drive'))).toBe(false);
  });

  it('remembers the replies in a thread it answered outside SLACK_MEMORY_CHANNELS, with their link, and reads an edit anew', async () => {
    const thread = '1700000030.000100';
    const answerTs = Number(await mentionAnswered('C0GENERAL', thread, 'when is the delivery van serviced?'));
    const reply = String(answerTs + 1);
    await sendSignedEvent(url, SIGNING_SECRET, channelMessage({ ts: reply, threadTs: thread, text: 'Does the delivery van still need its tyres checked on Tuesdays?' }));
    const link = `https://fake.slack.test/archives/C0GENERAL/p${reply.replace('.', '')}`;
    const found = await waitUntil('the reply in memory', async () => {
      const text = String((await command('search tyres Tuesdays')).text);
      return text.includes(link) && text;
    });
    // Search marks the words it matched: «tyres».
    expect(found).toContain('Does the delivery van still need its tyres');

    await sendSignedEvent(url, SIGNING_SECRET, {
      type: 'message',
      subtype: 'message_changed',
      channel: 'C0GENERAL',
      channel_type: 'channel',
      ts: String(answerTs + 5),
      event_ts: String(answerTs + 5),
      message: { type: 'message', user: ALICE, text: 'Does the delivery van still need its tyres checked on Thursdays?', ts: reply, thread_ts: thread, parent_user_id: ALICE },
      previous_message: { type: 'message', user: ALICE, text: 'Does the delivery van still need its tyres checked on Tuesdays?', ts: reply, thread_ts: thread, parent_user_id: ALICE },
    });
    const edited = await waitUntil('the edit in memory', async () => {
      const text = String((await command('search tyres Thursdays')).text);
      return text.includes('Thursdays') && text.includes(link) && text;
    });
    expect(edited).not.toContain('Tuesdays');
    expect(String((await command('search Tuesdays')).text)).toMatch(/nothing/i);
  });

  it('answers a direct message in the conversation with the bot', async () => {
    const posts = slack.callsTo('chat.postMessage').length;
    await sendSignedEvent(url, SIGNING_SECRET, { type: 'message', channel_type: 'im', channel: 'D0ALICE', user: ALICE, text: 'what is the wifi password?', ts: '1700000100.000100', event_ts: '1700000100.000100' });
    const [answer] = (await slack.waitFor('chat.postMessage', posts + 1)).slice(posts);
    expect(answer?.args.channel).toBe('D0ALICE');
    expect(String(answer?.args.text)).toContain('oak-1234');
  });

  it('shows a card’s Timeline to an approver, and refuses anyone else privately, with the refusal audited', async () => {
    const email = await service.database.prisma.email.create({ data: { messageId: '<timeline-2@client.example>', mailbox: 'INBOX', fromAddress: 'erin@client.example', subject: 'Pallet count for March', text: 'Hi', raw: Buffer.from('') } });
    await service.database.prisma.auditEntry.create({ data: { actor: 'imap-watcher', action: 'email.received', entityType: 'email', entityId: email.id, data: {} } });
    const ephemeralsTo = (user: string) => slack.callsTo('chat.postEphemeral').filter((call) => call.args.user === user).map((call) => String(call.args.text));

    await sendSignedInteraction(url, SIGNING_SECRET, buttonClick({ userId: MALLORY, channel: APPROVALS, messageTs: '1700000400.000100', actionId: 'email_timeline', value: email.id }));
    await waitUntil('the refusal in the audit log', () => service.database.prisma.auditEntry.findFirst({ where: { actor: MALLORY, action: 'email.timeline.refused', entityId: email.id } }));
    await waitUntil('the refusal, told to the person', () => ephemeralsTo(MALLORY).find((text) => /Only approvers/.test(text)));

    await sendSignedInteraction(url, SIGNING_SECRET, buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: '1700000400.000100', actionId: 'email_timeline', value: email.id }));
    const shown = await waitUntil('the timeline, shown to the approver', () => ephemeralsTo(ALICE).find((text) => text.includes('Pallet count for March')));
    expect(shown).toContain('*Pallet count for March* from erin@client.example');
    expect(shown).toContain('email.received');
    // Only to her: nothing of the email reached the one refused, and nothing was posted for all.
    expect(ephemeralsTo(MALLORY).some((text) => text.includes('Pallet count'))).toBe(false);
    expect(slack.callsTo('chat.postMessage').some((call) => String(call.args.text).includes('Pallet count'))).toBe(false);
  });

  it('publishes the App Home with what waits on the team, and an approver can run a job that gave up again from it', async () => {
    const dead = await service.database.pool.query<{ id: string }>(
      `INSERT INTO agenda_jobs (name, data, priority, type, next_run_at, failed_at, fail_count, fail_reason)
       VALUES ('legacy.export', '{"key":"home-1"}', 0, 'normal', NULL, now(), 11, 'SLACK_FAILED: channel_not_found') RETURNING id::text`,
    );
    const jobId = dead.rows[0]?.id ?? '';
    await sendSignedEvent(url, SIGNING_SECRET, { type: 'app_home_opened', user: ALICE, channel: 'D0ALICE', tab: 'home', event_ts: '1700000200.000100' });
    const [published] = await slack.waitFor('views.publish', 1);
    expect(published?.args.user_id).toBe(ALICE);
    const view = JSON.stringify(published?.args.view);
    expect(view).toContain('Waiting for approval (0)');
    expect(view).toContain('Mailbox');
    expect(view).toContain('Models this week');
    expect(view).toContain('legacy.export gave up after 11 tries: SLACK_FAILED: channel_not_found');
    expect(view).toContain(`"action_id":"job_retry:${jobId}"`);

    // Someone who is not an approver cannot; an approver can, and the tab is published again.
    await sendSignedInteraction(url, SIGNING_SECRET, buttonClick({ userId: 'U0MALLORY', channel: 'D0MALLORY', messageTs: '1700000200.000200', actionId: `job_retry:${jobId}`, value: jobId }));
    await waitUntil('the refusal', () => service.database.prisma.auditEntry.findFirst({ where: { actor: 'U0MALLORY', action: 'job.retry.refused', entityId: jobId } }));
    await sendSignedInteraction(url, SIGNING_SECRET, buttonClick({ userId: ALICE, channel: 'D0ALICE', messageTs: '1700000200.000300', actionId: `job_retry:${jobId}`, value: jobId }));
    await waitUntil('the job to be waiting to run again', async () => {
      const row = await service.database.pool.query<{ fail_count: number; next_run_at: Date | null }>('SELECT fail_count, next_run_at FROM agenda_jobs WHERE id = $1::uuid', [jobId]);
      return row.rows[0]?.fail_count === 0 && row.rows[0]?.next_run_at !== null;
    });
    const republished = await slack.waitFor('views.publish', 3);
    expect(JSON.stringify(republished.at(-1)?.args.view)).not.toContain(`job_retry:${jobId}`);
  });

  // Last: it restarts the service.
  it('answers a follow-up in a thread it answered before a restart', async () => {
    const thread = '1700000500.000100';
    const answerTs = Number(await mentionAnswered('C0GENERAL', thread, 'when is the delivery van serviced?'));
    await service.stop();
    service = await startService(config, { host: '127.0.0.1', jobPollMs: 200, shutdownGraceMs: 1000 });
    url = `http://127.0.0.1:${service.port}/slack/events`;

    const posts = slack.callsTo('chat.postMessage').length;
    await sendSignedEvent(url, SIGNING_SECRET, channelMessage({ ts: String(answerTs + 1), threadTs: thread, text: 'after the restart: which garage has the delivery van?' }));
    const followUp = await waitUntil('the answer to the follow-up after the restart', () => postedIn(thread, posts)[0]);
    expect(String(followUp.args.text)).toContain('The van is serviced on Fridays');
  });
});
