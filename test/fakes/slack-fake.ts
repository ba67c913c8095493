import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { closeServer, listenOnLoopback, readBody } from './http-fake-server.ts';

/**
 * A local stand-in for the Slack Web API: it answers the methods Adjutant calls with Slack's
 * response shapes (form or JSON bodies, bearer token checked), so the real @slack/web-api client
 * and Bolt run against it. Point SLACK_API_URL at `apiUrl`.
 */

export interface SlackCall {
  method: string;
  token: string | null;
  args: Record<string, unknown>;
  /** What the fake answered (a posted message's ts, for one). */
  reply?: Record<string, unknown>;
  /** When the call arrived (Date.now()). */
  at?: number;
  /** 429 when the fake refused it for a rate limit (nothing was done); unset when it was answered. */
  status?: number;
  /** The Retry-After the fake sent with a 429, in seconds. */
  retryAfterSeconds?: number;
}

/**
 * A rate limit as Slack applies one: at most `limit` calls to `method` per window of
 * `windowSeconds` (default 60, fixed windows starting at the first call after the last one ended).
 * A call over the budget is answered HTTP 429 with `Retry-After` (the seconds left in the window,
 * or `retryAfterSeconds`) and `{ ok: false, error: 'ratelimited' }`, and nothing is done.
 */
export interface SlackRateLimit {
  method: string;
  limit: number;
  windowSeconds?: number;
  retryAfterSeconds?: number;
}

export interface SlackFakeOptions {
  botToken: string;
  teamId?: string;
  botUserId?: string;
  /** conversations.members per channel. */
  channelMembers?: Record<string, string[]>;
  /** users.lookupByEmail: address → user ID. */
  usersByEmail?: Record<string, string>;
  /**
   * users.info: what differs from a full member of this workspace. `guest`: a single- or
   * multi-channel guest (is_restricted); `teamId`: another workspace's user (Slack Connect).
   */
  users?: Record<string, { guest?: boolean; teamId?: string }>;
  /**
   * Milliseconds to hold each answer after the call is recorded (default 0: answer at once).
   * Real Slack takes tens to hundreds of milliseconds; a caller that dies in that window has
   * posted a message without learning its ts, which is what crash drills need to hit.
   */
  responseDelayMs?: number | ((method: string) => number);
  /** Called as each call is recorded, with the answer it will get after the delay: when Slack has acted on it (not for a 429). */
  onCall?: (call: SlackCall, reply: Record<string, unknown>) => void;
  /** Refuse calls over a budget with 429 and Retry-After, like Slack. Refused calls are in `calls` with `status: 429`. */
  rateLimit?: SlackRateLimit | SlackRateLimit[];
  /**
   * Socket Mode: answers apps.connections.open (called with the app-level token, not the bot
   * token) with what this returns, e.g. a Socket Mode fake's `open`. Unset: unknown_method.
   */
  appsConnectionsOpen?: (token: string | null) => Record<string, unknown>;
}

export interface SlackFake {
  apiUrl: string;
  calls: SlackCall[];
  callsTo(method: string): SlackCall[];
  /** Resolves when `count` calls to `method` have been seen. */
  waitFor(method: string, count?: number, timeoutMs?: number): Promise<SlackCall[]>;
  close(): Promise<void>;
}

