import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicFake, type AnthropicFake, type AnthropicFakeRequestBody } from './fakes/anthropic-fake.ts';
import { buttonClick, modalSubmission, sendSignedInteraction, type SlackCall, type SlackRateLimit } from './fakes/slack-fake.ts';
import { deliver } from './support/mailbox.ts';
import { startSlackRig, stopSlackRig, type SlackRig } from './support/slack-rig.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Who may decide, through the running service and signed Slack requests. The approver check's
 * own Slack lookups (channel members, a person's account) wait out a 429 like every other call,
 * so a rate limit delays a click instead of failing it; and with SLACK_APPROVERS set, only the
 * people listed decide, whoever else is in the approvals channel, on buttons and forms alike.
 */
const BOT_TOKEN = 'xoxb-test-bot-token';
const SIGNING_SECRET = 'test-signing-secret-0123456789';
const APPROVALS = 'C0APPROVALS';
const ALICE = 'U0ALICE';
const CAROL = 'U0CAROL';
/** A full member of the workspace and of the approvals channel, but not in SLACK_APPROVERS. */
const BOB = 'U0BOB';
const REFUSAL = 'Only approvers can decide on drafts';

function email(id: string, subject: string, text: string): string {
  return [
    'From: Olivia Finch <o.finch@harrow.example>',
    'To: hello@team.example',
    `Subject: ${subject}`,
    'Date: Sun, 22 Nov 2026 08:00:00 +0000',
    `Message-ID: <${id}@harrow.example>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    text,
    '',
  ].join('\r\n');
}
const question = (id: string, subject: string) => email(id, subject, 'Can you deliver the six oak tables before the party on Saturday?');

const systemOf = (body: AnthropicFakeRequestBody) => (typeof body.system === 'string' ? body.system : (body.system ?? []).map((block) => block.text).join(''));

/** Triage: "Opening hours" mail is for information only (no draft); everything else needs a reply. */
function respond(body: AnthropicFakeRequestBody): string {
  const prompt = JSON.stringify(body.messages);
  if (systemOf(body).startsWith('You sort the email')) {
    const fyi = prompt.includes('Opening hours');
    return JSON.stringify({ category: fyi ? 'fyi' : 'needs_reply', urgency: 'normal', summary: fyi ? 'New opening hours' : 'Asks for delivery before Saturday', people: [], organisations: [], dates: [], confidence: 0.9 });
  }
  const redraft = prompt.includes('Offer Friday morning');
  return JSON.stringify({
    body: redraft ? 'Dear Olivia,\n\nWe can deliver on Friday morning.\n\nAcme Ops' : 'Dear Olivia,\n\nYes, the tables will arrive before Saturday.\n\nAcme Ops',
    sources: [],
    confidence: 0.8,
    rationale: 'Answers the question.',
  });
}

interface Rig extends SlackRig {
  anthropic: AnthropicFake;
}

async function startRig(name: string, options: { members: string[]; approvers?: string[]; rateLimit?: SlackRateLimit[] }): Promise<Rig> {
  const anthropic = await startAnthropicFake({ apiKey: 'sk-ant-test-key', respond });
  const rig = await startSlackRig({
    name,
    slack: { botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, approvalsChannel: APPROVALS, channelMembers: { [APPROVALS]: options.members }, ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}) },
    env: { ...(options.approvers ? { SLACK_APPROVERS: options.approvers.join(',') } : {}), ANTHROPIC_API_KEY: 'sk-ant-test-key', ANTHROPIC_BASE_URL: anthropic.url },
  });
  return { ...rig, anthropic };
}

async function stopRig(rig: Rig | undefined): Promise<void> {
  await stopSlackRig(rig);
  await rig?.anthropic.close();
}

async function postedDraft(rig: Rig, messageId: string) {
  return waitUntil('the draft to be posted', async () => {
    const found = await rig.service.database.prisma.email.findUnique({ where: { messageId } });
    if (!found) return null;
    return rig.service.database.prisma.draft.findFirst({ where: { emailId: found.id, slackDraftTs: { not: null } } });
  });
}

const approve = (rig: Rig, userId: string, draft: { id: string; slackDraftTs: string | null }) =>
  sendSignedInteraction(rig.url, SIGNING_SECRET, buttonClick({ userId, channel: APPROVALS, messageTs: draft.slackDraftTs ?? '', actionId: 'draft_approve', value: draft.id }));

const ephemeralsTo = (rig: Rig, userId: string) => rig.slack.callsTo('chat.postEphemeral').filter((call) => call.args.user === userId);

describe('the approver check under Slack rate limits', () => {
  let rig: Rig;
  // One call per method per five seconds: whoever calls second in a window gets a 429.
  const rateLimit: SlackRateLimit[] = [
    { method: 'conversations.members', limit: 1, windowSeconds: 5 },
    { method: 'users.info', limit: 1, windowSeconds: 5 },
  ];

  beforeAll(async () => {
    rig = await startRig('approver-429', { members: [ALICE, CAROL], rateLimit });
  });
  afterAll(async () => stopRig(rig));

  /**
   * Another replica of Adjutant, on the same token, spends a method's budget (Slack's limits are
   * per app and workspace): the service's next call in the window gets a 429.
   */
  async function spendBudget(method: string, args: Record<string, string>): Promise<void> {
    for (;;) {
      const response = await fetch(`${rig.slack.apiUrl}${method}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${BOT_TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(args).toString(),
      });
      if (response.status !== 429) return;
      await sleep(Number(response.headers.get('retry-after')) * 1000);
    }
  }

  /** The service's calls to one method: a 429 first, then one answered no sooner than its Retry-After. */
  function expectWaitedOut(calls: SlackCall[]): void {
    expect(calls.map((call) => call.status ?? 200)).toEqual([429, 200]);
    const [limited, answered] = calls as [SlackCall, SlackCall];
    expect(limited.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((answered.at ?? 0) - (limited.at ?? 0)).toBeGreaterThanOrEqual((limited.retryAfterSeconds ?? 0) * 1000);
  }

  async function expectSentOnce(draftId: string, userId: string, sentBefore: number): Promise<void> {
    const sent = await rig.smtp.waitFor(sentBefore + 1, 20_000);
    expect(sent.at(-1)?.envelope.to).toEqual(['o.finch@harrow.example']);
    await sleep(1000);
    expect(rig.smtp.messages).toHaveLength(sentBefore + 1);
    const audit = await rig.service.database.prisma.auditEntry.findMany({ where: { entityId: draftId, action: { in: ['draft.approved', 'draft.approve.refused'] } } });
    expect(audit.map((entry) => [entry.action, entry.actor])).toEqual([['draft.approved', userId]]);
    expect(ephemeralsTo(rig, userId).map((call) => String(call.args.text))).toEqual([]);
  }

  it('approves once, after waiting out a 429 on the approvals channel’s member list', { timeout: 60_000 }, async () => {
    await deliver(rig.mailboxUser, question('members-429', 'Oak tables before Saturday'));
    const draft = await postedDraft(rig, '<members-429@harrow.example>');
    await spendBudget('conversations.members', { channel: APPROVALS });
    const from = rig.slack.callsTo('conversations.members').length;

    expect((await approve(rig, ALICE, draft)).status).toBe(200);
    await expectSentOnce(draft.id, ALICE, 0);
    expectWaitedOut(rig.slack.callsTo('conversations.members').slice(from));
  });

  it('approves once, after waiting out a 429 on the person’s account', { timeout: 60_000 }, async () => {
    await deliver(rig.mailboxUser, question('account-429', 'Chairs for the terrace'));
    const draft = await postedDraft(rig, '<account-429@harrow.example>');
    const sentBefore = rig.smtp.messages.length;
    await spendBudget('users.info', { user: 'U0REPLICA' });
    const from = rig.slack.callsTo('users.info').length;

    expect((await approve(rig, CAROL, draft)).status).toBe(200);
    await expectSentOnce(draft.id, CAROL, sentBefore);
    expectWaitedOut(rig.slack.callsTo('users.info').slice(from).filter((call) => call.args.user === CAROL));
  });
});

