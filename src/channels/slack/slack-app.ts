import { App, HTTPReceiver, LogLevel, type Logger as BoltLogger, type BlockAction, type ButtonAction } from '@slack/bolt';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../logger.ts';
import type { ApprovalService } from '../../orchestrator/approvals.ts';
import { ACTION_APPROVE, ACTION_REJECT, ACTION_RESEND, draftView } from './blocks.ts';
import { registerChannelMemory, type MemoryChannels, type SlackMemoryPort } from './channel-memory.ts';
import { createSlackPoster, type SlackPoster } from './slack-poster.ts';

export interface SlackAppOptions {
  botToken: string;
  signingSecret?: string;
  /** Set: Socket Mode. Unset: HTTP at /slack/events (served by our own HTTP server). */
  appToken?: string;
  apiUrl?: string;
  logger: Logger;
}

export interface SlackApp {
  readonly app: App;
  /** HTTP mode only: the request listener for /slack/events. */
  readonly httpListener: ((req: IncomingMessage, res: ServerResponse) => void) | null;
  readonly mode: 'socket' | 'http';
  readonly poster: SlackPoster;
  /** Wire the Approve / Reject / Retry (Send again) buttons to the approval service. */
  handleApprovals(approvals: ApprovalService): void;
  /** Remember channel messages and the bot's threads (SLACK_MEMORY_CHANNELS). */
  rememberConversations(memory: SlackMemoryPort, channels: MemoryChannels): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createSlackApp(options: SlackAppOptions): SlackApp {
  const logger = boltLogger(options.logger.child({ component: 'slack' }));
  const clientOptions = {
    ...(options.apiUrl ? { slackApiUrl: options.apiUrl.endsWith('/') ? options.apiUrl : `${options.apiUrl}/` } : {}),
    // Jobs retry with their own backoff; the Web API client's default (10 retries over 30 min) would hide failures.
    retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2000 },
  };
  let receiver: HTTPReceiver | null = null;
  let app: App;
  if (options.appToken) {
    app = new App({ token: options.botToken, appToken: options.appToken, socketMode: true, logger, clientOptions });
  } else {
    receiver = new HTTPReceiver({
      signingSecret: options.signingSecret ?? '',
      endpoints: '/slack/events',
      // Handlers finish before the response: Slack sees errors, and a retry finds the decision made.
      processBeforeResponse: true,
      logger,
    });
    app = new App({ token: options.botToken, receiver, logger, clientOptions });
  }

  app.error(async (error) => {
    options.logger.error({ err: error }, 'slack listener failed');
  });

  const poster = createSlackPoster(app.client);

  const onDecision =
    (approvals: ApprovalService, decision: 'approved' | 'rejected' | 'resend') =>
    async ({ ack, body, action }: { ack: () => Promise<void>; body: BlockAction; action: ButtonAction }) => {
      await ack();
      const draftId = action.value;
      if (!draftId) return;
      const outcome = await approvals.decide({ draftId, userId: body.user.id, decision, channel: body.channel?.id ?? null, messageTs: body.message?.ts ?? null });
      // An approval is shown by the send job (sending…, then sent), in order, from one place.
      // A rejection has nothing after it: show it now, without holding the click's response.
      if (outcome.kind !== 'decided' || outcome.draft.status !== 'rejected' || !body.channel?.id || !body.message?.ts) return;
      void poster
        .updateDraft(body.channel.id, body.message.ts, draftView(outcome.draft))
        .catch((error: unknown) => options.logger.warn({ err: error }, 'could not show the rejection in Slack'));
    };

  return {
    app,
    poster,
    handleApprovals(approvals) {
      app.action<BlockAction<ButtonAction>>(ACTION_APPROVE, onDecision(approvals, 'approved'));
      app.action<BlockAction<ButtonAction>>(ACTION_REJECT, onDecision(approvals, 'rejected'));
      app.action<BlockAction<ButtonAction>>(ACTION_RESEND, onDecision(approvals, 'resend'));
    },
    rememberConversations(memory, channels) {
      if (channels === 'none') return;
      registerChannelMemory(app, { channels, memory, poster });
    },
    httpListener: receiver ? receiver.requestListener : null,
    mode: options.appToken ? 'socket' : 'http',
    async start() {
      // HTTP mode is served by our own server; only Socket Mode has a connection to open.
      if (options.appToken) await app.start();
    },
    async stop() {
      if (options.appToken) await app.stop();
    },
  };
}

function boltLogger(log: Logger): BoltLogger {
  let level = LogLevel.INFO;
  return {
    debug: (...messages: unknown[]) => log.debug(messages.map(String).join(' ')),
    info: (...messages: unknown[]) => log.info(messages.map(String).join(' ')),
    warn: (...messages: unknown[]) => log.warn(messages.map(String).join(' ')),
    error: (...messages: unknown[]) => log.error(messages.map(String).join(' ')),
    setLevel: (next: LogLevel) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}
