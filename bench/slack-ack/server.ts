import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { App, HTTPReceiver, LogLevel, webApi } from '@slack/bolt';
import { ACTION_APPROVE, ACTION_REJECT, rejectModal, VIEW_REJECT } from '../../src/channels/slack/blocks.ts';
import { createSlackPoster } from '../../src/channels/slack/slack-poster.ts';
import { loadConfig } from '../../src/config.ts';
import { startService, type Service } from '../../src/main.ts';
import { jobInsert } from '../../src/db/job-table.ts';
import { createDraftStore } from '../../src/orchestrator/draft-store.ts';
import { summarize } from '../support/latency.ts';
import { startHttpTimings } from './http-timings.ts';
import { fromServerSchema, serverSettingsSchema, toServerSchema, type BreakdownStep, type DraftState, type FromServer, type ServerSettings } from './protocol.ts';

/**
 * The process under load in the slack-ack benchmark: either a bare Bolt app whose listeners
 * only ack, or the real Adjutant service (startService, so the event dedupe middleware, the
 * approval listeners and the /adjutant command are registered as in production). Started by
 * slack-ack.bench.ts with `fork`.
 */
interface Target {
  port: number;
  draftIds: string[];
  database: string | null;
  breakdown(iterations: number, pendingDraftIds: string[], decidedDraftId: string | null): Promise<BreakdownStep[]>;
  inspect(draftIds: string[]): Promise<DraftState[]>;
  stop(): Promise<void>;
}

let target: Target | null = null;
const timings = startHttpTimings({ trace: process.env.BENCH_TRACE === '1' });

const reply = (message: FromServer) => process.send?.(fromServerSchema.parse(message));

