import { performance } from 'node:perf_hooks';

export interface LatencySummary {
  requests: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles in milliseconds, rounded to 0.01 ms. */
export function summarize(samplesMs: readonly number[]): LatencySummary {
  if (samplesMs.length === 0) throw new Error('no latency samples to summarize');
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (quantile: number) => sorted[Math.max(0, Math.ceil(quantile * sorted.length) - 1)] ?? Number.NaN;
  const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
  return { requests: sorted.length, p50: round(at(0.5)), p95: round(at(0.95)), p99: round(at(0.99)), max: round(sorted.at(-1) ?? Number.NaN), mean: round(mean) };
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/**
 * Closed-loop load: `concurrency` workers each send their next request as soon as the previous
 * one answered, until `requests` have been sent. Returns each request's latency and the wall time.
 */
export async function runClosedLoop(options: { concurrency: number; requests: number; send(index: number): Promise<void> }): Promise<{ latenciesMs: number[]; wallMs: number }> {
  const latenciesMs: number[] = [];
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < options.requests && !failed) {
      const index = next++;
      const started = performance.now();
      try {
        await options.send(index);
      } catch (error) {
        // The first failure ends the run; the other workers stop at their next request.
        failed = true;
        throw error;
      }
      latenciesMs.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.requests) }, worker));
  return { latenciesMs, wallMs: performance.now() - started };
}
