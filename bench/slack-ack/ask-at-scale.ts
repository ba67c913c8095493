import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { startAnthropicFake, type AnthropicFake } from '../../test/fakes/anthropic-fake.ts';
import { createTestDatabase, type TestDatabase } from '../../test/support/databases.ts';
import { round, summarize } from '../support/latency.ts';
import { seedMemory } from './memory-seed.ts';
import { sendSignedCommand, slashCommand, startResponseCatcher, type ResponseCatcher } from './requests.ts';
import { startServer, type ServerProcess } from './server-process.ts';

/**
 * `/adjutant ask` at scale: the memory benchmark's corpus (`chunks` chunks) loaded into a fresh
 * PostgreSQL database, the service started on it with the Anthropic fake answering at once, and
 * one ask at a time timed from the signed command leaving to its answer arriving at the
 * response_url. The model's own time is nil (the fake answers in the same tick it reads the
 * request), so what is measured is Adjutant's: the ack, the embedding of the question (builtin),
 * the hybrid search, the prompt, the model call's round trip, the answer's checks and the POST.
 */
export interface AskAtScaleOptions {
  chunks: number;
  asks: number;
  warmups: number;
  embedder: 'none' | 'builtin';
  slackApiUrl: string;
  botToken: string;
  signingSecret: string;
  approver: string;
  approvalsChannel: string;
  askChannel: string;
  targetP50Ms: number;
}

export async function measureAskAtScale(options: AskAtScaleOptions): Promise<Record<string, unknown>> {
  const label = `ask at ${options.chunks.toLocaleString('en')} chunks`;
  const loadAtStart = round(loadavg()[0] ?? 0);
  let database: TestDatabase | null = null;
  let anthropic: AnthropicFake | null = null;
  let catcher: ResponseCatcher | null = null;
  const servers: ServerProcess[] = [];
  try {
    database = await createTestDatabase('postgres');
    const seeded = await seedMemory({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, chunks: options.chunks, questions: options.asks + options.warmups, label: `slack-ack ${label}` });
    const modelCalls: number[] = [];
    anthropic = await startAnthropicFake({
      respond: () => {
        modelCalls.push(performance.now());
        return JSON.stringify({ answer: 'The invoice went out on Friday [1].', cited: [1], confident: true });
      },
    });
    catcher = await startResponseCatcher();
    const server = await startServer(
      {
        target: 'adjutant',
        botToken: options.botToken,
        signingSecret: options.signingSecret,
        slackApiUrl: options.slackApiUrl,
        approver: options.approver,
        channel: options.approvalsChannel,
        databaseUrl: database.databaseUrl,
        dataDir: database.dataDir,
        anthropicUrl: anthropic.url,
        embedder: options.embedder,
      },
      servers,
    );
    const url = `http://127.0.0.1:${server.ready.port}/slack/events`;
    const questions = seeded.questions.map((words) => `what do we know about ${words}?`);

    const samples: { ackMs: number; answerMs: number; beforeModelMs: number | null; afterModelMs: number | null; answered: boolean }[] = [];
    for (let index = 0; index < options.warmups + options.asks; index++) {
      const id = `ask-at-scale-${index}`;
      const question = questions[index % questions.length] ?? 'what do we know about invoices?';
      const modelCallsBefore = modelCalls.length;
      const started = performance.now();
      const response = await sendSignedCommand(url, options.signingSecret, slashCommand({ text: `ask ${question}`, userId: options.approver, channel: options.askChannel, responseUrl: catcher.urlFor(id) }));
      const acked = performance.now();
      if (response.status !== 200) throw new Error(`Adjutant answered ${response.status} to /adjutant ask: ${response.body.slice(0, 200)}`);
      // The first asks load the built-in embedder's model: they may take a while.
      const answer = await catcher.answerTo(id, index < options.warmups ? 300_000 : 60_000);
      if (index < options.warmups) continue;
      const modelAt = modelCalls.length > modelCallsBefore ? modelCalls[modelCallsBefore] : undefined;
      samples.push({
        ackMs: acked - started,
        answerMs: answer.at - started,
        beforeModelMs: modelAt === undefined ? null : modelAt - started,
        afterModelMs: modelAt === undefined ? null : answer.at - modelAt,
        answered: /\[1\]/.test(answer.text),
      });
    }
    const answerMs = summarize(samples.map((sample) => sample.answerMs));
    const withModel = samples.filter((sample) => sample.beforeModelMs !== null);
    const answeredFromMemory = samples.filter((sample) => sample.answered).length;
    const met = answerMs.p50 < options.targetP50Ms;
    console.log(`[slack-ack] ${label}: command → answer posted p50 ${answerMs.p50} ms, p95 ${answerMs.p95} ms (target p50 < ${options.targetP50Ms} ms: ${met ? 'met' : 'MISSED'})`);
    return {
      chunks: seeded.load.chunks,
      items: seeded.load.items,
      database: 'postgres',
      embedder: options.embedder,
      asks: samples.length,
      answeredWithACitation: answeredFromMemory,
      target: { value: answerMs.p50, limit: `p50 < ${options.targetP50Ms} ms`, result: met ? 'met' : 'MISSED' },
      commandToAnswerMs: answerMs,
      phasesMs: [
        { phase: 'command → ack (HTTP answer)', ...pick(summarize(samples.map((sample) => sample.ackMs))) },
        ...(withModel.length > 0
          ? [
              { phase: 'command → model request in (embed, search, prompt)', ...pick(summarize(withModel.map((sample) => sample.beforeModelMs ?? 0))) },
              { phase: 'model answered → answer posted (checks, POST)', ...pick(summarize(withModel.map((sample) => sample.afterModelMs ?? 0))) },
            ]
          : []),
      ],
      load: { seconds: seeded.load.seconds, chunksPerSecond: seeded.load.chunksPerSecond, hnswBuildSeconds: seeded.index.seconds },
      loadAverage: { start: loadAtStart, end: round(loadavg()[0] ?? 0) },
    };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await catcher?.close();
    await anthropic?.close();
    await database?.drop();
  }
}

function pick(summary: { p50: number; p95: number; max: number; mean: number }): { p50: number; p95: number; max: number; mean: number } {
  return { p50: summary.p50, p95: summary.p95, max: summary.max, mean: summary.mean };
}
