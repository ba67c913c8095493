import { Worker } from 'node:worker_threads';
import { z } from 'zod';

/**
 * The load generator on a thread of its own. The bench process also hosts the fakes Adjutant
 * calls after its acks (the Slack Web API, the SMTP server, the response_url catcher); on one
 * event loop, reading an ack's response would wait behind that traffic, which only Adjutant
 * makes (the bare app calls nothing), so the comparison would not be fair. Here the requests
 * are sent and timed on their own event loop, the same way for both apps.
 *
 * Each request is signed at the moment it is sent, as Slack does. Plain JavaScript (no loader).
 */
export interface LoadRequest {
  contentType: string;
  body: string;
}

export interface LoadRun {
  url: string;
  signingSecret: string;
  requests: LoadRequest[];
  /** Closed loop with this many in flight (pauseMs 0), or one at a time with a pause after each. */
  concurrency: number;
  pauseMs: number;
}

const resultSchema = z.object({
  latenciesMs: z.array(z.number()),
  wallMs: z.number(),
  /** Per request, by index: when it was sent (ms since the epoch, for comparing across threads), its status and the start of its body. */
  sentAtEpochMs: z.array(z.number()),
  statuses: z.array(z.number()),
  bodies: z.array(z.string()),
});
export type LoadResult = z.infer<typeof resultSchema>;

const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHmac } = require('node:crypto');
const { performance } = require('node:perf_hooks');
const { url, signingSecret, requests, concurrency, pauseMs } = workerData;

async function send(index) {
  const request = requests[index];
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = 'v0=' + createHmac('sha256', signingSecret).update('v0:' + timestamp + ':' + request.body).digest('hex');
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': request.contentType, 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': signature },
    body: request.body,
  });
  return { status: response.status, body: (await response.text()).slice(0, 200) };
}

(async () => {
  const count = requests.length;
  const latenciesMs = [];
  const sentAtEpochMs = new Array(count).fill(0);
  const statuses = new Array(count).fill(0);
  const bodies = new Array(count).fill('');
  const one = async (index) => {
    const started = performance.now();
    sentAtEpochMs[index] = performance.timeOrigin + started;
    const answer = await send(index);
    latenciesMs.push(performance.now() - started);
    statuses[index] = answer.status;
    bodies[index] = answer.body;
    return answer.status === 200;
  };
  const started = performance.now();
  if (pauseMs > 0) {
    for (let index = 0; index < count; index++) {
      if (!(await one(index))) break;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  } else {
    // Closed loop: each of \`concurrency\` senders sends its next request when its last one is answered; the first failure stops them.
    let next = 0;
    let failed = false;
    const sender = async () => {
      while (next < count && !failed) {
        if (!(await one(next++))) failed = true;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, sender));
  }
  parentPort.postMessage({ latenciesMs, wallMs: performance.now() - started, sentAtEpochMs, statuses, bodies });
})().catch((error) => {
  parentPort.postMessage({ error: String(error && error.stack || error) });
});
`;

export async function runLoadOnThread(run: LoadRun): Promise<LoadResult> {
  const worker = new Worker(SOURCE, { eval: true, workerData: run, execArgv: [] });
  try {
    const message = await new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the load thread exited (code ${code}) before reporting`)));
    });
    const failure = z.object({ error: z.string() }).safeParse(message);
    if (failure.success) throw new Error(`the load thread failed: ${failure.data.error}`);
    return resultSchema.parse(message);
  } finally {
    await worker.terminate();
  }
}
