import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe } from 'node:diagnostics_channel';
import { Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

/**
 * Where a request's time goes, seen from inside the server process without touching the code
 * under test: Node's built-in diagnostics channels time every request this process serves at
 * /slack/events (headers in → response sent) and every `fetch` it makes (the Slack Web API
 * client, Bolt's respond() and the Anthropic SDK use the global fetch), and the process's CPU
 * time and event-loop utilization tell whether it was busy or waiting.
 *
 * With `trace` (BENCH_TRACE=1), each request also runs in an AsyncLocalStorage context, and the
 * database queries (pg.Pool#query: Prisma's PostgreSQL adapter, the job queue, the event dedupe)
 * and fetch calls it starts before its response is sent are added up: the ack's time is then
 * database + Slack calls + the rest (JavaScript, and waiting for the event loop behind other
 * work). Async context tracking costs time of its own, so it is off for the headline figures.
 * PGlite's Prisma adapter does not go through pg.Pool: there the database share is partial.
 */
export interface RequestTraces {
  /** Per request served: milliseconds waiting on the database and on fetch calls before the response, and how many. */
  dbMs: number[];
  dbQueries: number[];
  fetchMs: number[];
  fetches: number[];
}

export interface HttpTimings {
  /** The samples collected since the last call, in milliseconds; starts a new collection. */
  take(): { servedMs: number[]; outboundMs: number[]; cpuMs: number; eventLoopUtilization: number; traces: RequestTraces | null };
}

interface Trace {
  finished: number | null;
  dbMs: number;
  dbQueries: number;
  fetchMs: number;
  fetches: number;
}

export function startHttpTimings(options: { trace: boolean }): HttpTimings {
  const served = new WeakMap<ServerResponse, number>();
  const outbound = new WeakMap<object, { started: number; trace: Trace | undefined }>();
  let servedMs: number[] = [];
  let outboundMs: number[] = [];
  let traces: RequestTraces = { dbMs: [], dbQueries: [], fetchMs: [], fetches: [] };
  let cpu = process.cpuUsage();
  let eventLoop = performance.eventLoopUtilization();
  const context = options.trace ? installTracing() : null;

  subscribe('http.server.request.start', (message) => served.set((message as { response: ServerResponse }).response, performance.now()));
  subscribe('http.server.response.finish', (message) => {
    const response = (message as { response: ServerResponse }).response;
    const started = served.get(response);
    if (started !== undefined) servedMs.push(performance.now() - started);
    const trace = context?.traces.get(response);
    if (trace) {
      trace.finished = performance.now();
      traces.dbMs.push(trace.dbMs);
      traces.dbQueries.push(trace.dbQueries);
      traces.fetchMs.push(trace.fetchMs);
      traces.fetches.push(trace.fetches);
    }
  });
  subscribe('undici:request:create', (message) => outbound.set((message as { request: object }).request, { started: performance.now(), trace: context?.storage.getStore() }));
  // Headers are in; the answers are a few bytes, so that is where the call ends.
  subscribe('undici:request:headers', (message) => {
    const call = outbound.get((message as { request: object }).request);
    if (!call) return;
    const now = performance.now();
    outboundMs.push(now - call.started);
    if (call.trace && call.trace.finished === null) {
      call.trace.fetchMs += now - call.started;
      call.trace.fetches += 1;
    }
  });
  return {
    take() {
      const cpuSince = process.cpuUsage(cpu);
      const taken = { servedMs, outboundMs, cpuMs: (cpuSince.user + cpuSince.system) / 1000, eventLoopUtilization: performance.eventLoopUtilization(eventLoop).utilization, traces: context ? traces : null };
      servedMs = [];
      outboundMs = [];
      traces = { dbMs: [], dbQueries: [], fetchMs: [], fetches: [] };
      cpu = process.cpuUsage();
      eventLoop = performance.eventLoopUtilization();
      return taken;
    },
  };
}

/** Every HTTP request handled in its own context; pg.Pool#query calls add their time (pool wait included) to the context's request until its response is sent. */
function installTracing(): { storage: AsyncLocalStorage<Trace>; traces: WeakMap<ServerResponse, Trace> } {
  const storage = new AsyncLocalStorage<Trace>();
  const traces = new WeakMap<ServerResponse, Trace>();
  const emit = Server.prototype.emit as (this: Server, event: string | symbol, ...args: unknown[]) => boolean;
  Server.prototype.emit = function (this: Server, event: string | symbol, ...args: unknown[]) {
    if (event !== 'request') return emit.call(this, event, ...args);
    const trace: Trace = { finished: null, dbMs: 0, dbQueries: 0, fetchMs: 0, fetches: 0 };
    traces.set(args[1] as ServerResponse, trace);
    return storage.run(trace, () => emit.call(this, event, ...args));
  } as typeof Server.prototype.emit;

  const query = pg.Pool.prototype.query as (...args: unknown[]) => unknown;
  const add = (trace: Trace | undefined, started: number) => {
    if (!trace || trace.finished !== null) return;
    trace.dbMs += performance.now() - started;
    trace.dbQueries += 1;
  };
  pg.Pool.prototype.query = function (this: pg.Pool, ...args: unknown[]) {
    const trace = storage.getStore();
    const started = performance.now();
    const callback = args.at(-1);
    if (typeof callback === 'function') {
      args[args.length - 1] = (...results: unknown[]) => {
        add(trace, started);
        return (callback as (...values: unknown[]) => unknown)(...results);
      };
      return query.apply(this, args);
    }
    const result = query.apply(this, args) as Promise<unknown>;
    result.then(
      () => add(trace, started),
      () => add(trace, started),
    );
    return result;
  } as typeof pg.Pool.prototype.query;
  return { storage, traces };
}