process.on('message', (raw) => {
  void (async () => {
    try {
      const message = toServerSchema.parse(raw);
      switch (message.type) {
        case 'start': {
          const settings = serverSettingsSchema.parse(message.settings);
          target = settings.target === 'bare' ? await startBareBolt(settings) : await startAdjutant(settings);
          reply({ type: 'ready', port: target.port, draftIds: target.draftIds, database: target.database });
          break;
        }
        case 'breakdown':
          reply({ type: 'breakdown', steps: target ? await target.breakdown(message.iterations, message.pendingDraftIds, message.decidedDraftId) : [] });
          break;
        case 'timings': {
          const { servedMs, outboundMs, cpuMs, eventLoopUtilization, traces } = timings.take();
          const mean = (values: number[]) => (values.length > 0 ? values.reduce((sum, value) => sum + value, 0) / values.length : 0);
          reply({
            type: 'timings',
            served: servedMs.length > 0 ? summarize(servedMs) : null,
            outbound: outboundMs.length > 0 ? summarize(outboundMs) : null,
            cpuMs,
            eventLoopUtilization,
            traced: traces ? { dbMs: mean(traces.dbMs), dbQueries: mean(traces.dbQueries), fetchMs: mean(traces.fetchMs), fetches: mean(traces.fetches) } : null,
          });
          break;
        }
        case 'inspect':
          reply({ type: 'inspected', drafts: target ? await target.inspect(message.draftIds) : [] });
          break;
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

/** The reference: Bolt's own HTTP server, signature check, an ack and nothing else, for every kind of request the benchmark sends. */
async function startBareBolt(settings: ServerSettings): Promise<Target> {
  const receiver = new HTTPReceiver({ signingSecret: settings.signingSecret, endpoints: '/slack/events', processBeforeResponse: true, logLevel: LogLevel.ERROR });
  const app = new App({ token: settings.botToken, receiver, logLevel: LogLevel.ERROR, clientOptions: { slackApiUrl: settings.slackApiUrl } });
  const ackOnly = async ({ ack }: { ack: () => Promise<void> }) => {
    await ack();
  };
  app.action(ACTION_APPROVE, ackOnly);
  app.action(ACTION_REJECT, ackOnly);
  app.view(VIEW_REJECT, ackOnly);
  app.command('/adjutant', ackOnly);
  const server = await app.start({ port: 0, host: '127.0.0.1' });
  return {
    port: (server.address() as AddressInfo).port,
    draftIds: [],
    database: null,
    breakdown: async () => [],
    inspect: async () => [],
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
      EMBEDDER: settings.embedder ?? 'none',
      ...(settings.anthropicUrl ? { ANTHROPIC_API_KEY: 'bench-anthropic-key', ANTHROPIC_BASE_URL: settings.anthropicUrl } : {}),
      ...(settings.smtpPort ? { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(settings.smtpPort), SMTP_TLS: 'false', MAIL_FROM: 'Acme Ops <ops@team.example>' } : {}),
    },
  });
  const service = await startService(config, { host: '127.0.0.1', shutdownGraceMs: 1000 });
  try {
    const draftIds = await insertPendingDrafts(service, settings, settings.pendingDrafts ?? 0);
    return {
      port: service.port,
      draftIds,
      database: service.database.kind,
      breakdown: (iterations, pendingDraftIds, decidedDraftId) => adjutantBreakdown(service, settings, iterations, pendingDraftIds, decidedDraftId),
      inspect: (ids) => inspectDrafts(service, ids),
      stop: () => service.stop(),
    };
  } catch (error) {
    await service.stop();
    throw error;
  }
}

/**
 * Drafts waiting for a decision, as the pipeline leaves them: an email from a client, a draft
 * reply to it posted in the approvals channel (card and draft message ts set). Each has its own
 * email, so In-Reply-To tells which draft a sent mail answers.
 */
async function insertPendingDrafts(service: Service, settings: ServerSettings, count: number): Promise<string[]> {
  const { prisma } = service.database;
  const run = randomUUID().slice(0, 8);
  const ids: string[] = [];
  const batch = 500;
  for (let start = 0; start < count; start += batch) {
    const indexes = Array.from({ length: Math.min(batch, count - start) }, (_, offset) => start + offset);
    const emails = await prisma.email.createManyAndReturn({
      data: indexes.map((index) => {
        const text = `Hi, could you send the invoice for PO ${7000 + index}? Our payment run is on Thursday.\n\nDana`;
        return {
          messageId: `<bench-${run}-${index}@mail.client.example>`,
          mailbox: 'INBOX',
          uid: index + 1,
          fromAddress: `dana${index}@client.example`,
          fromName: 'Dana Client',
          toAddresses: ['ops@team.example'],
          subject: `Invoice timing – PO ${7000 + index}`,
          sentAt: new Date(),
          text,
          references: [],
          originalReferences: [],
          raw: Buffer.from(`From: Dana Client <dana${index}@client.example>\r\nSubject: Invoice timing – PO ${7000 + index}\r\n\r\n${text}\r\n`),
        };
      }),
      select: { id: true, messageId: true, uid: true },
    });
    const drafts = await prisma.draft.createManyAndReturn({
      data: emails.map((email) => {
        const index = (email.uid ?? 1) - 1;
        return {
          emailId: email.id,
          status: 'pending',
          toAddress: `dana${index}@client.example`,
          toName: 'Dana Client',
          subject: `Re: Invoice timing – PO ${7000 + index}`,
          body: `Hi Dana,\n\nThe invoice for PO ${7000 + index} went out on Friday.\n\nBest,\nAcme Ops`,
          inReplyTo: email.messageId,
          references: [email.messageId],
          slackChannel: settings.channel,
          slackCardTs: `1700000000.${String(2 * index + 1).padStart(6, '0')}`,
          slackDraftTs: `1700000000.${String(2 * index + 2).padStart(6, '0')}`,
        };
      }),
      select: { id: true, slackDraftTs: true },
    });
    // In the order asked for: the draft message's ts encodes the index.
    drafts.sort((a, b) => Number(a.slackDraftTs?.split('.')[1]) - Number(b.slackDraftTs?.split('.')[1]));
    ids.push(...drafts.map((draft) => draft.id));
  }
  return ids;
}

async function inspectDrafts(service: Service, draftIds: string[]): Promise<DraftState[]> {
  if (draftIds.length === 0) return [];
  const { rows } = await service.database.pool.query<{ id: string; status: string; approved: string; rejected: string; sent: string; failed: string }>(
    `SELECT d.id::text AS id, d.status,
            count(a.id) FILTER (WHERE a.action = 'draft.approved') AS approved,
            count(a.id) FILTER (WHERE a.action = 'draft.rejected') AS rejected,
            count(a.id) FILTER (WHERE a.action = 'reply.sent') AS sent,
            count(a.id) FILTER (WHERE a.action = 'reply.failed') AS failed
       FROM drafts d LEFT JOIN audit_log a ON a.entity_type = 'draft' AND a.entity_id = d.id::text
      WHERE d.id = ANY($1::uuid[])
      GROUP BY d.id, d.status`,
    [draftIds],
  );
  return rows.map((row) => ({ id: row.id, status: row.status, approved: Number(row.approved), rejected: Number(row.rejected), sent: Number(row.sent), failed: Number(row.failed) }));
}

/** The steps of a click, each timed alone and one at a time (no contention). */
async function adjutantBreakdown(service: Service, settings: ServerSettings, iterations: number, pendingDraftIds: string[], decidedDraftId: string | null): Promise<BreakdownStep[]> {
  const drafts = createDraftStore(service.database.prisma);
  const poster = createSlackPoster(new webApi.WebClient(settings.botToken, { slackApiUrl: settings.slackApiUrl }));
  const spare = [...pendingDraftIds];
  const someDraft = decidedDraftId ?? spare[0] ?? null;
  const steps: [string, () => Promise<unknown>][] = [];
  if (someDraft) {
    steps.push(['draft lookup (drafts.get)', () => drafts.get(someDraft)]);
    steps.push(['modal open (views.open to the fake)', () => poster.openModal('1234.5678.abcdef', rejectModal({ id: someDraft, toAddress: 'dana@client.example', subject: 'Re: Invoice' }, { channel: settings.channel, messageTs: '1700000000.000002' }))]);
  }
  if (decidedDraftId) steps.push(['decision that loses (drafts.decide on a decided draft)', () => drafts.decide(decidedDraftId, 'approved', settings.approver, new Date())]);
  if (spare.length > 0) {
    steps.push([
      'decision that wins (drafts.decide on a pending draft)',
      async () => {
        const id = spare.shift();
        if (id) await drafts.decide(id, 'rejected', settings.approver, new Date());
      },
    ]);
  }
  // The approval's enqueue of its send job, as the job queue does it, under a name no worker runs.
  let enqueued = 0;
  steps.push([
    'job enqueue (agenda_jobs insert, NOTIFY on PostgreSQL)',
    () => {
      const values: unknown[] = [];
      const job = jobInsert({ name: 'bench-noop', key: `bench-${process.pid}-${enqueued++}`, data: {} }, { source: null, embedded: service.database.kind === 'pglite', param: (value) => `$${values.push(value)}` });
      return service.database.pool.query(`WITH ${job.cte} SELECT ${job.created} AS created`, values);
    },
  ]);
  steps.push(['ephemeral answer (chat.postEphemeral to the fake)', () => poster.postEphemeral(settings.channel, settings.approver, 'This draft was already rejected.')]);
  const results: BreakdownStep[] = [];
  for (const [step, run] of steps) {
    const winning = step.startsWith('decision that wins');
    // Each winning decision uses up a draft: fewer warm-ups and samples when few are spare.
    const warmups = winning ? Math.min(20, Math.floor(spare.length / 10)) : 20;
    for (let warm = 0; warm < warmups; warm++) await run();
    const samples: number[] = [];
    const count = winning ? Math.min(iterations, spare.length) : iterations;
    for (let index = 0; index < count; index++) {
      const started = performance.now();
      await run();
      samples.push(performance.now() - started);
    }
    if (samples.length === 0) continue;
    const { p50, p95, p99, max } = summarize(samples);
    results.push({ step, p50, p95, p99, max });
  }
  return results;
}
