import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIEW_REJECT } from '../src/channels/slack/blocks.ts';
import { createSlackApp, type SlackApp } from '../src/channels/slack/slack-app.ts';
import { waitUntil } from './support/wait.ts';
import { captureLogs } from './support/log-capture.ts';
import { buttonClick, modalSubmission, sendSignedEvent, sendSignedInteraction, slackSignature, startSlackFake, type SlackFake } from './fakes/slack-fake.ts';

/**
 * The Slack front thread (HTTP mode): it owns the public port, checks signatures and answers
 * clicks, commands and the Reject form itself, so Slack's 3-second limit holds even while the
 * service's main thread is busy; other forms and events still get their listener's answer; every other path reaches
 * the service's own server.
 */
const TOKEN = 'xoxb-front-thread';
const SECRET = 'front-thread-signing-secret';

/**
 * POST a signed interaction from another process and report how long its answer took, as Slack
 * would see it: the measurement must not run on the thread the test is about to block.
 */
function postFromAnotherProcess(url: string, payload: Record<string, unknown>): Promise<{ status: number; ms: number }> {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': slackSignature(SECRET, timestamp, body) };
  const script = `
    const [url, headers, body] = process.argv.slice(1);
    const started = performance.now();
    const response = await fetch(url, { method: 'POST', headers: JSON.parse(headers), body });
    await response.text();
    process.stdout.write(JSON.stringify({ status: response.status, ms: performance.now() - started }));`;
  const child = spawn(process.execPath, ['--input-type=module', '--eval', script, url, JSON.stringify(headers), body], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(output) as { status: number; ms: number }) : reject(new Error(`the clicking process exited with ${code}`))));
  });
}

/**
 * An interaction posted while this thread is busy for 4 s, as a long search or a burst of sends
 * would make it (nothing else runs on this thread meanwhile); its answer as Slack saw it.
 */
function postWhileBusy(url: string, payload: Record<string, unknown>): Promise<{ status: number; ms: number }> {
  const answer = postFromAnotherProcess(url, payload);
  const busyUntil = Date.now() + 4000;
  while (Date.now() < busyUntil) {
    // spin
  }
  return answer;
}

