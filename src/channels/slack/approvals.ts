/**
 * The approval flow in Slack: Approve, Retry / Send again, and Edit, Redraft, Reject and Write
 * reply with their forms. Every button and form goes through the approvals port, which checks
 * the approver; the listeners only read Slack's payloads and show the outcome.
 */
import type { AllMiddlewareArgs, App, BlockAction, ButtonAction, SlackViewMiddlewareArgs, ViewSubmitAction } from '@slack/bolt';
import { z } from 'zod';
import type { Logger } from '../../logger.ts';
import {
  ACTION_APPROVE,
  ACTION_DRAFT_FOLLOW_UP,
  ACTION_EDIT,
  ACTION_REDRAFT,
  ACTION_REJECT,
  ACTION_RESEND,
  ACTION_WRITE_REPLY,
  draftView,
  editModal,
  INPUT_ACTION,
  INPUT_BLOCK,
  MAX_INPUT_CHARS,
  redraftModal,
  rejectModal,
  VIEW_EDIT,
  VIEW_REDRAFT,
  VIEW_REJECT,
  VIEW_WRITE_REPLY,
  writeReplyModal,
  type ModalContext,
} from './blocks.ts';
import type { SlackPoster } from './slack-poster.ts';

/** A draft as these listeners show it (the thread message's view, and its ts). */
export type ShownDraft = Parameters<typeof draftView>[0] & { slackDraftTs: string | null };

type Refused = { kind: 'not-allowed' } | { kind: 'not-found' };

/** What the approval listeners need: implemented by the orchestrator, wired in main.ts. */
export interface ApprovalsPort {
  decide(request: { draftId: string; userId: string; decision: 'approved' | 'rejected' | 'resend'; channel: string | null; messageTs?: string | null; note?: string | null }): Promise<{ kind: 'decided' | 'already-decided'; draft: ShownDraft } | Refused>;
  /** The approver check (a refusal is told and audited by the port). */
  allow(userId: string, what: { action: string; entityType: 'draft' | 'email' | 'job' | 'tool_call'; entityId: string; channel: string | null }): Promise<boolean>;
  draft(id: string): Promise<ShownDraft | null>;
  replyTo(emailId: string): Promise<{ emailId: string; toAddress: string | null; subject: string } | null>;
  edit(request: { draftId: string; userId: string; body: string; channel: string | null }): Promise<{ kind: 'revised' | 'not-pending'; draft: ShownDraft } | { kind: 'unchanged' } | Refused>;
  redraft(request: { draftId: string; userId: string; instruction: string; channel: string | null }): Promise<{ kind: 'queued' } | { kind: 'no-model' } | { kind: 'not-pending'; draft: ShownDraft } | Refused>;
  writeReply(request: { emailId: string; userId: string; body: string; channel: string | null; cardTs: string | null }): Promise<{ kind: 'created' | 'exists'; draft: ShownDraft } | Refused>;
  followUp(request: { draftId: string; userId: string; channel: string | null }): Promise<{ kind: 'queued' } | { kind: 'no-model' } | { kind: 'not-sent' } | Refused>;
}

