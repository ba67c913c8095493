import { App, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from '../../logger.ts';
import { VIEWS_ANSWERED_AT_ONCE } from './blocks.ts';
import { registerChannelMemory, type MemoryChannels, type SlackMemoryPort } from './channel-memory.ts';
import { createSlackPoster, type SlackPoster } from './slack-poster.ts';
import { createThreadedReceiver, type ThreadedReceiver } from './threaded-receiver.ts';

export interface SlackAppOptions {
  botToken: string;
  signingSecret?: string;
  /** Set: Socket Mode. Unset: HTTP at /slack/events, answered by the front thread (serveHttp). */
  appToken?: string;
  apiUrl?: string;
  logger: Logger;
}

export interface SlackApp {
  readonly app: App;
  /**
   * HTTP mode only: serve the public port from the Slack front thread, which answers Slack at
   * /slack/events and passes every other path to the service's own server at `upstreamPort`.
   * Resolves with the bound port.
   */
  readonly serveHttp: ((options: { port: number; host?: string; upstreamPort: number }) => Promise<number>) | null;
  readonly mode: 'socket' | 'http';
  readonly poster: SlackPoster;
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
  let receiver: ThreadedReceiver | null = null;
  let app: App;
  if (options.appToken) {
    app = new App({ token: options.botToken, appToken: options.appToken, socketMode: true, logger, clientOptions });
  } else {
    // Slack's answers come from their own thread, so they never wait on the work of this one.
    receiver = createThreadedReceiver({ signingSecret: options.signingSecret ?? '', viewsAnsweredAtOnce: VIEWS_ANSWERED_AT_ONCE, logger: options.logger.child({ component: 'slack' }) });
    app = new App({ token: options.botToken, receiver, logger, clientOptions });
  }

  app.error(async (error) => {
    options.logger.error({ err: error }, 'slack listener failed');
  });

  const poster = createSlackPoster(app.client);

  return {
    app,
    poster,
    rememberConversations(memory, channels) {
      if (channels === 'none') return;
      registerChannelMemory(app, { channels, memory, poster });
    },
    serveHttp: receiver ? (settings) => (receiver as ThreadedReceiver).listen(settings) : null,
    mode: options.appToken ? 'socket' : 'http',
    async start() {
      // HTTP mode is served from serveHttp; only Socket Mode has a connection to open.
      if (options.appToken) await app.start();
    },
    async stop() {
      if (options.appToken) await app.stop();
      else await receiver?.stop();
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

