import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelLedger } from '../src/brains/model-ledger.ts';
import type { ModelCallRecord } from '../src/brains/types.ts';
import { buttonClick, modalSubmission, sendSignedEvent, sendSignedInteraction, slackSignature, type SlackCall, type SlackFakeOptions } from './fakes/slack-fake.ts';
import { deliver } from './support/mailbox.ts';
import { startResponseCatcher, type ResponseCatcher } from './support/response-catcher.ts';
import { imapEnv } from './support/service-env.ts';
import { startSlackRig, stopSlackRig, type SlackRig } from './support/slack-rig.ts';
import { waitUntil } from './support/wait.ts';

/**
 * The team's control room, through the running service: the App Home a person opens (a signed
 * app_home_opened, the view Slack is asked to publish) and `/adjutant status` in a channel show
 * the drafts waiting for a decision oldest first with their age and a link to their card, the
 * mailbox watcher's health, the jobs that gave up (with Retry), and this week's model spend and
 * local share. Opening the tab is acknowledged at once even while Slack rate-limits views.publish.
 */
const BOT_TOKEN = 'xoxb-home-bot-token';
const SIGNING_SECRET = 'home-signing-secret-0123456789';
const APPROVALS = 'C0APPROVALS';
const ALICE = 'U0ALICE';
const BOB = 'U0BOB';
/** The fake's workspace URL (auth.test): links to cards are built from it. */
const WORKSPACE = 'https://fake.slack.test/';

