/**
 * Slack's front door, on its own thread (HTTP mode). Slack waits 3 s for the HTTP answer to a
 * click, a command or an event; on the service's main thread that answer would queue behind
 * whatever else runs there (a send, a search, a draft). Here it does not: this thread owns the
 * public port, checks each Slack request's signature and answers it, and hands the verified
 * request to the main thread, where Bolt's listeners run (threaded-receiver.ts).
 *
 * - A button click (block_actions) or a slash command is answered at once with an empty 200:
 *   every listener of ours for those acknowledges with no content before its work (the main
 *   thread warns if one ever tries to answer with content). The click's effect follows on the
 *   main thread exactly as before, where each decision is a conditional change.
 * - So is a form submission whose callback id is in viewsAnsweredAtOnce (forms whose listeners
 *   never show field errors, such as Reject's optional reason).
 * - Anything else (events, other form submissions, whose answer can carry form errors) waits for
 *   the main thread's answer, as Bolt's own receiver does with processBeforeResponse: an event's
 *   deduplication row is written before Slack hears back, so a retry finds it.
 * - Every other path (/healthz, /mcp) is passed to the main thread's server on loopback.
 *
 * Plain JavaScript with only Node's own modules, so it runs the same under tsx, vitest and a
 * build, and the thread stays small (no Bolt, no TypeScript loader).
 *
 * workerData: { port, host, signingSecret, upstreamPort, bodyLimit, events, viewsAnsweredAtOnce }
 * Messages out: listening | listen-failed | request | refused
 * Messages in:  response | close
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { parse as parseForm } from 'node:querystring';
import { parentPort, workerData } from 'node:worker_threads';

const { port, host, signingSecret, upstreamPort, bodyLimit, events } = workerData;
const viewsAnsweredAtOnce = new Set(workerData.viewsAnsweredAtOnce || []);
/** Slack's rule: a request whose timestamp is more than five minutes off is refused (replays). */
const MAX_SKEW_SECONDS = 5 * 60;

const upstream = new http.Agent({ keepAlive: true });
/** Requests waiting for the main thread's answer, by id. */
const waiting = new Map();
let nextId = 1;
let closing = false;

const server = http.createServer((req, res) => {
  const path = (req.url || '/').split('?')[0];
  if (path === events) return void slackRequest(req, res);
  passOn(req, res);
});
server.keepAliveTimeout = 5000;
server.on('error', (error) => parentPort.postMessage({ type: 'listen-failed', error: error.message, code: error.code || null }));
server.listen(port, host || undefined, () => {
  const address = server.address();
  parentPort.postMessage({ type: 'listening', port: typeof address === 'object' && address ? address.port : port });
});

parentPort.on('message', (message) => {
  if (message.type === 'response') {
    const res = waiting.get(message.id);
    if (!res) return;
    waiting.delete(message.id);
    respond(res, message.status, message.body, message.contentType);
  } else if (message.type === 'close') {
    closing = true;
    for (const res of waiting.values()) respond(res, 503, '', null);
    waiting.clear();
    server.close(() => {
      upstream.destroy();
      parentPort.close();
    });
    server.closeAllConnections();
  }
});

function respond(res, status, body, contentType) {
  if (res.headersSent) return;
  res.writeHead(status, contentType ? { 'content-type': contentType } : {});
  res.end(body || '');
}

function refuse(res, status, reason) {
  parentPort.postMessage({ type: 'refused', status, reason });
  respond(res, status, '', null);
}

function slackRequest(req, res) {
  if (req.method !== 'POST') return refuse(res, 404, `${req.method} is not how Slack calls ${events}`);
  const chunks = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (chunk) => {
    if (tooLarge) return;
    size += chunk.length;
    if (size > bodyLimit) {
      tooLarge = true;
      chunks.length = 0;
      return;
    }
    chunks.push(chunk);
  });
  req.on('error', () => respond(res, 400, '', null));
  req.on('end', () => {
    if (tooLarge) return refuse(res, 413, `the request body is over ${bodyLimit} bytes`);
    const raw = Buffer.concat(chunks).toString('utf8');
    const problem = signatureProblem(req.headers, raw);
    if (problem) return refuse(res, 401, `Slack request refused: ${problem}`);
    let body;
    try {
      body = parseBody(req.headers['content-type'], raw);
    } catch (error) {
      return refuse(res, 400, `malformed Slack request body: ${error.message}`);
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return refuse(res, 400, 'malformed Slack request body: not an object');
    if (body.ssl_check === '1') return respond(res, 200, '', null);
    if (body.type === 'url_verification') return respond(res, 200, JSON.stringify({ challenge: body.challenge }), 'application/json');
    const retry = {
      retryNum: typeof req.headers['x-slack-retry-num'] === 'string' ? Number.parseInt(req.headers['x-slack-retry-num'], 10) : null,
      retryReason: typeof req.headers['x-slack-retry-reason'] === 'string' ? req.headers['x-slack-retry-reason'] : null,
    };
    const id = nextId++;
    const answeredHere =
      body.type === 'block_actions' ||
      typeof body.command === 'string' ||
      (body.type === 'view_submission' && viewsAnsweredAtOnce.has(body.view && body.view.callback_id));
    if (answeredHere) respond(res, 200, '', null);
    else if (closing) return respond(res, 503, '', null);
    else waiting.set(id, res);
    parentPort.postMessage({ type: 'request', id, body, acked: answeredHere, ...retry });
  });
}

/** Why a request is not from Slack (null: it is): the signing secret's HMAC over timestamp and body. */
function signatureProblem(headers, raw) {
  const timestamp = headers['x-slack-request-timestamp'];
  const signature = headers['x-slack-signature'];
  if (typeof timestamp !== 'string' || typeof signature !== 'string') return 'the x-slack-signature or x-slack-request-timestamp header is missing';
  const seconds = Number(timestamp);
  if (!Number.isInteger(seconds)) return `x-slack-request-timestamp is not a number (${timestamp.slice(0, 40)})`;
  if (Math.abs(Date.now() / 1000 - seconds) > MAX_SKEW_SECONDS) return 'x-slack-request-timestamp is more than five minutes from this machine’s clock (a replay, or a clock out of sync)';
  const expected = Buffer.from(`v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${raw}`).digest('hex')}`);
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'signature mismatch (check SLACK_SIGNING_SECRET)';
  return null;
}

/** As Slack sends them: a form with a JSON `payload` (interactions), a plain form (commands), or JSON (events). */
function parseBody(contentType, raw) {
  if (typeof contentType === 'string' && contentType.split(';')[0].trim() === 'application/x-www-form-urlencoded') {
    const form = parseForm(raw);
    if (typeof form.payload === 'string') return JSON.parse(form.payload);
    return Object.fromEntries(Object.entries(form));
  }
  return JSON.parse(raw);
}

/** Any other path: to the main thread's own server on loopback, streamed both ways (/mcp streams). */
function passOn(req, res) {
  const forward = http.request(
    { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent: upstream },
    (answer) => {
      res.writeHead(answer.statusCode || 502, answer.headers);
      answer.pipe(res);
    },
  );
  forward.on('error', (error) => {
    if (res.headersSent) return void res.destroy();
    respond(res, 502, JSON.stringify({ error: `the service did not answer: ${error.message}` }), 'application/json');
  });
  res.on('close', () => {
    if (!res.writableFinished) forward.destroy();
  });
  req.pipe(forward);
}
