import { z } from 'zod';
import type { ModelRouter } from '../brains/router.ts';
import { AdjutantError } from '../errors.ts';
import { loadPrompt, neutraliseTags, renderPrompt } from './prompts.ts';

export interface DraftRequest {
  teamName: string;
  /** The teammate's note on a forward: the only instruction. */
  instruction: string | null;
  original: { fromName: string | null; fromAddress: string; subject: string; date: Date | null; body: string };
}

export interface DraftResult {
  body: string;
  provider: string;
  model: string;
}

/** Email bodies can be huge; the model needs the gist, and the cost stays bounded. */
const MAX_EMAIL_CHARS = 12_000;

const draftBody = z
  .string()
  .transform((text) => stripWrapping(text))
  .pipe(z.string().min(1, 'the model returned an empty draft').max(10_000, 'the model returned an overlong draft'));

/** Drafting is hard work: the cloud model when configured, the local one otherwise. */
export async function draftReply(router: ModelRouter, request: DraftRequest): Promise<DraftResult> {
  const { original } = request;
  const from = original.fromName ? `${original.fromName} <${original.fromAddress}>` : original.fromAddress;
  const body = original.body.length > MAX_EMAIL_CHARS ? `${original.body.slice(0, MAX_EMAIL_CHARS)}\n[… truncated]` : original.body;
  const result = await router.complete('hard', 'draft-reply', {
    system: renderPrompt(loadPrompt('draft-reply'), { team_name: request.teamName }),
    messages: [
      {
        role: 'user',
        content: renderPrompt(loadPrompt('draft-reply.user'), {
          instruction: request.instruction?.trim() || '(none: write a helpful reply)',
          from: neutralise(from),
          date: original.date ? original.date.toUTCString() : 'unknown',
          subject: neutralise(original.subject),
          body: neutralise(body),
        }),
      },
    ],
    maxTokens: 1024,
    temperature: 0.3,
  });
  const parsed = draftBody.safeParse(result.text);
  if (!parsed.success) {
    throw new AdjutantError('MODEL_OUTPUT_INVALID', `draft from ${result.provider}/${result.model} is unusable: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  return { body: parsed.data, provider: result.provider, model: result.model };
}

/** Email text must not be able to close our <email> wrapper and speak outside it. */
function neutralise(text: string): string {
  return neutraliseTags(text, ['email', 'teammate_instruction']);
}

/** Models sometimes wrap the answer in quotes or a code fence; the draft is the text inside. */
function stripWrapping(text: string): string {
  let result = text.trim();
  const fence = /^```[a-z]*\n([\s\S]*?)\n```$/i.exec(result);
  if (fence?.[1] !== undefined) result = fence[1].trim();
  return result;
}
