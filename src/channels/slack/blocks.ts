import type { types } from '@slack/bolt';

type KnownBlock = types.KnownBlock;

/** Block Kit views for the approval flow. Pure functions: easy to read, easy to test. */

export const ACTION_APPROVE = 'draft_approve';
export const ACTION_REJECT = 'draft_reject';
/** On a failed send (Retry) or one that may have gone out (Send again): send it on purpose. */
export const ACTION_RESEND = 'draft_resend';
export const ACTION_EDIT = 'draft_edit';
export const ACTION_REDRAFT = 'draft_redraft';
/** Under a sent reply that got no answer: draft a follow-up to it. */
export const ACTION_DRAFT_FOLLOW_UP = 'draft_follow_up';
/** On a card with no draft (no model configured): a person writes the reply. */
export const ACTION_WRITE_REPLY = 'email_write_reply';
/** On every card: what happened to this email so far, shown to the person who asks. */
export const ACTION_EMAIL_TIMELINE = 'email_timeline';

/** Modals (views) and their one input each. */
export const VIEW_EDIT = 'draft_edit_modal';
export const VIEW_REJECT = 'draft_reject_modal';
export const VIEW_REDRAFT = 'draft_redraft_modal';
export const VIEW_WRITE_REPLY = 'email_write_reply_modal';
/**
 * Forms whose listeners acknowledge with no content, whatever was typed (no field errors to show):
 * in HTTP mode the front thread answers them at once, as it does clicks (ack-thread.mjs). The
 * others can answer with field errors, so their answer waits for the listener.
 */
export const VIEWS_ANSWERED_AT_ONCE: readonly string[] = [VIEW_REJECT];
export const INPUT_BLOCK = 'text_block';
export const INPUT_ACTION = 'text';
/** Slack's limit for a plain-text input; a longer draft is not editable in Slack. */
export const MAX_INPUT_CHARS = 3000;

/** Slack message metadata marking our messages, so a retry finds what a crashed run posted. */
export const METADATA_CARD = 'adjutant_approval_card';
export const METADATA_DRAFT = 'adjutant_draft';

/** Slack's limit for one section's text; longer drafts are shown in several sections. */
const SECTION_TEXT_LIMIT = 3000;
/**
 * Longer than this, a draft is not offered for approval: it could not be shown whole in one
 * message (50 blocks, escaping can grow text fivefold). Drafts are capped well below it.
 */
export const MAX_SHOWN_DRAFT_CHARS = 12_000;

export interface CardInput {
  fromName: string | null;
  fromAddress: string;
  subject: string;
  summary: string;
  forwardedBySlackUser?: string | null;
  forwardedByAddress?: string | null;
  instruction?: string | null;
  /** Warnings the approver must see: an unverified sender, an original sender not recovered. */
  warnings?: string[];
  /** What triage made of direct mail. */
  triage?: CardTriage | null;
  /** Set on a card with no draft when a person should write the reply: the email's id. */
  writeReplyFor?: string | null;
  /** The email's id: the card's Timeline button shows what happened to it. */
  emailId?: string | null;
}

export interface CardTriage {
  category: string;
  urgency: string;
  by: string;
}

/** The triage shown on a card, from a stored email (structural: no database types here). */
export function triageOf(email: { triageCategory: string | null; triageUrgency: string | null; triagedBy: string | null }): CardTriage | null {
  if (!email.triageCategory || !email.triageUrgency) return null;
  return { category: email.triageCategory, urgency: email.triageUrgency, by: email.triagedBy ?? 'unknown' };
}

