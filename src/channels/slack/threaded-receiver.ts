/**
 * Bolt's receiver for HTTP mode, fed by the Slack front thread (ack-thread.mjs), which owns the
 * public port, verifies signatures and answers clicks, commands and the forms named in
 * `viewsAnsweredAtOnce` itself, so Slack's 3-second
 * answer never waits on this thread's work. Here each verified request goes through Bolt's
 * listeners as if its own HTTPReceiver had read it (processBeforeResponse: the answer to an
 * event or a form is the listener's ack, sent when the listener has finished).
 */
import type { App, Receiver, ReceiverEvent } from '@slack/bolt';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import type { Logger } from '../../logger.ts';

const THREAD_SOURCE = new URL('./ack-thread.mjs', import.meta.url);
/** Bolt's own limit on a request body. */
const BODY_LIMIT = 4 * 1024 * 1024;
/** As Bolt's HTTPReceiver: a request no listener acknowledges within 3 s is answered 404. */
const UNHANDLED_AFTER_MS = 3001;
/** A thread that died is started again after this long (it only dies on a bug). */
const RESTART_AFTER_MS = 1000;
const SLACK_EVENTS_PATH = '/slack/events';

const fromThread = z.discriminatedUnion('type', [
  z.object({ type: z.literal('listening'), port: z.number().int() }),
  z.object({ type: z.literal('listen-failed'), error: z.string(), code: z.string().nullable() }),
  z.object({
    type: z.literal('request'),
    id: z.number().int(),
    body: z.record(z.string(), z.unknown()),
    acked: z.boolean(),
    retryNum: z.number().int().nullable(),
    retryReason: z.string().nullable(),
  }),
  z.object({ type: z.literal('refused'), status: z.number().int(), reason: z.string() }),
]);

export interface ThreadedReceiver extends Receiver {
  /** Start the front thread on the public port; other paths go to `upstreamPort` on loopback. Resolves with the bound port. */
  listen(options: { port: number; host?: string; upstreamPort: number }): Promise<number>;
}

export function createThreadedReceiver(options: {
  signingSecret: string;
  /** Callback ids of forms whose listeners always acknowledge with no content: answered by the front thread at once. */
  viewsAnsweredAtOnce?: readonly string[];
  logger: Logger;
}): ThreadedReceiver {
  const { logger } = options;
  let app: App | null = null;
  let worker: Worker | null = null;
  let stopping = false;

  /** The answer Bolt's listener gave, in the shape Bolt's own receiver sends it. */
  const answer = (response: unknown): { status: number; body: string; contentType: string | null } => {
    if (response === undefined || response === null || response === '') return { status: 200, body: '', contentType: null };
    if (typeof response === 'string') return { status: 200, body: response, contentType: null };
    return { status: 200, body: JSON.stringify(response), contentType: 'application/json' };
  };

  function handle(thread: Worker, request: Extract<z.infer<typeof fromThread>, { type: 'request' }>): void {
    // answered: the HTTP answer has gone (by the front thread for clicks, commands and some forms).
    let answered = request.acked;
    let acknowledged: { response: unknown } | null = null;
    const reply = (status: number, body = '', contentType: string | null = null) => {
      if (answered) return;
      answered = true;
      clearTimeout(unhandled);
      thread.postMessage({ type: 'response', id: request.id, status, body, contentType });
    };
    const unhandled = answered
      ? undefined
      : setTimeout(() => {
          if (acknowledged) return;
          logger.error({ type: request.body.type }, 'a Slack request was not acknowledged within 3 seconds');
          reply(404);
        }, UNHANDLED_AFTER_MS);
    const event: ReceiverEvent = {
      body: request.body,
      ...(request.retryNum !== null ? { retryNum: request.retryNum } : {}),
      ...(request.retryReason !== null ? { retryReason: request.retryReason } : {}),
      customProperties: {},
      ack: async (response?: unknown) => {
        // The front thread has answered with an empty 200: content (a form's errors) would be lost.
        if (request.acked && response !== undefined && response !== '') logger.warn({ type: request.body.type }, 'a listener answered with content a request the front thread had already acknowledged empty (a click, a command, or a form in VIEWS_ANSWERED_AT_ONCE)');
        acknowledged ??= { response };
      },
    };
    if (!app) return reply(503);
    app
      .processEvent(event)
      .then(() => {
        // As Bolt's processBeforeResponse: the listener's ack is sent once it has finished; none is a 404.
        if (!acknowledged) return reply(404);
        const { status, body, contentType } = answer(acknowledged.response);
        reply(status, body, contentType);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'an unhandled error occurred while Bolt processed a Slack request');
        reply(500);
      });
  }

  function startThread(settings: { port: number; host?: string; upstreamPort: number }): Promise<number> {
    return new Promise((resolve, reject) => {
      const thread = new Worker(THREAD_SOURCE, {
        workerData: { port: settings.port, host: settings.host ?? null, upstreamPort: settings.upstreamPort, signingSecret: options.signingSecret, bodyLimit: BODY_LIMIT, events: SLACK_EVENTS_PATH, viewsAnsweredAtOnce: [...(options.viewsAnsweredAtOnce ?? [])] },
        // Not the parent's flags (tsx's loader, inspector): the thread runs plain JavaScript.
        execArgv: [],
        resourceLimits: { maxOldGenerationSizeMb: 64 },
      });
      worker = thread;
      let listening = false;
      thread.on('message', (raw: unknown) => {
        const parsed = fromThread.safeParse(raw);
        if (!parsed.success) return logger.error({ message: JSON.stringify(raw).slice(0, 300) }, 'the Slack front thread sent an unreadable message');
        const message = parsed.data;
        if (message.type === 'listening') {
          listening = true;
          resolve(message.port);
        } else if (message.type === 'listen-failed') {
          const hint = message.code === 'EADDRINUSE' ? ` (port ${settings.port} is in use: stop the other process or set PORT)` : '';
          reject(new Error(`could not listen on port ${settings.port}: ${message.error}${hint}`));
          void thread.terminate();
        } else if (message.type === 'refused') {
          logger.warn({ status: message.status }, message.reason);
        } else handle(thread, message);
      });
      thread.on('error', (error) => {
        logger.error({ err: error }, 'the Slack front thread failed');
        if (!listening) reject(error);
      });
      thread.on('exit', (code) => {
        if (worker === thread) worker = null;
        if (stopping || !listening) return;
        logger.error({ code }, `the Slack front thread stopped; starting it again in ${RESTART_AFTER_MS / 1000} s`);
        setTimeout(() => {
          if (stopping) return;
          startThread(settings).catch((error: unknown) => logger.error({ err: error }, 'the Slack front thread could not start again'));
        }, RESTART_AFTER_MS).unref();
      });
    });
  }

  return {
    init(bolt: App) {
      app = bolt;
    },
    listen(settings) {
      stopping = false;
      return startThread(settings);
    },
    async start() {
      // The thread is started by listen(), once the service's own server has its port.
    },
    async stop() {
      stopping = true;
      const thread = worker;
      worker = null;
      if (!thread) return;
      const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
      thread.postMessage({ type: 'close' });
      const timer = setTimeout(() => void thread.terminate(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
