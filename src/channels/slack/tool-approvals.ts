/**
 * The approval card for a tool call that changes something in another system (an external MCP
 * server's `write` tool): what will run, on which server, with exactly which arguments, and
 * Approve / Reject. The listeners check nothing themselves: the port does the approver check
 * and the conditional decision; they acknowledge at once and show the outcome.
 */
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { Logger } from '../../logger.ts';
import { escapeMrkdwn } from './blocks.ts';
import type { SlackPoster } from './slack-poster.ts';

export const ACTION_TOOL_APPROVE = 'tool_call_approve';
export const ACTION_TOOL_REJECT = 'tool_call_reject';

/** A tool call as its card shows it. */
export interface ShownToolCall {
  id: string;
  server: string;
  tool: string;
  arguments: Record<string, unknown>;
  status: 'pending' | 'approved' | 'running' | 'succeeded' | 'failed' | 'rejected' | 'interrupted';
  result: string | null;
  purpose: string;
  decidedBy: string | null;
}

/** What the listeners need: implemented by the orchestrator's tool gate, wired in main.ts. */
export interface ToolApprovalsPort {
  decide(request: { callId: string; userId: string; decision: 'approved' | 'rejected'; channel: string | null }): Promise<{ kind: 'decided' | 'already-decided'; call: ShownToolCall } | { kind: 'not-allowed' } | { kind: 'not-found' }>;
}

/** Slack's limit for a section's text is 3000 characters; the arguments must be shown whole or not at all. */
const MAX_ARGUMENTS_CHARS = 2600;
const MAX_RESULT_CHARS = 600;

/** The card: the call in full while it waits, then who decided and what came of it. */
export function toolCallMessage(call: ShownToolCall): { text: string; blocks: unknown[] } {
  const args = JSON.stringify(call.arguments, null, 2);
  const shownArgs = args.length > MAX_ARGUMENTS_CHARS ? `${args.slice(0, MAX_ARGUMENTS_CHARS)}\n… (${args.length} characters in all: approve only if you trust the part not shown)` : args;
  const text = `🔧 Tool call for approval: ${call.tool} on ${call.server}`;
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `🔧 *Adjutant asks to run a tool* that changes something in another system.\n*Tool:* \`${escapeMrkdwn(call.tool)}\`   *Server:* \`${escapeMrkdwn(call.server)}\`\n*For:* ${escapeMrkdwn(call.purpose)}` } },
    // Shown exactly as it will be sent: a code block keeps Slack from formatting it.
    { type: 'section', text: { type: 'mrkdwn', text: `*Arguments:*\n\`\`\`${shownArgs.replaceAll('```', 'ˋˋˋ')}\`\`\`` } },
  ];
  if (call.status === 'pending') {
    blocks.push({
      type: 'actions',
      block_id: 'tool_call_decision',
      elements: [
        { type: 'button', action_id: ACTION_TOOL_APPROVE, style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value: call.id },
        { type: 'button', action_id: ACTION_TOOL_REJECT, style: 'danger', text: { type: 'plain_text', text: 'Reject' }, value: call.id },
      ],
    });
  } else {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: outcomeLine(call) }] });
  }
  return { text, blocks };
}

function outcomeLine(call: ShownToolCall): string {
  const by = call.decidedBy ? `<@${call.decidedBy}>` : 'a teammate';
  const result = call.result ? `: ${escapeMrkdwn(call.result.replace(/\s+/g, ' ').slice(0, MAX_RESULT_CHARS))}` : '';
  switch (call.status) {
    case 'approved':
    case 'running':
      return `✅ Approved by ${by}: running…`;
    case 'succeeded':
      return `✅ Approved by ${by} and run${result}`;
    case 'failed':
      return `⚠️ Approved by ${by}; the tool failed${result}`;
    case 'interrupted':
      return `⚠️ Approved by ${by}; interrupted during the call: it may or may not have taken effect. Check ${escapeMrkdwn(call.server)}.`;
    case 'rejected':
      return `❌ Rejected by ${by}: not run.`;
    default:
      return '';
  }
}

export function registerToolApprovals(app: App, deps: { tools: ToolApprovalsPort; poster: SlackPoster; logger: Logger }): void {
  const { tools, poster, logger } = deps;
  const onDecision =
    (decision: 'approved' | 'rejected') =>
    async ({ ack, body, action }: { ack: () => Promise<void>; body: BlockAction; action: ButtonAction }) => {
      await ack();
      const callId = action.value;
      const channel = body.channel?.id ?? null;
      if (!callId) return;
      // After the ack: the decision is one conditional change, so a retry or a double click takes effect once.
      void (async () => {
        // The card is updated by the job that runs the decision (running…, then the outcome), in order, from one place.
        const outcome = await tools.decide({ callId, userId: body.user.id, decision, channel });
        if (outcome.kind === 'already-decided' && channel) {
          await poster.postEphemeral(channel, body.user.id, `This call was already ${outcome.call.status === 'rejected' ? 'rejected' : 'approved'}.`);
        }
      })().catch((error: unknown) => {
        logger.error({ err: error, callId }, `tool call ${decision} failed`);
        if (channel) void poster.postEphemeral(channel, body.user.id, `Sorry, that did not go through (${error instanceof Error ? error.message.slice(0, 200) : 'unknown error'}). Nothing was run; try again.`).catch(() => undefined);
      });
    };
  app.action<BlockAction<ButtonAction>>(ACTION_TOOL_APPROVE, onDecision('approved'));
  app.action<BlockAction<ButtonAction>>(ACTION_TOOL_REJECT, onDecision('rejected'));
}