const CATEGORY_LABEL: Record<string, string> = {
  needs_reply: 'Needs a reply',
  task: 'Task',
  fyi: 'FYI',
  newsletter: 'Newsletter',
  automated: 'Automated',
  spam: 'Spam',
};

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
  if (input.triage) {
    const urgency = input.triage.urgency === 'high' ? '🔴 high urgency' : input.triage.urgency === 'low' ? 'low urgency' : 'normal urgency';
    const by = input.triage.by.startsWith('rule:') ? 'sorted by its headers' : input.triage.by.startsWith('model:') ? `sorted by ${input.triage.by.slice('model:'.length)}` : 'no model to sort it';
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `*${CATEGORY_LABEL[input.triage.category] ?? escapeMrkdwn(input.triage.category)}* · ${urgency} · ${escapeMrkdwn(by)}` }] });
  }
  if (input.forwardedByAddress) {
    const who = input.forwardedBySlackUser ? `<@${input.forwardedBySlackUser}>` : escapeMrkdwn(input.forwardedByAddress);
    const note = input.instruction ? `: “${escapeMrkdwn(truncate(input.instruction, 500))}”` : '';
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `Forwarded by ${who}${note}` }] });
  }
  for (const warning of input.warnings ?? []) {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `⚠️ ${escapeMrkdwn(truncate(warning, 500))}` }] });
  }
  const actions = [
    ...(input.writeReplyFor ? [{ type: 'button' as const, action_id: ACTION_WRITE_REPLY, style: 'primary' as const, text: { type: 'plain_text' as const, text: 'Write reply' }, value: input.writeReplyFor }] : []),
    ...(input.emailId ? [{ type: 'button' as const, action_id: ACTION_EMAIL_TIMELINE, text: { type: 'plain_text' as const, text: 'Timeline' }, value: input.emailId }] : []),
  ];
  if (actions.length > 0) blocks.push({ type: 'actions', block_id: 'email_actions', elements: actions });
  // The fallback text is read as markup too (and shown in notifications): escaped like the blocks.
  return { text: escapeMrkdwn(`New email from ${sender}: ${input.subject}`), blocks };
}

export interface DraftView {
  draftId: string;
  toAddress: string;
  subject: string;
  body: string;
  status: 'pending' | 'approved' | 'sending' | 'sent' | 'rejected' | 'failed' | 'unknown' | 'superseded';
  decidedBy?: string | null;
  /** Why it was rejected. */
  decisionNote?: string | null;
  /** The Slack user who wrote this version (an edit, or a reply by hand). */
  writtenBy?: string | null;
  /** The redraft instruction that produced it. */
  instruction?: string | null;
  version?: number;
  decidedAt?: Date | null;
  error?: string | null;
  /** The drafter's confidence (0..1) and one-line rationale, when a model wrote it. */
  confidence?: number | null;
  rationale?: string | null;
  /** The memory entries the draft relied on. */
  sources?: { n: number; kind: string; title: string; url: string | null; occurredAt: string | null }[];
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
  confidence?: number | null;
  rationale?: string | null;
  sources?: DraftView['sources'];
  decisionNote?: string | null;
  writtenBy?: string | null;
  instruction?: string | null;
  version?: number;
}): DraftView {
  return {
    decisionNote: draft.decisionNote ?? null,
    writtenBy: draft.writtenBy ?? null,
    instruction: draft.instruction ?? null,
    ...(draft.version === undefined ? {} : { version: draft.version }),
    confidence: draft.confidence ?? null,
    rationale: draft.rationale ?? null,
    sources: draft.sources ?? [],
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
  const tooLong = view.body.length > MAX_SHOWN_DRAFT_CHARS;
  const blocks: KnownBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `*Draft reply* to ${escapeMrkdwn(view.toAddress)} — _${escapeMrkdwn(truncate(view.subject, 200))}_` } },
    // The approver sees every character that would be sent: never a cut.
    ...bodySections(tooLong ? view.body.slice(0, MAX_SHOWN_DRAFT_CHARS) : view.body),
  ];
  blocks.push(...authorshipBlocks(view));
  blocks.push(...groundingBlocks(view));
  if (tooLong) {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `⚠️ This draft is ${view.body.length} characters, too long to show whole in Slack, so it cannot be approved here.` }] });
  }
  const by = view.decidedBy ? `<@${view.decidedBy}>` : 'someone';
  const when = view.decidedAt ? formatTime(view.decidedAt) : '';
  switch (view.status) {
    case 'pending':
      if (tooLong) break;
      blocks.push({
        type: 'actions',
        block_id: 'draft_actions',
        elements: [
          { type: 'button', action_id: ACTION_APPROVE, style: 'primary', text: { type: 'plain_text', text: 'Approve & send' }, value: view.draftId },
          { type: 'button', action_id: ACTION_EDIT, text: { type: 'plain_text', text: 'Edit' }, value: view.draftId },
          { type: 'button', action_id: ACTION_REDRAFT, text: { type: 'plain_text', text: 'Redraft' }, value: view.draftId },
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
      blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `🚫 Rejected by ${by} at ${when}${view.decisionNote ? `: “${escapeMrkdwn(truncate(view.decisionNote, 500))}”` : ''}` }] });
      break;
    case 'superseded':
      blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: 'Replaced by a newer version.' }] });
      break;
    case 'failed':
      blocks.push({
        type: 'context',
        elements: [{ type: 'mrkdwn', text: `⚠️ Approved by ${by} at ${when}, but sending failed: ${escapeMrkdwn(truncate(view.error ?? 'unknown error', 500))}` }],
      });
      blocks.push(resendButton(view.draftId, 'Retry'));
      break;
    case 'unknown':
      blocks.push({
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `❓ Approved by ${by} at ${when}. It *may have been sent*: ${escapeMrkdwn(truncate(view.error ?? 'the connection to the mail server broke after the message went out', 500))}. Check the recipient's thread or the Sent folder before sending again.`,
          },
        ],
      });
      blocks.push(resendButton(view.draftId, 'Send again'));
      break;
  }
  const statusText = view.status === 'pending' ? 'awaiting approval' : view.status === 'unknown' ? 'may have been sent' : view.status;
  return { text: escapeMrkdwn(`Draft reply to ${view.toAddress} (${statusText})`), blocks };
}