describe('SLACK_APPROVERS: only the people listed decide', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('approver-list', { members: [ALICE, BOB], approvers: [ALICE] });
  });
  afterAll(async () => stopRig(rig));

  /** The refusal Bob is shown, in the approvals channel, after `before` earlier ones. */
  async function refusalShown(before: number): Promise<void> {
    const told = await waitUntil('the refusal shown to Bob', () => ephemeralsTo(rig, BOB).at(before));
    expect(told.args.channel).toBe(APPROVALS);
    expect(String(told.args.text)).toContain(REFUSAL);
  }

  const auditOf = (entityId: string, actor: string) => rig.service.database.prisma.auditEntry.findMany({ where: { entityId, actor }, orderBy: { id: 'asc' } });

  it('refuses an Approve click from a channel member who is not listed, and sends nothing', async () => {
    await deliver(rig.mailboxUser, question('list-approve', 'Oak tables before Saturday'));
    const draft = await postedDraft(rig, '<list-approve@harrow.example>');
    const told = ephemeralsTo(rig, BOB).length;

    expect((await approve(rig, BOB, draft)).status).toBe(200);
    await refusalShown(told);
    await waitUntil('the refusal audited', async () => (await auditOf(draft.id, BOB)).length > 0);
    await sleep(1000);
    expect((await auditOf(draft.id, BOB)).map((entry) => entry.action)).toEqual(['draft.approve.refused']);
    expect((await rig.service.database.prisma.draft.findUniqueOrThrow({ where: { id: draft.id } })).status).toBe('pending');
    expect(rig.smtp.messages).toHaveLength(0);

    // The listed approver's click on the same draft goes through.
    await approve(rig, ALICE, draft);
    const [sent] = await rig.smtp.waitFor(1, 20_000);
    expect(sent?.envelope.to).toEqual(['o.finch@harrow.example']);
  });

  it('refuses a Redraft form submitted by someone not listed: nothing is redrafted', async () => {
    await deliver(rig.mailboxUser, question('list-redraft', 'Tables for the terrace'));
    const draft = await postedDraft(rig, '<list-redraft@harrow.example>');
    const told = ephemeralsTo(rig, BOB).length;
    const modelCalls = rig.anthropic.requests.length;
    const metadata = JSON.stringify({ draftId: draft.id, channel: APPROVALS, messageTs: draft.slackDraftTs });
    const submit = (userId: string) => sendSignedInteraction(rig.url, SIGNING_SECRET, modalSubmission({ userId, callbackId: 'draft_redraft_modal', privateMetadata: metadata, text: 'Offer Friday morning instead.' }));

    expect((await submit(BOB)).status).toBe(200);
    await refusalShown(told);
    await waitUntil('the refusal audited', async () => (await auditOf(draft.id, BOB)).length > 0);
    await sleep(1000);
    expect((await auditOf(draft.id, BOB)).map((entry) => entry.action)).toEqual(['draft.redraft.refused']);
    expect(await rig.service.database.prisma.agendaJob.count({ where: { name: 'draft.redraft' } })).toBe(0);
    expect(await rig.service.database.prisma.draft.count({ where: { emailId: draft.emailId } })).toBe(1);
    expect(rig.anthropic.requests.length).toBe(modelCalls);

    // The same form from the listed approver is redrafted: the refusal was Bob's, not the form's.
    await submit(ALICE);
    const redrafted = await waitUntil('Alice’s redraft', () => rig.service.database.prisma.draft.findFirst({ where: { emailId: draft.emailId, version: 2 } }));
    expect(redrafted.body).toContain('We can deliver on Friday morning.');
  });

  it('refuses a Write reply form submitted by someone not listed: no draft is made', async () => {
    await deliver(rig.mailboxUser, email('list-write', 'Opening hours over the holidays', 'We close at noon on the 24th.'));
    const target = await waitUntil('the email sorted as information only', () => rig.service.database.prisma.email.findFirst({ where: { messageId: '<list-write@harrow.example>', triageCategory: 'fyi' } }));
    const told = ephemeralsTo(rig, BOB).length;
    const metadata = JSON.stringify({ emailId: target.id, channel: APPROVALS, messageTs: null });
    const submit = (userId: string, text: string) => sendSignedInteraction(rig.url, SIGNING_SECRET, modalSubmission({ userId, callbackId: 'email_write_reply_modal', privateMetadata: metadata, text }));

    expect((await submit(BOB, 'Dear Olivia,\n\nSend the invoice to bob@evil.example.\n\nBob')).status).toBe(200);
    await refusalShown(told);
    await waitUntil('the refusal audited', async () => (await auditOf(target.id, BOB)).length > 0);
    await sleep(1000);
    expect((await auditOf(target.id, BOB)).map((entry) => entry.action)).toEqual(['email.write-reply.refused']);
    expect(await rig.service.database.prisma.draft.count({ where: { emailId: target.id } })).toBe(0);
    expect(rig.slack.callsTo('chat.postMessage').some((call) => JSON.stringify(call.args).includes('bob@evil.example'))).toBe(false);

    // The listed approver's reply to the same email is made and posted for approval.
    await submit(ALICE, 'Dear Olivia,\n\nThank you, noted.\n\nAlice');
    const written = await waitUntil('Alice’s written reply', () => rig.service.database.prisma.draft.findFirst({ where: { emailId: target.id } }));
    expect(written.writtenBy).toBe(ALICE);
  });
});
