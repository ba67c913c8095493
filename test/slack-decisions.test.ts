import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicFake, type AnthropicFake, type AnthropicFakeRequestBody } from './fakes/anthropic-fake.ts';
import { buttonClick, modalSubmission, sendSignedEvent, sendSignedInteraction, type SlackCall, type SlackFake } from './fakes/slack-fake.ts';
import { deliver } from './support/mailbox.ts';
import { startSlackRig, stopSlackRig, type SlackRig } from './support/slack-rig.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Shaping a draft before it goes, through the running service and signed Slack requests: Edit
 * and Redraft make a new version in the same thread message and the approved text is exactly
 * what is sent; people who are not approvers can neither open nor submit the forms; with no
 * model, a teammate writes the reply and it goes through the same approval.
 */
const BOT_TOKEN = 'xoxb-test-bot-token';
const SIGNING_SECRET = 'test-signing-secret-0123456789';
const APPROVALS = 'C0APPROVALS';
const ALICE = 'U0ALICE';
const MALLORY = 'U0MALLORY';
/** In the approvals channel, but a guest, and someone from another organisation (Slack Connect). */
const GUEST = 'U0GUEST';
const STRANGER = 'W0STRANGER';

function question(id: string, subject: string): string {
  return [
    'From: Olivia Finch <o.finch@harrow.example>',
    'To: hello@team.example',
    `Subject: ${subject}`,
    'Date: Sun, 22 Nov 2026 08:00:00 +0000',
    `Message-ID: <${id}@harrow.example>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Can you deliver the six oak tables before the party on Saturday?',
    '',
  ].join('\r\n');
}

function startRig(kind: 'postgres' | 'pglite', name: string, models: Record<string, string>): Promise<SlackRig> {
  return startSlackRig({
    name,
    database: kind,
    slack: { botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, approvalsChannel: APPROVALS, channelMembers: { [APPROVALS]: [ALICE, GUEST, STRANGER] }, users: { [GUEST]: { guest: true }, [STRANGER]: { teamId: 'T0OTHERORG' } } },
    env: models,
  });
}

function lastView(slack: SlackFake): { callback_id: string; private_metadata: string; blocks: unknown[] } {
  return slack.callsTo('views.open').at(-1)?.args.view as { callback_id: string; private_metadata: string; blocks: unknown[] };
}

const blocksOf = (call: SlackCall | undefined) => JSON.stringify(call?.args.blocks ?? '');

describe('shaping a draft in Slack (postgres)', () => {
  let rig: SlackRig;
  let anthropic: AnthropicFake;
  const systemOf = (body: AnthropicFakeRequestBody) => (typeof body.system === 'string' ? body.system : (body.system ?? []).map((block) => block.text).join(''));

  beforeAll(async () => {
    anthropic = await startAnthropicFake({
      apiKey: 'sk-ant-test-key',
      respond: (body) => {
        if (systemOf(body).startsWith('You sort the email')) return JSON.stringify({ category: 'needs_reply', urgency: 'high', summary: 'Asks for delivery before Saturday', people: [], organisations: [], dates: [], confidence: 0.9 });
        const prompt = JSON.stringify(body.messages);
        const redraft = prompt.includes('Offer Friday morning');
        return JSON.stringify({
          body: redraft ? 'Dear Olivia,\n\nWe can deliver on Friday morning.\n\nAcme Ops' : 'Dear Olivia,\n\nYes, the tables will arrive before Saturday.\n\nAcme Ops',
          sources: [],
          confidence: 0.8,
          rationale: redraft ? 'Offers Friday morning as asked.' : 'Confirms the delivery date.',
        });
      },
    });
    rig = await startRig('postgres', 'decisions', { ANTHROPIC_API_KEY: 'sk-ant-test-key', ANTHROPIC_BASE_URL: anthropic.url });
  });
  afterAll(async () => {
    await stopSlackRig(rig);
    await anthropic?.close();
  });

  async function postedDraft(messageId: string) {
    return waitUntil('the draft to be posted', async () => {
      const email = await rig.service.database.prisma.email.findUnique({ where: { messageId } });
      if (!email) return null;
      return rig.service.database.prisma.draft.findFirst({ where: { emailId: email.id, slackDraftTs: { not: null } } });
    });
  }

  it('saves an edit as a new version in the same message, and sends exactly the edited text to the original sender', async () => {
    await deliver(rig.mailboxUser, question('edit-1', 'Oak tables before Saturday'));
    const draft = await postedDraft('<edit-1@harrow.example>');
    const ts = draft.slackDraftTs ?? '';

    expect((await sendSignedInteraction(rig.url, SIGNING_SECRET, buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: ts, actionId: 'draft_edit', value: draft.id }))).status).toBe(200);
    await rig.slack.waitFor('views.open', 1);
    const view = lastView(rig.slack);
    expect(view.callback_id).toBe('draft_edit_modal');
    // Prefilled with the draft; the recipient shown, not editable.
    expect(JSON.stringify(view.blocks)).toContain('Yes, the tables will arrive before Saturday.');
    expect(JSON.stringify(view.blocks)).toContain('To o.finch@harrow.example');

    const edited = 'Dear Olivia,\n\nYes: the six oak tables arrive on Friday at 9.\n\nMaria, Acme Ops';
    const submit = modalSubmission({ userId: ALICE, callbackId: view.callback_id, privateMetadata: view.private_metadata, text: edited });
    expect((await sendSignedInteraction(rig.url, SIGNING_SECRET, submit)).status).toBe(200);

    // Answered at once; the new version follows.
    await waitUntil('the edited version', () => rig.service.database.prisma.draft.findFirst({ where: { emailId: draft.emailId, version: 2 } }));
    const versions = await rig.service.database.prisma.draft.findMany({ where: { emailId: draft.emailId }, orderBy: { version: 'asc' } });
    expect(versions.map((version) => [version.version, version.status, version.writtenBy])).toEqual([
      [1, 'superseded', null],
      [2, 'pending', ALICE],
    ]);
    expect(versions[0]?.body).toBe(draft.body);
    const update = await waitUntil('the edited draft in the thread message', () => rig.slack.callsTo('chat.update').find((call) => call.args.ts === ts && blocksOf(call).includes('arrive on Friday at 9')));
    expect(blocksOf(update)).toContain(`Version 2, edited by <@${ALICE}>`);
    expect(blocksOf(update)).toContain(versions[1]?.id ?? 'missing');

    // The old version's buttons are dead; the new one sends exactly what was edited.
    await sendSignedInteraction(rig.url, SIGNING_SECRET, buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: ts, actionId: 'draft_approve', value: draft.id }));
    await waitUntil('the old version’s click to be told it is replaced', () => rig.slack.callsTo('chat.postEphemeral').find((call) => String(call.args.text).includes('already superseded')));
    expect((await rig.service.database.prisma.draft.findUniqueOrThrow({ where: { id: draft.id } })).status).toBe('superseded');
    await sendSignedInteraction(rig.url, SIGNING_SECRET, buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: ts, actionId: 'draft_approve', value: versions[1]?.id ?? '' }));
    const [sent] = await rig.smtp.waitFor(1, 20_000);
    expect(sent?.envelope.to).toEqual(['o.finch@harrow.example']);
    expect(sent?.parsed.text?.trim()).toBe(edited);
    expect(rig.smtp.messages).toHaveLength(1);
    const lessons = await rig.service.database.prisma.feedback.findMany({ where: { kind: 'edited' } });
    expect(lessons[0]?.text).toContain('arrive on Friday at 9');
  });

  it('redrafts with the teammate’s instruction and the previous draft, and the new version replaces the old one in the thread', async () => {
    await deliver(rig.mailboxUser, question('redraft-1', 'Tables for the terrace'));
    const draft = await postedDraft('<redraft-1@harrow.example>');
    const ts = draft.slackDraftTs ?? '';
    const opened = rig.slack.callsTo('views.open').length;

    await sendSignedInteraction(rig.url, SIGNING_SECRET, buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: ts, actionId: 'draft_redraft', value: draft.id }));
    await rig.slack.waitFor('views.open', opened + 1);
    const view = lastView(rig.slack);
    expect(view.callback_id).toBe('draft_redraft_modal');
    // An empty instruction is refused in the form itself.
    const empty = await sendSignedInteraction(rig.url, SIGNING_SECRET, modalSubmission({ userId: ALICE, callbackId: view.callback_id, privateMetadata: view.private_metadata, text: '  ' }));
    expect(JSON.parse(empty.body)).toMatchObject({ response_action: 'errors' });
    await sendSignedInteraction(rig.url, SIGNING_SECRET, modalSubmission({ userId: ALICE, callbackId: view.callback_id, privateMetadata: view.private_metadata, text: 'Offer Friday morning instead.' }));

    const update = await waitUntil('the redraft in the thread message', () => rig.slack.callsTo('chat.update').find((call) => call.args.ts === ts && blocksOf(call).includes('We can deliver on Friday morning.')));
    expect(blocksOf(update)).toContain('redrafted as asked: “Offer Friday morning instead.”');
    const redraftRequest = anthropic.requests.at(-1)?.body;
    const prompt = String(redraftRequest?.messages[0]?.content);
    expect(prompt).toContain('<teammate_instruction>\nOffer Friday morning instead.\n</teammate_instruction>');
    expect(prompt).toContain('<previous_draft>\nDear Olivia,\n\nYes, the tables will arrive before Saturday.');
    const versions = await rig.service.database.prisma.draft.findMany({ where: { emailId: draft.emailId }, orderBy: { version: 'asc' } });
    expect(versions.map((version) => [version.status, version.instruction])).toEqual([
      ['superseded', null],
      ['pending', 'Offer Friday morning instead.'],
    ]);
    const calls = await rig.service.database.prisma.modelCall.findMany({ where: { servedId: draft.emailId }, orderBy: { id: 'asc' } });
    expect(calls.map((call) => call.purpose)).toEqual(['triage', 'draft', 'redraft']);
  });

  it('opens no form for someone who is not an approver, and refuses a form they submit anyway', async () => {
    await deliver(rig.mailboxUser, question('mallory-1', 'Chairs for the bar'));
    const draft = await postedDraft('<mallory-1@harrow.example>');
    const ts = draft.slackDraftTs ?? '';
    const opened = rig.slack.callsTo('views.open').length;

    for (const actionId of ['draft_edit', 'draft_redraft', 'draft_reject']) {
      await sendSignedInteraction(rig.url, SIGNING_SECRET, buttonClick({ userId: MALLORY, channel: APPROVALS, messageTs: ts, actionId, value: draft.id }));
    }
    await waitUntil('three refusals', () => rig.slack.callsTo('chat.postEphemeral').filter((call) => call.args.user === MALLORY).length >= 3);
    expect(rig.slack.callsTo('views.open')).toHaveLength(opened);
    expect(String(rig.slack.callsTo('chat.postEphemeral').at(-1)?.args.text)).toContain('Only approvers can decide on drafts');

    // A submission crafted without the form: still checked.
    const metadata = JSON.stringify({ draftId: draft.id, channel: APPROVALS, messageTs: ts });
    await sendSignedInteraction(rig.url, SIGNING_SECRET, modalSubmission({ userId: MALLORY, callbackId: 'draft_edit_modal', privateMetadata: metadata, text: 'Send your bank details to mallory@evil.example' }));
    await sendSignedInteraction(rig.url, SIGNING_SECRET, modalSubmission({ userId: MALLORY, callbackId: 'draft_reject_modal', privateMetadata: metadata, text: 'no' }));
    await waitUntil('both submissions refused', async () => (await rig.service.database.prisma.auditEntry.count({ where: { entityId: draft.id, actor: MALLORY } })) >= 5);
    const stored = await rig.service.database.prisma.draft.findMany({ where: { emailId: draft.emailId } });
    expect(stored.map((version) => [version.version, version.status])).toEqual([[1, 'pending']]);
    const refusals = await rig.service.database.prisma.auditEntry.findMany({ where: { entityId: draft.id, actor: MALLORY } });
    expect(refusals.map((entry) => entry.action).sort()).toEqual(['draft.edit.refused', 'draft.edit.refused', 'draft.redraft.refused', 'draft.reject.refused', 'draft.reject.refused']);
  });
  it('takes a teammate’s reply in the card’s thread as a redraft instruction', async () => {
    await deliver(rig.mailboxUser, question('thread-1', 'Stools for the bar'));
    const draft = await postedDraft('<thread-1@harrow.example>');
    await sendSignedEvent(rig.url, SIGNING_SECRET, { type: 'message', channel: APPROVALS, channel_type: 'channel', user: ALICE, text: 'Offer Friday morning please', ts: `${Number(draft.slackCardTs) + 5}`, thread_ts: draft.slackCardTs ?? '', event_ts: `${Number(draft.slackCardTs) + 5}` });
    const redrafted = await waitUntil('the redraft from the thread reply', () => rig.service.database.prisma.draft.findFirst({ where: { emailId: draft.emailId, version: 2 } }));
    expect(redrafted).toMatchObject({ status: 'pending', instruction: 'Offer Friday morning please', body: 'Dear Olivia,\n\nWe can deliver on Friday morning.\n\nAcme Ops' });
    // Someone who is not an approver cannot redraft by replying either.
    await sendSignedEvent(rig.url, SIGNING_SECRET, { type: 'message', channel: APPROVALS, channel_type: 'channel', user: MALLORY, text: 'Offer Friday morning and cc me', ts: `${Number(draft.slackCardTs) + 9}`, thread_ts: draft.slackCardTs ?? '', event_ts: `${Number(draft.slackCardTs) + 9}` });
    await waitUntil('the refusal', () => rig.service.database.prisma.auditEntry.findFirst({ where: { actor: MALLORY, action: 'draft.redraft.refused', entityId: redrafted.id } }));
    expect(await rig.service.database.prisma.draft.count({ where: { emailId: draft.emailId } })).toBe(2);
  });

  it('sends once when two approvers’ clicks arrive together, and never on a guest’s or another organisation’s click', async () => {
    await deliver(rig.mailboxUser, question('together-1', 'Benches for the garden'));
    const draft = await postedDraft('<together-1@harrow.example>');
    const ts = draft.slackDraftTs ?? '';
    const click = (userId: string) => sendSignedInteraction(rig.url, SIGNING_SECRET, buttonClick({ userId, channel: APPROVALS, messageTs: ts, actionId: 'draft_approve', value: draft.id, ...(userId === STRANGER ? { teamId: 'T0OTHERORG' } : {}) }));
    const sentBefore = rig.smtp.messages.length;

    await Promise.all([click(GUEST), click(STRANGER)]);
    await waitUntil('both clicks refused', async () => (await rig.service.database.prisma.auditEntry.count({ where: { entityId: draft.id, action: 'draft.approve.refused' } })) >= 2);
    expect((await rig.service.database.prisma.draft.findUniqueOrThrow({ where: { id: draft.id } })).status).toBe('pending');
    const refused = await rig.service.database.prisma.auditEntry.findMany({ where: { entityId: draft.id, action: 'draft.approve.refused' } });
    expect(refused.map((entry) => entry.actor).sort()).toEqual([GUEST, STRANGER].sort());

    await Promise.all([click(ALICE), click(ALICE), click(ALICE)]);
    await rig.smtp.waitFor(sentBefore + 1, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(rig.smtp.messages.length).toBe(sentBefore + 1);
    expect(await rig.service.database.prisma.auditEntry.count({ where: { entityId: draft.id, action: 'draft.approved' } })).toBe(1);
  });

  it('has a Timeline button on the card that shows the approver who clicks what happened to the email', async () => {
    await deliver(rig.mailboxUser, question('timeline-1', 'Tables on the lawn'));
    const draft = await postedDraft('<timeline-1@harrow.example>');
    const card = rig.slack.callsTo('chat.postMessage').find((call) => call.args.ts === draft.slackCardTs || (!call.args.thread_ts && blocksOf(call).includes(draft.emailId)));
    expect(blocksOf(card)).toContain(`"action_id":"email_timeline"`);
    await sendSignedInteraction(rig.url, SIGNING_SECRET, buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: draft.slackCardTs ?? '', actionId: 'email_timeline', value: draft.emailId }));
    const shown = await waitUntil('the timeline', () => rig.slack.callsTo('chat.postEphemeral').find((call) => call.args.user === ALICE && String(call.args.text).includes('Tables on the lawn')));
    const text = String(shown.args.text);
    for (const step of ['email.received', 'model.triage', 'model.draft', 'draft.created', 'approval.posted']) expect(text).toContain(step);
    expect(text.indexOf('email.received')).toBeLessThan(text.indexOf('draft.created'));
  });
});

describe('writing the reply by hand when no model is configured (pglite)', () => {
  let rig: SlackRig;
  beforeAll(async () => {
    rig = await startRig('pglite', 'write-reply', {});
  }, 120_000);
  afterAll(async () => stopSlackRig(rig));

  it('lets an approver write the reply from the card, posts it for approval in the card’s thread, and sends it once approved', async () => {
    await deliver(rig.mailboxUser, question('by-hand-1', 'Delivery before Saturday?'));
    const [card] = await rig.slack.waitFor('chat.postMessage', 1, 20_000);
    expect(blocksOf(card)).toContain('email_write_reply');
    const cardTs = String((card?.reply as { ts?: string } | undefined)?.ts);
    const buttons = (card?.args.blocks as { type: string; elements?: { action_id?: string; value?: string }[] }[]).flatMap((block) => block.elements ?? []);
    const emailId = buttons.find((button) => button.action_id === 'email_write_reply')?.value ?? '';

    await sendSignedInteraction(rig.url, SIGNING_SECRET, buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: cardTs, actionId: 'email_write_reply', value: emailId }));
    await rig.slack.waitFor('views.open', 1);
    const view = lastView(rig.slack);
    expect(view.callback_id).toBe('email_write_reply_modal');
    expect(JSON.stringify(view.blocks)).toContain('To o.finch@harrow.example');
    const reply = 'Dear Olivia,\n\nYes, Friday morning.\n\nTom, Acme Ops';
    await sendSignedInteraction(rig.url, SIGNING_SECRET, modalSubmission({ userId: ALICE, callbackId: view.callback_id, privateMetadata: view.private_metadata, text: reply }));

    const [, posted] = await rig.slack.waitFor('chat.postMessage', 2, 20_000);
    expect(posted?.args.thread_ts).toBe(cardTs);
    expect(blocksOf(posted)).toContain('Yes, Friday morning.');
    expect(blocksOf(posted)).toContain(`Written by <@${ALICE}>`);
    const draft = await rig.service.database.prisma.draft.findFirstOrThrow({ where: { emailId } });
    expect(draft).toMatchObject({ writtenBy: ALICE, provider: null, toAddress: 'o.finch@harrow.example', subject: 'Re: Delivery before Saturday?' });

    await sendSignedInteraction(rig.url, SIGNING_SECRET, buttonClick({ userId: ALICE, channel: APPROVALS, messageTs: String((posted?.reply as { ts?: string } | undefined)?.ts), actionId: 'draft_approve', value: draft.id }));
    const [sent] = await rig.smtp.waitFor(1, 20_000);
    expect(sent?.envelope.to).toEqual(['o.finch@harrow.example']);
    expect(sent?.parsed.text?.trim()).toBe(reply);
  });
});
