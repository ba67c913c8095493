import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { App, HTTPReceiver, LogLevel, webApi } from '@slack/bolt';
import { ACTION_APPROVE, ACTION_REJECT } from '../../src/channels/slack/blocks.ts';
import { createSlackPoster } from '../../src/channels/slack/slack-poster.ts';
import { loadConfig } from '../../src/config.ts';
import { startService, type Service } from '../../src/main.ts';
import { createDraftStore } from '../../src/orchestrator/draft-store.ts';
import { summarize } from '../support/latency.ts';
import { startHttpTimings } from './http-timings.ts';
import { fromServerSchema, toServerSchema, type BreakdownStep, type FromServer, type ServerSettings } from './protocol.ts';

/**
 * The process under load in the approval-ack benchmark: either a bare Bolt app whose listener
 * only acks, or the real Adjutant service. Started by approval-ack.bench.ts with `fork`.
 */
interface Target {
  port: number;
  draftId: string | null;
  database: string | null;
  breakdown(iterations: number): Promise<BreakdownStep[]>;
  stop(): Promise<void>;
}

let target: Target | null = null;
const timings = startHttpTimings();

const reply = (message: FromServer) => process.send?.(fromServerSchema.parse(message));

process.on('message', (raw) => {
  void (async () => {
    try {
      const message = toServerSchema.parse(raw);
      switch (message.type) {
        case 'start': {
          target = message.settings.target === 'bare' ? await startBareBolt(message.settings) : await startAdjutant(message.settings);
          reply({ type: 'ready', port: target.port, draftId: target.draftId, database: target.database });
          break;
        }
        case 'breakdown':
          reply({ type: 'breakdown', steps: target ? await target.breakdown(message.iterations) : [] });
          break;
        case 'timings': {
          const { servedMs, outboundMs, cpuMs, eventLoopUtilization } = timings.take();
          reply({ type: 'timings', served: servedMs.length > 0 ? summarize(servedMs) : null, outbound: outboundMs.length > 0 ? summarize(outboundMs) : null, cpuMs, eventLoopUtilization });
          break;
        }
        case 'stop':
          await target?.stop();
          reply({ type: 'stopped' });
          // Timers of the job queue may outlive stop(); this process has nothing else to do.
          process.disconnect();
          setTimeout(() => process.exit(0), 100).unref();
          break;
      }
    } catch (error) {
      reply({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  })();
});

/** The reference: Bolt's own HTTP server, signature check, an ack and nothing else. */
async function startBareBolt(settings: ServerSettings): Promise<Target> {
  const receiver = new HTTPReceiver({ signingSecret: settings.signingSecret, endpoints: '/slack/events', processBeforeResponse: true, logLevel: LogLevel.ERROR });
  const app = new App({ token: settings.botToken, receiver, logLevel: LogLevel.ERROR, clientOptions: { slackApiUrl: settings.slackApiUrl } });
  const ackOnly = async ({ ack }: { ack: () => Promise<void> }) => {
    await ack();
  };
  app.action(ACTION_APPROVE, ackOnly);
  app.action(ACTION_REJECT, ackOnly);
  const server = await app.start({ port: 0, host: '127.0.0.1' });
  return {
    port: (server.address() as AddressInfo).port,
    draftId: null,
    database: null,
    breakdown: async () => [],
    async stop() {
      await app.stop();
    },
  };
}

async function startAdjutant(settings: ServerSettings): Promise<Target> {
  const config = loadConfig({
    envFile: null,
    env: {
      ...(settings.databaseUrl ? { DATABASE_URL: settings.databaseUrl } : {}),
      DATA_DIR: settings.dataDir,
      PORT: '0',
      LOG_LEVEL: 'error',
      SLACK_BOT_TOKEN: settings.botToken,
      SLACK_SIGNING_SECRET: settings.signingSecret,
      SLACK_API_URL: settings.slackApiUrl,
      SLACK_APPROVALS_CHANNEL: settings.channel,
      SLACK_APPROVERS: settings.approver,
    },
  });
  const service = await startService(config, { host: '127.0.0.1', shutdownGraceMs: 1000 });
  try {
    const draftId = await insertDecidedDraft(service, settings);
    return {
      port: service.port,
      draftId,
      database: service.database.kind,
      breakdown: (iterations) => adjutantBreakdown(service, settings, draftId, iterations),
      stop: () => service.stop(),
    };
  } catch (error) {
    await service.stop();
    throw error;
  }
}

/**
 * A draft someone already rejected: every click then takes the whole path (signature, lookup,
 * approver check, a conditional update that loses, an ephemeral answer) and sends no mail.
 */
async function insertDecidedDraft(service: Service, settings: ServerSettings): Promise<string> {
  const { prisma } = service.database;
  const text = 'Hi, could you send the invoice for PO 7781? Our payment run is on Thursday.\n\nDana';
  const email = await prisma.email.create({
    data: {
      messageId: `<bench-${randomUUID()}@mail.client.example>`,
      mailbox: 'INBOX',
      uid: 1,
      fromAddress: 'dana@client.example',
      fromName: 'Dana Client',
      toAddresses: ['ops@team.example'],
      subject: 'Invoice timing – PO 7781',
      sentAt: new Date(),
      text,
      references: [],
      originalReferences: [],
      raw: Buffer.from(`From: Dana Client <dana@client.example>\r\nSubject: Invoice timing – PO 7781\r\n\r\n${text}\r\n`),
    },
  });
  const draft = await prisma.draft.create({
    data: {
      emailId: email.id,
      status: 'rejected',
      toAddress: 'dana@client.example',
      toName: 'Dana Client',
      subject: 'Re: Invoice timing – PO 7781',
      body: 'Hi Dana,\n\nThe invoice for PO 7781 went out on Friday.\n\nBest,\nAcme Ops',
      references: [],
      slackChannel: settings.channel,
      slackCardTs: '1700000000.000001',
      slackDraftTs: '1700000000.000002',
      decidedBy: settings.approver,
      decidedAt: new Date(),
    },
  });
  return draft.id;
}

/** The steps of one repeated click, each timed alone and one at a time (no contention). */
async function adjutantBreakdown(service: Service, settings: ServerSettings, draftId: string, iterations: number): Promise<BreakdownStep[]> {
  const drafts = createDraftStore(service.database.prisma);
  const poster = createSlackPoster(new webApi.WebClient(settings.botToken, { slackApiUrl: settings.slackApiUrl }));
  const steps: [string, () => Promise<unknown>][] = [
    ['draft lookup (drafts.get)', () => drafts.get(draftId)],
    ['conditional update that loses (drafts.decide)', () => drafts.decide(draftId, 'approved', settings.approver, new Date())],
    ['ephemeral answer (chat.postEphemeral to the fake)', () => poster.postEphemeral(settings.channel, settings.approver, 'This draft was already rejected.')],
  ];
  const results: BreakdownStep[] = [];
  for (const [step, run] of steps) {
    for (let warm = 0; warm < 20; warm++) await run();
    const samples: number[] = [];
    for (let index = 0; index < iterations; index++) {
      const started = performance.now();
      await run();
      samples.push(performance.now() - started);
    }
    const { p50, p95, p99, max } = summarize(samples);
    results.push({ step, p50, p95, p99, max });
  }
  return results;
}