export async function startSlackFake(options: SlackFakeOptions): Promise<SlackFake> {
  const calls: SlackCall[] = [];
  const waiters: (() => void)[] = [];
  let messageCounter = 0;
  /** Posted messages, so conversations.history/replies answer like Slack (metadata included when asked). */
  const posted: { channel: string; ts: string; thread_ts?: string; text: unknown; metadata?: unknown }[] = [];
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++messageCounter).padStart(6, '0')}`;
  const rateLimits = options.rateLimit === undefined ? [] : Array.isArray(options.rateLimit) ? options.rateLimit : [options.rateLimit];
  const windows = new Map<string, { start: number; count: number }>();
  /** Seconds to tell the caller to wait, or null when the call is within its method's budget. */
  const overBudget = (method: string, now: number): number | null => {
    const limit = rateLimits.find((candidate) => candidate.method === method);
    if (!limit) return null;
    const windowMs = (limit.windowSeconds ?? 60) * 1000;
    let window = windows.get(method);
    if (!window || now >= window.start + windowMs) windows.set(method, (window = { start: now, count: 0 }));
    if (window.count < limit.limit) {
      window.count += 1;
      return null;
    }
    return limit.retryAfterSeconds ?? Math.max(1, Math.ceil((window.start + windowMs - now) / 1000));
  };

  const server = createServer((req, res) => {
    void (async () => {
      const method = (req.url ?? '').replace(/^\/(api\/)?/, '').split('?')[0] ?? '';
      const args = await readArgs(req);
      const authorization = req.headers.authorization;
      const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : typeof args.token === 'string' ? args.token : null;
      const at = Date.now();
      const retryAfter = token === options.botToken ? overBudget(method, at) : null;
      if (retryAfter !== null) {
        const reply = { ok: false, error: 'ratelimited' };
        calls.push({ method, token, args, reply, at, status: 429, retryAfterSeconds: retryAfter });
        for (const wake of waiters.splice(0)) wake();
        res.writeHead(429, { 'content-type': 'application/json; charset=utf-8', 'retry-after': String(retryAfter) });
        res.end(JSON.stringify(reply));
        return;
      }
      const call: SlackCall = { method, token, args, at };
      calls.push(call);
      for (const wake of waiters.splice(0)) wake();
      // Answered (a ts assigned) when recorded, as Slack posts before its reply travels back.
      const reply =
        method === 'apps.connections.open' && options.appsConnectionsOpen
          ? options.appsConnectionsOpen(token)
          : token === options.botToken
            ? answer(method, args)
            : { ok: false, error: 'invalid_auth' };
      call.reply = reply;
      options.onCall?.(call, reply);
      const delayMs = typeof options.responseDelayMs === 'function' ? options.responseDelayMs(method) : (options.responseDelayMs ?? 0);
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.end(JSON.stringify(reply));
    })();
  });

  function answer(method: string, args: Record<string, unknown>): Record<string, unknown> {
    switch (method) {
      case 'auth.test':
        return { ok: true, url: 'https://fake.slack.test/', team: 'Fake Team', user: 'adjutant', team_id: options.teamId ?? 'T000FAKE', user_id: options.botUserId ?? 'U000BOT', bot_id: 'B000BOT' };
      case 'chat.postMessage': {
        const ts = nextTs();
        posted.push({ channel: String(args.channel), ts, text: args.text, ...(args.thread_ts ? { thread_ts: String(args.thread_ts) } : {}), ...(args.metadata ? { metadata: args.metadata } : {}) });
        return { ok: true, channel: args.channel, ts, message: { type: 'message', text: args.text, ts, ...(args.thread_ts ? { thread_ts: args.thread_ts } : {}) } };
      }
      case 'chat.update':
        return { ok: true, channel: args.channel, ts: args.ts, text: args.text };
      case 'chat.postEphemeral':
        return { ok: true, message_ts: nextTs() };
      case 'users.info': {
        const id = String(args.user);
        const user = options.users?.[id] ?? {};
        const teamId = user.teamId ?? options.teamId ?? 'T000FAKE';
        return { ok: true, user: { id, team_id: teamId, is_bot: false, is_restricted: user.guest === true, is_ultra_restricted: false, ...(teamId !== (options.teamId ?? 'T000FAKE') ? { is_stranger: true } : {}) } };
      }
      case 'views.publish':
        return { ok: true, view: { id: `V${String(++messageCounter).padStart(8, '0')}`, ...(typeof args.view === 'object' ? args.view : {}) } };
      case 'views.open':
        // A trigger lives three seconds and opens one modal; the fake only checks there is one.
        return args.trigger_id ? { ok: true, view: { id: `V${String(++messageCounter).padStart(8, '0')}`, ...(typeof args.view === 'object' ? args.view : {}) } } : { ok: false, error: 'invalid_trigger_id' };
      case 'conversations.members':
        return { ok: true, members: options.channelMembers?.[String(args.channel)] ?? [], response_metadata: { next_cursor: '' } };
      case 'conversations.history': {
        const oldest = Number(args.oldest ?? 0);
        const withMetadata = String(args.include_all_metadata) === 'true';
        const messages = posted
          .filter((message) => message.channel === String(args.channel) && !message.thread_ts && Number(message.ts) >= oldest)
          .reverse()
          .map((message) => ({ type: 'message', ts: message.ts, text: message.text, ...(withMetadata && message.metadata ? { metadata: message.metadata } : {}) }));
        return { ok: true, messages, has_more: false, response_metadata: { next_cursor: '' } };
      }
      case 'conversations.replies': {
        const withMetadata = String(args.include_all_metadata) === 'true';
        const messages = posted
          .filter((message) => message.channel === String(args.channel) && (message.ts === String(args.ts) || message.thread_ts === String(args.ts)))
          .map((message) => ({ type: 'message', ts: message.ts, text: message.text, ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}), ...(withMetadata && message.metadata ? { metadata: message.metadata } : {}) }));
        return { ok: true, messages, has_more: false, response_metadata: { next_cursor: '' } };
      }
      case 'chat.getPermalink':
        return { ok: true, channel: args.channel, permalink: `https://fake.slack.test/archives/${String(args.channel)}/p${String(args.message_ts).replace('.', '')}` };
      case 'conversations.info':
        return { ok: true, channel: { id: args.channel, name: 'approvals', is_member: true } };
      case 'users.lookupByEmail': {
        const id = options.usersByEmail?.[String(args.email).toLowerCase()];
        return id ? { ok: true, user: { id, name: id.toLowerCase() } } : { ok: false, error: 'users_not_found' };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  const url = await listenOnLoopback(server);
  const callsTo = (method: string) => calls.filter((call) => call.method === method);
  return {
    apiUrl: `${url}/api/`,
    calls,
    callsTo,
    async waitFor(method, count = 1, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (callsTo(method).length < count) {
        if (Date.now() > deadline) throw new Error(`Slack fake: expected ${count} ${method} call(s) within ${timeoutMs} ms, saw ${callsTo(method).length}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 200);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return callsTo(method);
    },
    close: () => closeServer(server),
  };
}

async function readArgs(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req);
  if (body === '') return {};
  if ((req.headers['content-type'] ?? '').includes('application/json')) return JSON.parse(body) as Record<string, unknown>;
  // The Web API client sends form bodies; structured arguments (blocks) arrive as JSON strings.
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    args[key] = (value.startsWith('[') || value.startsWith('{')) ? safeJson(value) : value;
  }
  return args;
}

function safeJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** Sign a request body the way Slack does (v0 HMAC-SHA256 over `v0:{ts}:{body}`). */
export function slackSignature(signingSecret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

/** POST an interactivity payload (block_actions) to the app's /slack/events, signed like Slack. */
export async function sendSignedInteraction(
  url: string,
  signingSecret: string,
  payload: Record<string, unknown>,
  options: { timestamp?: number; retryNum?: number; signature?: string } = {},
): Promise<{ status: number; body: string }> {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  return postSigned(url, signingSecret, 'application/x-www-form-urlencoded', body, options);
}

/** A request to /slack/events signed like Slack's (or with a given, possibly forged, signature). */
async function postSigned(url: string, signingSecret: string, contentType: string, body: string, options: { timestamp?: number; retryNum?: number; signature?: string }): Promise<{ status: number; body: string }> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': contentType,
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': options.signature ?? slackSignature(signingSecret, timestamp, body),
      ...(options.retryNum ? { 'x-slack-retry-num': String(options.retryNum), 'x-slack-retry-reason': 'http_timeout' } : {}),
    },
    body,
  });
  return { status: response.status, body: await response.text() };
}

/** POST an Events API callback (a message, an edit, a deletion) to /slack/events, signed like Slack. */
export async function sendSignedEvent(
  url: string,
  signingSecret: string,
  event: Record<string, unknown>,
  options: { retryNum?: number; eventId?: string; signature?: string } = {},
): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({
    token: 'legacy-verification-token',
    team_id: 'T000FAKE',
    api_app_id: 'A000FAKE',
    type: 'event_callback',
    event_id: options.eventId ?? `Ev${Math.random().toString(36).slice(2, 12).toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ team_id: 'T000FAKE', user_id: 'U000BOT', is_bot: true }],
    event,
  });
  return postSigned(url, signingSecret, 'application/json', body, options);
}

/** A block_actions payload for a click on a button in a message, as Slack sends it. */
export function buttonClick(input: { userId: string; channel: string; messageTs: string; actionId: string; value: string; teamId?: string }): Record<string, unknown> {
  return {
    type: 'block_actions',
    user: { id: input.userId, username: input.userId.toLowerCase(), name: input.userId.toLowerCase(), team_id: input.teamId ?? 'T000FAKE' },
    api_app_id: 'A000FAKE',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: input.messageTs, channel_id: input.channel, is_ephemeral: false },
    trigger_id: '1234.5678.abcdef',
    team: { id: input.teamId ?? 'T000FAKE', domain: 'fake' },
    channel: { id: input.channel, name: 'approvals' },
    message: { type: 'message', ts: input.messageTs, text: 'draft', user: 'U000BOT' },
    response_url: 'https://hooks.slack.test/actions/T000FAKE/1/abc',
    actions: [{ type: 'button', action_id: input.actionId, block_id: 'draft_actions', value: input.value, action_ts: `${Date.now() / 1000}`, text: { type: 'plain_text', text: 'Approve & send' } }],
  };
}

/** A view_submission payload: someone pressed the modal's submit button with `text` in its one input. */
export function modalSubmission(input: { userId: string; callbackId: string; privateMetadata: string; text: string | null; blockId?: string; actionId?: string; teamId?: string }): Record<string, unknown> {
  return {
    type: 'view_submission',
    team: { id: input.teamId ?? 'T000FAKE', domain: 'fake' },
    user: { id: input.userId, username: input.userId.toLowerCase(), name: input.userId.toLowerCase(), team_id: input.teamId ?? 'T000FAKE' },
    api_app_id: 'A000FAKE',
    token: 'legacy-verification-token',
    trigger_id: '1234.5678.submit',
    view: {
      id: 'V00000001',
      type: 'modal',
      callback_id: input.callbackId,
      private_metadata: input.privateMetadata,
      state: { values: { [input.blockId ?? 'text_block']: { [input.actionId ?? 'text']: { type: 'plain_text_input', value: input.text } } } },
    },
  };
}
