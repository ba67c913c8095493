import { z } from 'zod';
import { answerQuestion, formatAnswer, type AskInput } from '../../agents/answerer.ts';
import type { ModelRouter } from '../../brains/router.ts';
import { ToolCallPending } from '../../brains/tool-use.ts';
import { escapeMrkdwn } from '../../channels/slack/blocks.ts';
import type { SlackPoster } from '../../channels/slack/slack-poster.ts';
import type { Memory } from '../../memory/memory.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_ANSWER_QUESTION } from '../job-names.ts';
import type { ToolGate } from '../tool-calls.ts';

const data = z.object({
  question: z.string().min(1),
  askedIn: z.object({ channel: z.string() }).nullable(),
  history: z.array(z.object({ role: z.enum(['user', 'assistant']), text: z.string() })),
  questionId: z.string().min(1),
  /** Where the answer goes: the thread it was asked in, or the channel. */
  replyIn: z.object({ channel: z.string(), threadTs: z.string().nullable() }),
});
export type AnswerQuestionData = z.infer<typeof data>;

export interface AnswerDeps {
  memory: Pick<Memory, 'search'>;
  router: ModelRouter | null;
  tools: ToolGate | null;
}

/**
 * A teammate's question answered as Slack mrkdwn, with the team's other systems when configured.
 * When the answer needs a tool call that changes something, the approvers are asked, the
 * teammate is told, and this job answers in the same place once the call is decided.
 */
export async function answerForSlack(deps: AnswerDeps, input: AnswerQuestionData, now: Date): Promise<string> {
  const ask: AskInput = { question: input.question, askedIn: input.askedIn, history: input.history, questionId: input.questionId, now };
  const tools = deps.router
    ? await deps.tools?.runnerFor({
        served: { kind: 'question', id: input.questionId },
        resume: { job: JOB_ANSWER_QUESTION, key: input.questionId, data: input },
        // Shown escaped on the card: the channel is named by its id, not a mention.
        purpose: `the question “${input.question.replace(/\s+/g, ' ').slice(0, 200)}” asked in Slack channel ${input.replyIn.channel}`,
      })
    : undefined;
  try {
    return formatAnswer(await answerQuestion({ router: deps.router, memory: deps.memory, ...(tools ? { tools } : {}) }, ask));
  } catch (error) {
    if (!(error instanceof ToolCallPending)) throw error;
    return `To answer this I need to run \`${escapeMrkdwn(error.tool)}\`, which changes something in another system, so I have asked the approvers. I will answer here once they decide.`;
  }
}

/** Answers a question again after a tool call it waited on was decided, where it was asked. */
export function answerQuestionJob(deps: AnswerDeps & { poster: SlackPoster | null; now(): Date }): JobDefinition<AnswerQuestionData> {
  return {
    name: JOB_ANSWER_QUESTION,
    schema: data,
    async run(input) {
      if (!deps.poster) return;
      const text = await answerForSlack(deps, input, deps.now());
      await deps.poster.postReply(input.replyIn.channel, input.replyIn.threadTs, text);
    },
  };
}