function question(id: string, from: string, subject: string): string {
  return [
    `From: ${from}`,
    'To: hello@team.example',
    `Subject: ${subject}`,
    'Date: Sun, 22 Nov 2026 08:00:00 +0000',
    `Message-ID: <${id}@client.example>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Could you let us know by Friday?',
    '',
  ].join('\r\n');
}

async function startRig(name: string, options: { slack?: Omit<SlackFakeOptions, 'botToken'>; env?: Record<string, string>; waitForWatcher?: boolean } = {}): Promise<SlackRig> {
  return startSlackRig({
    name,
    slack: { botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, approvalsChannel: APPROVALS, channelMembers: { [APPROVALS]: [ALICE, BOB] }, ...options.slack },
    // No model: the ledger holds only the calls this test records, so the week's figures are known.
    env: { SLACK_MEMORY_CHANNELS: 'none', LLM_WEEKLY_BUDGET_USD: '20', ...options.env },
    waitForWatcher: options.waitForWatcher ?? true,
  });
}

const tsOf = (call: SlackCall | undefined) => String((call?.reply as { ts?: string } | undefined)?.ts);
/** The mrkdwn of the view's sections, and its buttons. */
function readView(call: SlackCall | undefined): { sections: string[]; buttons: { action_id: string; value: string; text: { text: string } }[] } {
  const blocks = ((call?.args.view as { blocks?: unknown[] } | undefined)?.blocks ?? []) as { type: string; text?: { text: string }; elements?: { action_id: string; value: string; text: { text: string } }[] }[];
  return {
    sections: blocks.filter((block) => block.type === 'section').map((block) => block.text?.text ?? ''),
    buttons: blocks.filter((block) => block.type === 'actions').flatMap((block) => block.elements ?? []),
  };
}
const section = (sections: string[], title: RegExp) => sections.find((text) => title.test(text.split('\n')[0] ?? '')) ?? '';

describe('the App Home and /adjutant status (postgres)', () => {
  let rig: SlackRig;
  let catcher: ResponseCatcher;

  beforeAll(async () => {
    catcher = await startResponseCatcher();
    rig = await startRig('home');
    await waitUntil('the watcher to watch the mailbox', () => rig.service.watcher?.health().state === 'watching');
  });
  afterAll(async () => {
    await stopSlackRig(rig);
    await catcher?.close();
  });

  /** An email that needs a reply, and the reply Alice writes on its card: a draft waiting for approval. */
  async function pendingDraft(id: string, from: string, subject: string) {
    const posts = rig.slack.callsTo('chat.postMessage').length;
    await deliver(rig.mailboxUser, question(id, from, subject));
    const card = await waitUntil(`the card for “${subject}”`, () => rig.slack.callsTo('chat.postMessage').slice(posts).find((call) => JSON.stringify(call.args.blocks).includes(subject)));
    const buttons = (card.args.blocks as { elements?: { action_id?: string; value?: string }[] }[]).flatMap((block) => block.elements ?? []);
    const emailId = buttons.find((button) => button.action_id === 'email_write_reply')?.value ?? '';
    const opened = rig.slack.callsTo('views.open').length;
    await sendSignedInteraction(rig.url, SIGNING_SECRET, buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: tsOf(card), actionId: 'email_write_reply', value: emailId }));
    const view = (await rig.slack.waitFor('views.open', opened + 1)).at(-1)?.args.view as { callback_id: string; private_metadata: string };
    await sendSignedInteraction(rig.url, SIGNING_SECRET, modalSubmission({ userId: ALICE, callbackId: view.callback_id, privateMetadata: view.private_metadata, text: `Dear customer,\n\nAbout ${subject}: yes.\n\nAlice` }));
    const draft = await waitUntil(`the draft for “${subject}”`, () => rig.service.database.prisma.draft.findFirst({ where: { emailId, status: 'pending' } }));
    return { draft, cardTs: tsOf(card) };
  }

  /** Make the email's first draft `interval` old (the drafts were just written; their ages are the point). */
  async function writtenAgo(emailId: string, interval: string): Promise<void> {
    await rig.service.database.pool.query(`UPDATE drafts SET created_at = now() - $2::interval WHERE email_id = $1::uuid`, [emailId, interval]);
  }

  async function statusCommand(): Promise<string> {
    const before = catcher.responses.length;
    const body = new URLSearchParams({
      token: 'legacy',
      team_id: 'T000FAKE',
      channel_id: 'C0GENERAL',
      channel_name: 'general',
      user_id: ALICE,
      user_name: 'alice',
      command: '/adjutant',
      text: 'status',
      response_url: catcher.url,
      trigger_id: '1234.5678.cmd',
      api_app_id: 'A000FAKE',
    }).toString();
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await fetch(rig.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': slackSignature(SIGNING_SECRET, timestamp, body) },
      body,
    });
    expect(response.status).toBe(200);
    const answer = await waitUntil('the answer to /adjutant status', () => catcher.responses[before]);
    expect(answer.response_type).toBe('in_channel');
    return String(answer.text);
  }

  it('shows the drafts waiting oldest first with age and card link, the mailbox, a job that gave up with Retry, and the week’s spend and local share; /adjutant status shows the same', async () => {
    // Written in this order; made old in another, so the list must follow age, not arrival.
    const chairs = await pendingDraft('home-chairs', 'Olivia Finch <o.finch@harrow.example>', 'Six oak chairs');
    const table = await pendingDraft('home-table', 'Ben Carter <ben@carter-arch.example>', 'Walnut table quote');
    const bench = await pendingDraft('home-bench', 'Dana Reyes <dana@reyes.example>', 'Garden bench delivery');
    await writtenAgo(chairs.draft.emailId, '3 hours');
    await writtenAgo(table.draft.emailId, '50 hours');
    await writtenAgo(bench.draft.emailId, '20 minutes');

    // A job whose retries are spent, as the queue leaves one.
    const dead = await rig.service.database.pool.query<{ id: string }>(
      `INSERT INTO agenda_jobs (name, data, priority, type, next_run_at, failed_at, fail_count, fail_reason)
       VALUES ('memory.refresh-contact', '{"key":"home-contact-1"}', 0, 'normal', NULL, now(), 11, 'DB_UNAVAILABLE: the contact summary could not be saved') RETURNING id::text`,
    );
    const jobId = dead.rows[0]?.id ?? '';

    // This week's calls, recorded by the ledger the router writes to: 3 local and 2 cloud calls
    // served ($1.25 + $0.50), one local call that failed (not served), and last week's call (not counted).
    const ledger = createModelLedger(rig.service.database.prisma);
    const call = (provider: 'ollama' | 'anthropic', costUsd: number, ok: boolean, servedId: string): ModelCallRecord => ({
      provider,
      model: provider === 'ollama' ? 'llama3.2' : 'claude-sonnet-4-5',
      tier: provider === 'ollama' ? 'routine' : 'hard',
      use: provider === 'ollama' ? 'triage' : 'draft',
      servedFor: { kind: 'email', id: servedId },
      inputTokens: 1000,
      outputTokens: 200,
      costUsd,
      latencyMs: 800,
      ok,
      ...(ok ? {} : { error: 'model unavailable' }),
    });
    for (const record of [call('ollama', 0, true, 'e1'), call('ollama', 0, true, 'e2'), call('ollama', 0, true, 'e3'), call('anthropic', 1.25, true, 'e1'), call('anthropic', 0.5, true, 'e2'), call('ollama', 0, false, 'e4'), call('anthropic', 9.99, true, 'last-week')]) {
      await ledger.record(record);
    }
    await rig.service.database.pool.query(`UPDATE model_calls SET at = now() - interval '8 days' WHERE served_id = 'last-week'`);

    const opened = await sendSignedEvent(rig.url, SIGNING_SECRET, { type: 'app_home_opened', user: ALICE, channel: 'D0ALICE', tab: 'home', event_ts: `${Date.now() / 1000}` });
    expect(opened.status).toBe(200);
    const [published] = await rig.slack.waitFor('views.publish', 1);
    expect(published?.args.user_id).toBe(ALICE);
    expect((published?.args.view as { type?: string }).type).toBe('home');
    const { sections, buttons } = readView(published);

    const link = (cardTs: string) => `${WORKSPACE}archives/${APPROVALS}/p${cardTs.replace('.', '')}`;
    const waiting = section(sections, /^\*Waiting for approval/);
    expect(waiting.split('\n')).toEqual([
      '*Waiting for approval (3)*',
      `• <${link(table.cardTs)}|Re: Walnut table quote> to ben@carter-arch.example, waiting 2 d`,
      `• <${link(chairs.cardTs)}|Re: Six oak chairs> to o.finch@harrow.example, waiting 3 h`,
      `• <${link(bench.cardTs)}|Re: Garden bench delivery> to dana@reyes.example, waiting 20 min`,
    ]);
    expect(section(sections, /^\*Mailbox\*/)).toBe(`*Mailbox*\n✅ watching ${rig.mailboxUser}@${imapEnv(rig.mailboxUser).IMAP_HOST}:${imapEnv(rig.mailboxUser).IMAP_PORT}/INBOX`);
    expect(section(sections, /^\*Jobs\*/)).toBe('*Jobs*\n• ⚠️ memory.refresh-contact gave up after 11 tries: DB_UNAVAILABLE: the contact summary could not be saved');
    expect(buttons).toEqual([expect.objectContaining({ action_id: `job_retry:${jobId}`, value: jobId, text: expect.objectContaining({ text: 'Retry memory.refresh-contact' }) })]);
    expect(section(sections, /^\*Models this week\*/)).toBe('*Models this week*\n$1.75 of $20.00 spent; 60% served locally (3 of 5 calls).');

    // The same overview in the channel: every section the tab shows, in the same order.
    const status = await statusCommand();
    for (const shown of sections) expect(status).toContain(shown);
    expect(status.indexOf('*Waiting for approval (3)*')).toBeLessThan(status.indexOf('*Mailbox*'));
    expect(status.indexOf('*Jobs*')).toBeLessThan(status.indexOf('*Models this week*'));
  });
});

describe('opening the App Home while Slack rate-limits views.publish (postgres)', () => {
  let rig: SlackRig;

  beforeAll(async () => {
    // One publish per 5 s: a second one within the window gets 429 with Retry-After.
    // The mailbox password is wrong, so the watcher cannot log in and the tab says so (its error log is expected).
    rig = await startRig('home-limited', { slack: { rateLimit: { method: 'views.publish', limit: 1, windowSeconds: 5 } }, env: { IMAP_PASSWORD: 'not-the-password', LOG_LEVEL: 'fatal' }, waitForWatcher: false });
    await waitUntil('the watcher to fail to log in', () => rig.service.watcher?.health().lastError?.includes('check IMAP_USER and IMAP_PASSWORD'));
  });
  afterAll(async () => stopSlackRig(rig));

  it('answers the event at once, and publishes the tab once Slack’s wait is over', async () => {
    await sendSignedEvent(rig.url, SIGNING_SECRET, { type: 'app_home_opened', user: ALICE, channel: 'D0ALICE', tab: 'home', event_ts: `${Date.now() / 1000}` });
    await rig.slack.waitFor('views.publish', 1);

    const started = Date.now();
    const opened = await sendSignedEvent(rig.url, SIGNING_SECRET, { type: 'app_home_opened', user: BOB, channel: 'D0BOB', tab: 'home', event_ts: `${Date.now() / 1000}` });
    const answeredMs = Date.now() - started;
    expect(opened.status).toBe(200);
    // Well within Slack's three seconds, though the publish waits out a longer Retry-After.
    expect(answeredMs).toBeLessThan(1500);
    const [, refused] = await rig.slack.waitFor('views.publish', 2);
    expect(refused?.status).toBe(429);
    expect(refused?.retryAfterSeconds).toBeGreaterThanOrEqual(3);

    const [, , published] = await rig.slack.waitFor('views.publish', 3, 15_000);
    expect(published?.status).toBeUndefined();
    expect(published?.args.user_id).toBe(BOB);
    expect((published?.at ?? 0) - (refused?.at ?? 0)).toBeGreaterThanOrEqual((refused?.retryAfterSeconds ?? 0) * 1000);
    const mailbox = section(readView(published).sections, /^\*Mailbox\*/);
    expect(mailbox).toMatch(/^\*Mailbox\*\n⚠️ (connecting|reconnecting): IMAP login to .+ failed: check IMAP_USER and IMAP_PASSWORD$/);
  });
});
