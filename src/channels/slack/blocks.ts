import type { types } from '@slack/bolt';

type KnownBlock = types.KnownBlock;

/** Block Kit views for the approval flow. Pure functions: easy to read, easy to test. */

export const ACTION_APPROVE = 'draft_approve';
export const ACTION_REJECT = 'draft_reject';

export interface CardInput {
  fromName: string | null;
  fromAddress: string;
  subject: string;
  summary: string;
  forwardedBySlackUser?: string | null;
  forwardedByAddress?: string | null;
  instruction?: string | null;
}

/** Slack mrkdwn treats &, < and > as markup; email text must not be able to ping @channel or forge links. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function approvalCard(input: CardInput): { text: string; blocks: KnownBlock[] } {
  const sender = input.fromName ? `${input.fromName} <${input.fromAddress}>` : input.fromAddress;
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(`✉️ ${input.subject || '(no subject)'}`, 150) } },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*From*\n${escapeMrkdwn(sender)}` },
        { type: 'mrkdwn', text: `*Subject*\n${escapeMrkdwn(truncate(input.subject || '(no subject)', 300))}` },
      ],
    },
    { type: 'section', text: { type: 'mrkdwn', text: `*Summary*\n${escapeMrkdwn(truncate(input.summary, 2500))}` } },
  ];
  if (input.forwardedByAddress) {
    const who = input.forwardedBySlackUser ? `<@${input.forwardedBySlackUser}>` : escapeMrkdwn(input.forwardedByAddress);
    const note = input.instruction ? `: “${escapeMrkdwn(truncate(input.instruction, 500))}”` : '';
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `Forwarded by ${who}${note}` }] });
  }
  return { text: `New email from ${sender}: ${input.subject}`, blocks };
}

export interface DraftView {
  draftId: string;
  toAddress: string;
  subject: string;
  body: string;
  status: 'pending' | 'approved' | 'sending' | 'sent' | 'rejected' | 'failed';
  decidedBy?: string | null;
  decidedAt?: Date | null;
  error?: string | null;
}

/** The view of a stored draft. Structural, so blocks.ts stays free of the database layer. */
export function draftView(draft: {
  id: string;
  toAddress: string;
  subject: string;
  body: string;
  status: string;
  decidedBy: string | null;
  decidedAt: Date | null;
  error: string | null;
}): DraftView {
  return {
    draftId: draft.id,
    toAddress: draft.toAddress,
    subject: draft.subject,
    body: draft.body,
    status: draft.status as DraftView['status'],
    decidedBy: draft.decidedBy,
    decidedAt: draft.decidedAt,
    error: draft.error,
  };
}

export function formatTime(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function draftMessage(view: DraftView): { text: string; blocks: KnownBlock[] } {
  const blocks: KnownBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `*Draft reply* to ${escapeMrkdwn(view.toAddress)} — _${escapeMrkdwn(truncate(view.subject, 200))}_` } },
    { type: 'section', text: { type: 'mrkdwn', text: escapeMrkdwn(truncate(view.body, 2900)) } },
  ];
  const by = view.decidedBy ? `<@${view.decidedBy}>` : 'someone';
  const when = view.decidedAt ? formatTime(view.decidedAt) : '';
  switch (view.status) {
    case 'pending':
      blocks.push({
        type: 'actions',
        block_id: 'draft_actions',
        elements: [
          { type: 'button', action_id: ACTION_APPROVE, style: 'primary', text: { type: 'plain_text', text: 'Approve & send' }, value: view.draftId },
          { type: 'button', action_id: ACTION_REJECT, style: 'danger', text: { type: 'plain_text', text: 'Reject' }, value: view.draftId },
        ],
      });
      break;
    case 'approved':
    case 'sending':
      blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `⏳ Approved by ${by} at ${when} — sending…` }] });
      break;
    case 'sent':
      blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `✅ Approved by ${by} at ${when} — sent to ${escapeMrkdwn(view.toAddress)}` }] });
      break;
    case 'rejected':
      blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `🚫 Rejected by ${by} at ${when}` }] });
      break;
    case 'failed':
      blocks.push({
        type: 'context',
        elements: [{ type: 'mrkdwn', text: `⚠️ Approved by ${by} at ${when}, but sending failed: ${escapeMrkdwn(truncate(view.error ?? 'unknown error', 500))}` }],
      });
      break;
  }
  const statusText = view.status === 'pending' ? 'awaiting approval' : view.status;
  return { text: `Draft reply to ${view.toAddress} (${statusText})`, blocks };
}