function resendButton(draftId: string, label: string): KnownBlock {
  return {
    type: 'actions',
    block_id: 'draft_resend',
    elements: [{ type: 'button', action_id: ACTION_RESEND, text: { type: 'plain_text', text: label }, value: draftId }],
  };
}

/**
 * The whole body as consecutive sections under Slack's per-section limit, split at line or word
 * boundaries where possible. Escaping happens before splitting so an entity is never cut in two.
 */
export function bodySections(body: string): KnownBlock[] {
  const escaped = escapeMrkdwn(body.trim() === '' ? '(empty)' : body);
  const sections: KnownBlock[] = [];
  let rest = escaped;
  while (rest.length > 0) {
    let cut = rest.length <= SECTION_TEXT_LIMIT ? rest.length : splitPoint(rest, SECTION_TEXT_LIMIT);
    if (cut <= 0) cut = SECTION_TEXT_LIMIT;
    sections.push({ type: 'section', text: { type: 'mrkdwn', text: rest.slice(0, cut) } });
    rest = rest.slice(cut);
  }
  return sections;
}

function splitPoint(text: string, limit: number): number {
  const window = text.slice(0, limit);
  for (const separator of ['\n\n', '\n', ' ']) {
    const at = window.lastIndexOf(separator);
    if (at > limit / 2) return at + separator.length;
  }
  // No boundary: cut before any entity that would straddle the limit.
  const amp = window.lastIndexOf('&');
  return amp > limit - 6 ? amp : limit;
}

/** What the card says when a reply target is in doubt (see replyTarget in the email store). */
export function cardWarnings(email: { claimedTeammate: string | null; senderVerification: string | null; isForward: boolean; originalFromMissing: boolean }): string[] {
  const warnings: string[] = [];
  if (email.claimedTeammate) {
    warnings.push(`Sender could not be verified: ${email.claimedTeammate} claims a team address, but ${email.senderVerification ?? 'the receiving server did not vouch for it'}. Handled as outside mail: its text is not an instruction.`);
  }
  if (email.isForward && email.originalFromMissing) {
    warnings.push('Original sender not recovered from the forward: no reply was drafted. Reply by hand, or forward the original as an attachment.');
  }
  return warnings;
}

/** Why the draft says what it says: confidence, rationale, and links to what it relied on. */
function groundingBlocks(view: DraftView): KnownBlock[] {
  const lines: string[] = [];
  if (typeof view.confidence === 'number') {
    const percent = Math.round(view.confidence * 100);
    lines.push(`${percent < 60 ? '⚠️ ' : ''}Confidence ${percent}%${view.rationale ? ` — ${escapeMrkdwn(truncate(view.rationale, 300))}` : ''}`);
  }
  const sources = view.sources ?? [];
  if (sources.length > 0) {
    const listed = sources.slice(0, 8).map((source) => {
      const title = escapeMrkdwn(truncate(source.title || '(untitled)', 80)).replace(/[|]/g, '¦');
      const when = source.occurredAt ? ` (${source.occurredAt.slice(0, 10)})` : '';
      // A link only when it cannot break out of Slack's <url|text> syntax.
      const linkable = source.url !== null && /^https?:\/\/[^\s<>|]+$/.test(source.url);
      return `${source.n}. ${linkable ? `<${source.url}|${title}>` : title}${when}`;
    });
    lines.push(`Sources: ${listed.join(' · ')}`);
  } else if (typeof view.confidence === 'number') {
    lines.push('Sources: nothing in memory was used');
  }
  return lines.length === 0 ? [] : [{ type: 'context', elements: [{ type: 'mrkdwn', text: truncate(lines.join('\n'), 2900) }] }];
}

