import { subscribe } from 'node:diagnostics_channel';
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';

/**
 * Where a request's time goes, seen from inside the server process without touching the code
 * under test: Node's built-in diagnostics channels time every request this process serves at
 * /slack/events (headers in → response sent) and every `fetch` it makes (the Slack Web API
 * client uses the global fetch; nothing else in the service does), and the process's CPU time
 * and event-loop utilization tell whether it was busy or waiting.
 */
export interface HttpTimings {
  /** The samples collected since the last call, in milliseconds; starts a new collection. */
  take(): { servedMs: number[]; outboundMs: number[]; cpuMs: number; eventLoopUtilization: number };
}

export function startHttpTimings(): HttpTimings {
  const served = new WeakMap<ServerResponse, number>();
  const outbound = new WeakMap<object, number>();
  let servedMs: number[] = [];
  let outboundMs: number[] = [];
  let cpu = process.cpuUsage();
  let eventLoop = performance.eventLoopUtilization();
  subscribe('http.server.request.start', (message) => served.set((message as { response: ServerResponse }).response, performance.now()));
  subscribe('http.server.response.finish', (message) => {
    const started = served.get((message as { response: ServerResponse }).response);
    if (started !== undefined) servedMs.push(performance.now() - started);
  });
  subscribe('undici:request:create', (message) => outbound.set((message as { request: object }).request, performance.now()));
  // Headers are in; Slack's answers are a few bytes, so that is where the call ends.
  subscribe('undici:request:headers', (message) => {
    const started = outbound.get((message as { request: object }).request);
    if (started !== undefined) outboundMs.push(performance.now() - started);
  });
  return {
    take() {
      const cpuSince = process.cpuUsage(cpu);
      const taken = { servedMs, outboundMs, cpuMs: (cpuSince.user + cpuSince.system) / 1000, eventLoopUtilization: performance.eventLoopUtilization(eventLoop).utilization };
      servedMs = [];
      outboundMs = [];
      cpu = process.cpuUsage();
      eventLoop = performance.eventLoopUtilization();
      return taken;
    },
  };
}
