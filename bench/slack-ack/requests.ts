import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { closeServer, listenOnLoopback, readBody } from '../../test/fakes/http-fake-server.ts';
import { slackSignature } from '../../test/fakes/slack-fake.ts';

/**
 * What Slack sends a slash command: a signed, form-encoded POST to /slack/events (no `payload`
 * field, unlike interactions), with a response_url for the answer.
 */
export function slashCommand(input: { text: string; userId: string; channel: string; responseUrl: string }): Record<string, string> {
  return {
    token: 'legacy-verification-token',
    team_id: 'T000FAKE',
    team_domain: 'fake',
    channel_id: input.channel,
    channel_name: 'general',
    user_id: input.userId,
    user_name: input.userId.toLowerCase(),
    command: '/adjutant',
    text: input.text,
    api_app_id: 'A000FAKE',
    is_enterprise_install: 'false',
    response_url: input.responseUrl,
    trigger_id: `${Date.now()}.1234.${randomUUID().replace(/-/g, '').slice(0, 16)}`,
  };
}

export async function sendSignedCommand(url: string, signingSecret: string, fields: Record<string, string>): Promise<{ status: number; body: string }> {
  const body = new URLSearchParams(fields).toString();
  const timestamp = Math.floor(Date.now() / 1000);
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': slackSignature(signingSecret, timestamp, body) },
    body,
  });
  return { status: response.status, body: await response.text() };
}

export interface CaughtAnswer {
  /** performance.now() when the first answer to this response_url arrived. */
  at: number;
  count: number;
  text: string;
}

/**
 * Stands in for Slack's response_url endpoint: each command gets its own URL
 * (`urlFor(id)`), and every POST to it is kept with the time it arrived.
 */
export interface ResponseCatcher {
  urlFor(id: string): string;
  answers: Map<string, CaughtAnswer>;
  /** Resolves with the answer once `id` has one. */
  answerTo(id: string, timeoutMs: number): Promise<CaughtAnswer>;
  /** Resolves when every id has an answer. */
  waitForAll(ids: readonly string[], timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function startResponseCatcher(): Promise<ResponseCatcher> {
  const answers = new Map<string, CaughtAnswer>();
  const waiters = new Map<string, (answer: CaughtAnswer) => void>();
  const server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const at = performance.now();
      const id = decodeURIComponent((request.url ?? '').replace(/^\/respond\//, ''));
      let text = body;
      try {
        text = String((JSON.parse(body) as { text?: unknown }).text ?? '');
      } catch {
        // Kept as sent.
      }
      const existing = answers.get(id);
      if (existing) existing.count += 1;
      else {
        const answer = { at, count: 1, text };
        answers.set(id, answer);
        waiters.get(id)?.(answer);
        waiters.delete(id);
      }
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end('ok');
    })();
  });
  const base = await listenOnLoopback(server);
  const answerTo = (id: string, timeoutMs: number) =>
    new Promise<CaughtAnswer>((resolve, reject) => {
      const found = answers.get(id);
      if (found) return resolve(found);
      const timer = setTimeout(() => {
        waiters.delete(id);
        reject(new Error(`no answer at the response_url of ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
    });
  return {
    urlFor: (id) => `${base}/respond/${encodeURIComponent(id)}`,
    answers,
    answerTo,
    async waitForAll(ids, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (ids.some((id) => !answers.has(id))) {
        if (Date.now() > deadline) throw new Error(`${ids.filter((id) => !answers.has(id)).length} of ${ids.length} commands had no answer at their response_url within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: () => closeServer(server),
  };
}