export function registerApprovals(app: App, deps: { approvals: ApprovalsPort; poster: SlackPoster; logger: Logger }): void {
  const { approvals, poster, logger } = deps;
  const warn = (what: string) => (error: unknown) => logger.warn({ err: error }, what);
  const tell = (channel: string | null, user: string, text: string) => {
    if (channel) void poster.postEphemeral(channel, user, text).catch(warn('could not answer the person'));
  };
  /**
   * The work a click or a form starts, after its ack: Slack's HTTP answer goes out when the
   * listener returns, so the listener returns at once and the decision follows (about the time a
   * bare app takes to answer). Each decision is a conditional change, so a duplicate delivery
   * still takes effect once; a failure is told to the person, who can click again.
   */
  const afterAck = (what: string, person: { channel: string | null; user: string }, work: () => Promise<void>) => {
    void work().catch((error: unknown) => {
      logger.error({ err: error }, `${what} failed`);
      tell(person.channel, person.user, `Sorry, that did not go through (${error instanceof Error ? error.message.slice(0, 200) : 'unknown error'}). Nothing was sent; try again.`);
    });
  };

  const onDecision =
    (decision: 'approved' | 'rejected' | 'resend') =>
    async ({ ack, body, action }: { ack: () => Promise<void>; body: BlockAction; action: ButtonAction }) => {
      await ack();
      const draftId = action.value;
      if (!draftId) return;
      afterAck(`draft ${decision}`, { channel: body.channel?.id ?? null, user: body.user.id }, async () => {
        const outcome = await approvals.decide({ draftId, userId: body.user.id, decision, channel: body.channel?.id ?? null, messageTs: body.message?.ts ?? null });
        // An approval is shown by the send job (sending…, then sent), in order, from one place.
        // A rejection has nothing after it: show it now.
        if (outcome.kind !== 'decided' || outcome.draft.status !== 'rejected' || !body.channel?.id || !body.message?.ts) return;
        await poster.updateDraft(body.channel.id, body.message.ts, draftView(outcome.draft)).catch(warn('could not show the rejection in Slack'));
      });
    };

  const showDraft = (channel: string | null, ts: string | null, draft: Parameters<typeof draftView>[0]) => {
    if (channel && ts) void poster.updateDraft(channel, ts, draftView(draft)).catch(warn('could not update the draft message'));
  };

  /**
   * A button that opens a modal: the approver check first (a refusal is told and audited, and
   * no modal opens), then the modal, within the three seconds its trigger lives (counted from
   * the click, whatever happens to the ack).
   */
  const onOpen =
    (action: 'edit' | 'redraft' | 'reject' | 'write-reply') =>
    async ({ ack, body, action: button }: { ack: () => Promise<void>; body: BlockAction; action: ButtonAction }) => {
      await ack();
      const id = button.value;
      if (!id) return;
      const channel = body.channel?.id ?? null;
      afterAck(`opening the ${action} form`, { channel, user: body.user.id }, () => openForm(action, id, channel, body));
    };

  async function openForm(action: 'edit' | 'redraft' | 'reject' | 'write-reply', id: string, channel: string | null, body: BlockAction): Promise<void> {
    const context: ModalContext = { channel, messageTs: body.message?.ts ?? null };
    const entityType = action === 'write-reply' ? 'email' : 'draft';
    if (!(await approvals.allow(body.user.id, { action, entityType, entityId: id, channel }))) return;
    if (action === 'write-reply') {
      const email = await approvals.replyTo(id);
      if (!email?.toAddress) return tell(channel, body.user.id, 'There is nobody to reply to for this email (the sender was not recovered).');
      await poster.openModal(body.trigger_id, writeReplyModal({ id, toAddress: email.toAddress, subject: email.subject }, context));
      return;
    }
    const draft = await approvals.draft(id);
    if (!draft) return;
    if (draft.status !== 'pending') return tell(channel, body.user.id, `This draft is already ${draft.status}; nothing to change.`);
    if (action === 'edit' && draft.body.length > MAX_INPUT_CHARS) return tell(channel, body.user.id, `This draft is ${draft.body.length} characters, more than Slack lets a form edit (${MAX_INPUT_CHARS}): use Redraft, or Reject it and reply by hand.`);
    const view = action === 'edit' ? editModal(draft, context) : action === 'redraft' ? redraftModal(draft, context) : rejectModal(draft, context);
    await poster.openModal(body.trigger_id, view);
  }

  /** A submitted modal: its context and its one text input, or a form error for Slack to show. */
  type ViewArgs = SlackViewMiddlewareArgs<ViewSubmitAction> & AllMiddlewareArgs;
  const submitted = (args: ViewArgs): { context: ModalContext; text: string } => {
    const parsed = modalContext.safeParse(safeJson(args.view.private_metadata));
    const context: ModalContext = parsed.success ? parsed.data : { channel: null, messageTs: null };
    const text = args.view.state.values[INPUT_BLOCK]?.[INPUT_ACTION]?.value ?? '';
    return { context, text: text.replace(/\r\n?/g, '\n') };
  };
  const formError = (args: ViewArgs, message: string) => args.ack({ response_action: 'errors', errors: { [INPUT_BLOCK]: message } });

    app.action<BlockAction<ButtonAction>>(ACTION_APPROVE, onDecision('approved'));
    app.action<BlockAction<ButtonAction>>(ACTION_RESEND, onDecision('resend'));
    app.action<BlockAction<ButtonAction>>(ACTION_REJECT, onOpen('reject'));
    app.action<BlockAction<ButtonAction>>(ACTION_EDIT, onOpen('edit'));
    app.action<BlockAction<ButtonAction>>(ACTION_REDRAFT, onOpen('redraft'));
    app.action<BlockAction<ButtonAction>>(ACTION_WRITE_REPLY, onOpen('write-reply'));
    app.action<BlockAction<ButtonAction>>(ACTION_DRAFT_FOLLOW_UP, async ({ ack, body, action }) => {
      await ack();
      if (!action.value) return;
      const channel = body.channel?.id ?? null;
      const draftId = action.value;
      afterAck('a follow-up request', { channel, user: body.user.id }, async () => {
        const outcome = await approvals.followUp({ draftId, userId: body.user.id, channel });
        if (outcome.kind === 'queued') tell(channel, body.user.id, 'Drafting a follow-up: it will appear in this thread for approval.');
        else if (outcome.kind === 'no-model') tell(channel, body.user.id, 'No language model is configured (OLLAMA_HOST or ANTHROPIC_API_KEY): write the follow-up by hand.');
        else if (outcome.kind === 'not-sent') tell(channel, body.user.id, 'That reply was never sent, so there is nothing to follow up.');
      });
    });

    // In VIEWS_ANSWERED_AT_ONCE: the reason is optional, so this form never answers with errors.
    app.view<ViewSubmitAction>(VIEW_REJECT, async (args) => {
      const { context, text } = submitted(args);
      await args.ack();
      const draftId = context.draftId;
      if (!draftId) return;
      afterAck('a rejection', { channel: context.channel, user: args.body.user.id }, async () => {
        const outcome = await approvals.decide({ draftId, userId: args.body.user.id, decision: 'rejected', channel: context.channel, messageTs: context.messageTs, note: text.trim() || null });
        if (outcome.kind === 'decided') showDraft(context.channel, context.messageTs, outcome.draft);
      });
    });
    app.view<ViewSubmitAction>(VIEW_EDIT, async (args) => {
      const { context, text } = submitted(args);
      if (text.trim() === '') return void (await formError(args, 'The reply is empty: write something, or Reject the draft.'));
      await args.ack();
      const draftId = context.draftId;
      if (!draftId) return;
      afterAck('an edit', { channel: context.channel, user: args.body.user.id }, async () => {
        const outcome = await approvals.edit({ draftId, userId: args.body.user.id, body: text, channel: context.channel });
        if (outcome.kind === 'revised') showDraft(context.channel, context.messageTs ?? outcome.draft.slackDraftTs, outcome.draft);
        else if (outcome.kind === 'not-pending') tell(context.channel, args.body.user.id, `Not saved: the draft was ${outcome.draft.status} meanwhile.`);
      });
    });
    app.view<ViewSubmitAction>(VIEW_REDRAFT, async (args) => {
      const { context, text } = submitted(args);
      if (text.trim() === '') return void (await formError(args, 'Say what should change.'));
      await args.ack();
      const draftId = context.draftId;
      if (!draftId) return;
      afterAck('a redraft request', { channel: context.channel, user: args.body.user.id }, async () => {
        const outcome = await approvals.redraft({ draftId, userId: args.body.user.id, instruction: text.trim(), channel: context.channel });
        if (outcome.kind === 'queued') tell(context.channel, args.body.user.id, 'Redrafting: the new version will replace this one in the thread.');
        else if (outcome.kind === 'no-model') tell(context.channel, args.body.user.id, 'No language model is configured (OLLAMA_HOST or ANTHROPIC_API_KEY), so nothing can be redrafted: use Edit.');
        else if (outcome.kind === 'not-pending') tell(context.channel, args.body.user.id, `Not redrafted: the draft was ${outcome.draft.status} meanwhile.`);
      });
    });
    app.view<ViewSubmitAction>(VIEW_WRITE_REPLY, async (args) => {
      const { context, text } = submitted(args);
      if (text.trim() === '') return void (await formError(args, 'The reply is empty.'));
      await args.ack();
      const emailId = context.emailId;
      if (!emailId) return;
      afterAck('a written reply', { channel: context.channel, user: args.body.user.id }, async () => {
        const outcome = await approvals.writeReply({ emailId, userId: args.body.user.id, body: text, channel: context.channel, cardTs: context.messageTs });
        if (outcome.kind === 'exists') tell(context.channel, args.body.user.id, 'A reply to this email was already written: see the thread.');
      });
    });
}

const modalContext = z.object({
  draftId: z.uuid().optional(),
  emailId: z.uuid().optional(),
  channel: z.string().nullable(),
  messageTs: z.string().nullable(),
});

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
