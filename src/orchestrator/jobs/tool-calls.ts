import { z } from 'zod';
import { toolCallMessage } from '../../channels/slack/tool-approvals.ts';
import type { Logger } from '../../logger.ts';
import type { SlackPoster } from '../../channels/slack/slack-poster.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_TOOL_DECIDED, JOB_TOOL_REQUEST_APPROVAL } from '../job-names.ts';
import type { ToolCallRecord, ToolGate } from '../tool-calls.ts';

const data = z.object({ callId: z.uuid() });
export type ToolCallData = z.infer<typeof data>;

interface ToolJobDeps {
  gate: ToolGate;
  slack: { poster: SlackPoster; approvalsChannel: string } | null;
  logger: Logger;
}

/**
 * Posts the approval card of a write call in the approvals channel. Keyed by the call, and the
 * card's ts is stored: a retry after the post finds it and does not post again. Without Slack
 * nobody can approve: the call stays pending and the log says why.
 */
export function toolRequestApprovalJob(deps: ToolJobDeps): JobDefinition<ToolCallData> {
  return {
    name: JOB_TOOL_REQUEST_APPROVAL,
    schema: data,
    async run({ callId }) {
      const call = await deps.gate.get(callId);
      if (!call || call.slackTs || call.status !== 'pending') return;
      if (!deps.slack) {
        deps.logger.warn({ callId, tool: call.tool, server: call.server }, 'a tool call waits for approval, but Slack (SLACK_BOT_TOKEN, SLACK_APPROVALS_CHANNEL) is not configured: nobody can approve it');
        return;
      }
      const card = toolCallMessage(call);
      const posted = await deps.slack.poster.postReply(deps.slack.approvalsChannel, null, card.text, card.blocks);
      await deps.gate.setCard(callId, deps.slack.approvalsChannel, posted.ts);
    },
  };
}

/**
 * After Approve or Reject: an approved call runs (once), the card shows the outcome, and the
 * work that asked for it runs again (the gate enqueues it) to carry on with the result.
 */
export function toolDecidedJob(deps: ToolJobDeps): JobDefinition<ToolCallData> {
  const show = async (call: ToolCallRecord) => {
    if (deps.slack && call.slackChannel && call.slackTs) await deps.slack.poster.updateMessage(call.slackChannel, call.slackTs, toolCallMessage(call));
  };
  return {
    name: JOB_TOOL_DECIDED,
    schema: data,
    async run({ callId }) {
      const before = await deps.gate.get(callId);
      // Approved and about to run: the card says so first ("running…").
      if (before?.status === 'approved') await show(before).catch((error: unknown) => deps.logger.warn({ err: error, callId }, 'could not show the tool call as running'));
      const done = await deps.gate.runDecided(callId);
      if (done) await show(done);
    },
  };
}