describe('the Slack front thread', { timeout: 60_000 }, () => {
  let slack: SlackFake;
  let app: SlackApp;
  let upstream: Server;
  let base: string;
  const logs = captureLogs();
  const clicks: string[] = [];
  const rejections: string[] = [];
  const events: string[] = [];

  beforeAll(async () => {
    slack = await startSlackFake({ botToken: TOKEN });
    app = createSlackApp({ botToken: TOKEN, signingSecret: SECRET, apiUrl: slack.apiUrl, logger: logs.logger });
    app.app.action('front_test_button', async ({ ack, action }) => {
      await ack();
      clicks.push((action as { value?: string }).value ?? '');
    });
    app.app.view('front_test_form', async ({ ack, view }) => {
      const text = view.state.values.reply?.text?.value ?? '';
      if (text.trim() === '') return void (await ack({ response_action: 'errors', errors: { reply: 'Write something.' } }));
      await ack();
    });
    app.app.view(VIEW_REJECT, async ({ ack, view }) => {
      await ack();
      rejections.push(view.state.values.reason?.text?.value ?? '');
    });
    app.app.event('message', async ({ event }) => {
      // An event's answer waits for its listener (its dedupe row is written before Slack hears back).
      await new Promise((resolve) => setTimeout(resolve, 300));
      events.push((event as { text?: string }).text ?? '');
    });
    // The service's own server, as main.ts puts it behind the front thread: here it streams its answer.
    upstream = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-from': 'upstream' });
      res.write(`${req.method} ${req.url} `);
      setTimeout(() => res.end('streamed'), 50);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    if (!app.serveHttp) throw new Error('expected HTTP mode');
    const port = await app.serveHttp({ port: 0, host: '127.0.0.1', upstreamPort: (upstream.address() as AddressInfo).port });
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await app?.stop();
    await new Promise((resolve) => upstream?.close(resolve));
    await slack?.close();
  });

  it('answers a click within Slack’s 3 s while the main thread is busy for 4 s, and the click then takes effect once', async () => {
    const { status, ms } = await postWhileBusy(`${base}/slack/events`, buttonClick({ userId: 'U0ANA', channel: 'C0APPROVALS', messageTs: '1767226000.000100', actionId: 'front_test_button', value: 'busy' }));
    expect(status).toBe(200);
    expect(ms).toBeLessThan(3000);
    await waitUntil('the click’s listener', () => clicks.length > 0, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(clicks).toEqual(['busy']);
  });

  it('answers the Reject form within Slack’s 3 s while the main thread is busy, and its listener then runs once', async () => {
    const form = modalSubmission({ userId: 'U0ANA', callbackId: VIEW_REJECT, privateMetadata: '{}', text: 'Wrong price list', blockId: 'reason', actionId: 'text' });
    const { status, ms } = await postWhileBusy(`${base}/slack/events`, form);
    expect(status).toBe(200);
    expect(ms).toBeLessThan(3000);
    await waitUntil('the Reject form’s listener', () => rejections.length > 0, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(rejections).toEqual(['Wrong price list']);
  });

  it('answers a form with its listener’s answer: errors to show, or an empty 200', async () => {
    const form = (text: string) => modalSubmission({ userId: 'U0ANA', callbackId: 'front_test_form', privateMetadata: '{}', text, blockId: 'reply', actionId: 'text' });
    const empty = await sendSignedInteraction(`${base}/slack/events`, SECRET, form('  '));
    expect(empty.status).toBe(200);
    expect(JSON.parse(empty.body)).toEqual({ response_action: 'errors', errors: { reply: 'Write something.' } });
    const written = await sendSignedInteraction(`${base}/slack/events`, SECRET, form('Thanks, booked.'));
    expect(written).toEqual({ status: 200, body: '' });
  });

  it('answers an event after its listener has finished', async () => {
    const response = await sendSignedEvent(`${base}/slack/events`, SECRET, { type: 'message', channel: 'C0GENERAL', user: 'U0ANA', ts: '1767226200.000100', text: 'Lathe belt replaced.' }, { eventId: 'EvFRONT1' });
    expect(response.status).toBe(200);
    expect(events).toEqual(['Lathe belt replaced.']);
  });

  it('refuses forged, stale, unsigned and oversized requests, and records nothing from them', async () => {
    const click = buttonClick({ userId: 'U0ANA', channel: 'C0APPROVALS', messageTs: '1767226000.000100', actionId: 'front_test_button', value: 'forged' });
    expect((await sendSignedInteraction(`${base}/slack/events`, 'not-the-secret', click)).status).toBe(401);
    expect((await sendSignedInteraction(`${base}/slack/events`, SECRET, click, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 })).status).toBe(401);
    expect((await fetch(`${base}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(401);
    const huge = await fetch(`${base}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(5 * 1024 * 1024) }).catch(() => null);
    // 413, or the connection closed while the client was still sending: either way, refused.
    if (huge) expect(huge.status).toBe(413);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(clicks).not.toContain('forged');
    const refusals = logs.records().filter((line) => line.level === 40);
    expect(refusals.map((line) => line.msg)).toEqual(
      expect.arrayContaining([expect.stringContaining('signature mismatch (check SLACK_SIGNING_SECRET)'), expect.stringContaining('more than five minutes'), expect.stringContaining('header is missing')]),
    );
  });

  it('answers Slack’s URL check and SSL check itself', async () => {
    const body = JSON.stringify({ type: 'url_verification', challenge: 'c-123', token: 'legacy' });
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await fetch(`${base}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': slackSignature(SECRET, timestamp, body) },
      body,
    });
    expect(await response.json()).toEqual({ challenge: 'c-123' });
    const ssl = 'ssl_check=1&token=legacy';
    const check = await fetch(`${base}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': slackSignature(SECRET, timestamp, ssl) },
      body: ssl,
    });
    expect(check.status).toBe(200);
  });

  it('passes every other path to the service’s own server, streamed, with its status and headers', async () => {
    const response = await fetch(`${base}/healthz?verbose=1`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-from')).toBe('upstream');
    expect(await response.text()).toBe('GET /healthz?verbose=1 streamed');
  });
});
