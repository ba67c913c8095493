import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createSlackApp } from '../src/channels/slack/slack-app.ts';
import type { SlackPoster } from '../src/channels/slack/slack-poster.ts';
import { AdjutantError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { startSlackFake, type SlackCall, type SlackFake, type SlackFakeOptions } from './fakes/slack-fake.ts';

const TOKEN = 'xoxb-rate-limit-test';
const CHANNEL = 'C0APPROVALS';

/**
 * Slack answers a call over a method's budget with HTTP 429 and Retry-After. Every Web API call
 * goes through the poster, built on the client Bolt makes (slack-app.ts's options): it waits
 * the Retry-After and tries again, without holding up other methods, and gives a job back to the
 * queue (a retryable SLACK_FAILED) when Slack asks for a longer wait than a call may take.
 */
describe('Slack rate limits', { timeout: 30_000 }, () => {
  let slack: SlackFake | undefined;

  afterEach(async () => {
    await slack?.close();
    slack = undefined;
  });

  async function posterAgainst(options: Omit<SlackFakeOptions, 'botToken'>): Promise<{ slack: SlackFake; poster: SlackPoster }> {
    slack = await startSlackFake({ botToken: TOKEN, ...options });
    const app = createSlackApp({ botToken: TOKEN, signingSecret: 'rate-limit-secret', apiUrl: slack.apiUrl, logger: createLogger({ level: process.env.DEBUG_LOG ? 'debug' : 'silent' }) });
    return { slack, poster: app.poster };
  }

  const card = (n: number) => ({ fromName: `Sender ${n}`, fromAddress: `sender${n}@example.com`, subject: `Request number ${n}`, summary: `Email ${n} asks for a quote.` });
  const draftIdOf = (call: SlackCall) => (call.args.metadata as { event_payload?: { draft_id?: string } } | undefined)?.event_payload?.draft_id;

  it('delivers a burst of 100 cards through 429s, each once, waiting the Retry-After each time', async () => {
    // 20 messages per second, then 429 with Retry-After 1 until the second is over.
    const { slack, poster } = await posterAgainst({ rateLimit: { method: 'chat.postMessage', limit: 20, windowSeconds: 1 } });
    const draftIds = Array.from({ length: 100 }, () => randomUUID());
    const results = await Promise.allSettled(draftIds.map((draftId, n) => poster.postApprovalCard(CHANNEL, card(n), draftId)));

    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    const calls = slack.callsTo('chat.postMessage');
    const delivered = calls.filter((call) => call.status === undefined);
    const refused = calls.filter((call) => call.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((call) => call.retryAfterSeconds === 1)).toBe(true);
    // Every card once: one delivered message per draft, and the ts each caller got is that message's.
    expect(delivered).toHaveLength(100);
    expect(new Set(delivered.map(draftIdOf))).toEqual(new Set(draftIds));
    const tsByDraft = new Map(delivered.map((call) => [draftIdOf(call), call.reply?.ts]));
    results.forEach((result, n) => expect(result.status === 'fulfilled' ? result.value.ts : null).toBe(tsByDraft.get(draftIds[n])));

    // Each card's next attempt came at least Retry-After after the 429 it got.
    for (const draftId of draftIds) {
      const attempts = calls.filter((call) => draftIdOf(call) === draftId);
      expect(attempts.at(-1)?.status).toBeUndefined();
      for (let i = 1; i < attempts.length; i += 1) {
        const previous = attempts[i - 1] as SlackCall;
        expect(previous.status).toBe(429);
        expect((attempts[i]?.at ?? 0) - (previous.at ?? 0)).toBeGreaterThanOrEqual((previous.retryAfterSeconds ?? 0) * 1000);
      }
    }
  });

  it('gives the job back (a retryable SLACK_FAILED naming the rate limit) when Slack asks for a wait longer than a call may take', async () => {
    const { slack, poster } = await posterAgainst({ rateLimit: { method: 'chat.postMessage', limit: 0, retryAfterSeconds: 120 } });
    const started = Date.now();
    const error = await poster.postApprovalCard(CHANNEL, card(1), randomUUID()).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AdjutantError);
    expect(error).toMatchObject({ code: 'SLACK_FAILED', retryable: true });
    expect((error as Error).message).toMatch(/rate limit/i);
    expect((error as Error).message).toMatch(/120 s/);
    // The next card does not even ask while the pause lasts: it is handed back at once too.
    await expect(poster.postNotice(CHANNEL, 'The mailbox is stalled.')).rejects.toMatchObject({ code: 'SLACK_FAILED', retryable: true });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(slack.callsTo('chat.postMessage')).toHaveLength(1);
  });

  it('does not hold up other methods while one waits out its limit, and a modal does not wait past its trigger', async () => {
    const { slack, poster } = await posterAgainst({
      rateLimit: [
        { method: 'chat.postMessage', limit: 1, windowSeconds: 2 },
        { method: 'views.open', limit: 1, windowSeconds: 60, retryAfterSeconds: 5 },
      ],
    });
    await poster.postApprovalCard(CHANNEL, card(1), randomUUID());
    const second = poster.postApprovalCard(CHANNEL, card(2), randomUUID());
    await slack.waitFor('chat.postMessage', 2);
    expect(slack.callsTo('chat.postMessage')[1]?.status).toBe(429);

    // While the card waits, a click's modal opens at once: the pause is chat.postMessage's alone.
    const view = { type: 'modal' as const, title: { type: 'plain_text' as const, text: 'Edit' }, blocks: [] };
    const opening = Date.now();
    await poster.openModal('1234.5678.abcdef', view);
    expect(Date.now() - opening).toBeLessThan(1_000);

    // A second modal is refused for 5 s: longer than its trigger lives, so it fails fast.
    const refusedAt = Date.now();
    await expect(poster.openModal('1234.5678.abcdeg', view)).rejects.toMatchObject({ code: 'SLACK_FAILED', retryable: true, message: expect.stringMatching(/rate limited/) });
    expect(Date.now() - refusedAt).toBeLessThan(1_000);

    expect((await second).ts).toBeTruthy();
    const [, refused, delivered] = slack.callsTo('chat.postMessage');
    expect(delivered?.status).toBeUndefined();
    expect((delivered?.at ?? 0) - (refused?.at ?? 0)).toBeGreaterThanOrEqual((refused?.retryAfterSeconds ?? 0) * 1000);
  });
});