/** Who shaped this version: a teammate's edit or hand-written reply, or a redraft they asked for. */
function authorshipBlocks(view: DraftView): KnownBlock[] {
  const version = view.version && view.version > 1 ? `Version ${view.version}` : null;
  let line: string | null = null;
  if (view.writtenBy) line = `${version ? `${version}, edited` : 'Written'} by <@${view.writtenBy}>`;
  else if (view.instruction) line = `${version ?? 'Redrafted'}: redrafted as asked: “${escapeMrkdwn(truncate(view.instruction, 300))}”`;
  return line ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: line }] }] : [];
}

/** What a modal carries back on submit: which draft or email, and the message to update. */
export interface ModalContext {
  draftId?: string;
  emailId?: string;
  channel: string | null;
  messageTs: string | null;
}

function modal(callbackId: string, title: string, submit: string, context: ModalContext, blocks: KnownBlock[]): types.ModalView {
  return {
    type: 'modal',
    callback_id: callbackId,
    private_metadata: JSON.stringify(context),
    title: { type: 'plain_text', text: title },
    submit: { type: 'plain_text', text: submit },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks,
  };
}

function textInput(label: string, options: { initial?: string; optional?: boolean; placeholder?: string; multiline?: boolean }): KnownBlock {
  return {
    type: 'input',
    block_id: INPUT_BLOCK,
    optional: options.optional ?? false,
    label: { type: 'plain_text', text: label },
    element: {
      type: 'plain_text_input',
      action_id: INPUT_ACTION,
      multiline: options.multiline ?? true,
      max_length: MAX_INPUT_CHARS,
      ...(options.initial === undefined ? {} : { initial_value: options.initial }),
      ...(options.placeholder === undefined ? {} : { placeholder: { type: 'plain_text', text: options.placeholder } }),
    },
  };
}

const recipientLine = (to: string, subject: string): KnownBlock => ({ type: 'context', elements: [{ type: 'mrkdwn', text: `To ${escapeMrkdwn(to)} — _${escapeMrkdwn(truncate(subject, 150))}_` }] });

/** Edit: the draft's text, editable; the recipient is shown and cannot be changed. */
export function editModal(draft: { id: string; toAddress: string; subject: string; body: string }, context: ModalContext): types.ModalView {
  return modal(VIEW_EDIT, 'Edit draft', 'Save', { ...context, draftId: draft.id }, [recipientLine(draft.toAddress, draft.subject), textInput('Reply', { initial: draft.body })]);
}

export function rejectModal(draft: { id: string; toAddress: string; subject: string }, context: ModalContext): types.ModalView {
  return modal(VIEW_REJECT, 'Reject draft', 'Reject', { ...context, draftId: draft.id }, [
    recipientLine(draft.toAddress, draft.subject),
    textInput('Why? (optional: later drafts learn from it)', { optional: true, placeholder: 'e.g. too formal; we never promise dates' }),
  ]);
}

export function redraftModal(draft: { id: string; toAddress: string; subject: string }, context: ModalContext): types.ModalView {
  return modal(VIEW_REDRAFT, 'Redraft', 'Redraft', { ...context, draftId: draft.id }, [
    recipientLine(draft.toAddress, draft.subject),
    textInput('What should change?', { placeholder: 'e.g. shorter, and offer a call on Friday' }),
  ]);
}

export function writeReplyModal(email: { id: string; toAddress: string; subject: string }, context: ModalContext): types.ModalView {
  return modal(VIEW_WRITE_REPLY, 'Write reply', 'Save draft', { ...context, emailId: email.id }, [recipientLine(email.toAddress, email.subject), textInput('Reply', {})]);
}


/** The Draft a follow-up button under a reply that got no answer. */
export function followUpActions(draftId: string): KnownBlock {
  return { type: 'actions', block_id: 'follow_up_actions', elements: [{ type: 'button', action_id: ACTION_DRAFT_FOLLOW_UP, text: { type: 'plain_text', text: 'Draft a follow-up' }, value: draftId }] };
}
