import type { ChatMessage, ToolCall, ToolDefinition } from './types.ts';

/** What a tool call gave back, as the model will read it. */
export interface ToolOutcome {
  content: string;
  isError: boolean;
}

/**
 * The tools one piece of work (a draft, an answer) may use, and how its calls run. The router
 * offers `definitions` to the model and hands each call to `run`; what the call may do (run now,
 * wait for a person) is the runner's business, not the model's or the router's.
 */
export interface ToolRunner {
  definitions: ToolDefinition[];
  /**
   * Turns to put after the first user message: calls decided since the work last ran (an
   * approved call's result, a rejection), so the model continues where it stopped.
   */
  priorTurns: ChatMessage[];
  /** Runs one call; throws ToolCallPending when it must wait for a person's decision. */
  run(call: ToolCall): Promise<ToolOutcome>;
}

/**
 * A call that waits for a teammate's approval: the work stops here, without an error, and runs
 * again once the call is decided (its outcome then among `priorTurns`). Not a failure, so the
 * router neither records it as one nor asks the other model.
 */
export class ToolCallPending extends Error {
  override name = 'ToolCallPending';
  constructor(
    readonly callId: string,
    readonly tool: string,
  ) {
    super(`waiting for a teammate to approve the call to ${tool} (tool call ${callId})`);
  }
}

/** The most tool rounds one answer may take before it must answer with what it has. */
export const MAX_TOOL_ROUNDS = 4;
