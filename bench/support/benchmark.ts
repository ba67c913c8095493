/**
 * A benchmark that `npm run bench` can find: a `bench/<name>.bench.ts` file whose default export
 * is one of these. `run` returns the figures to print and to write to bench/results/<name>.json.
 */
export interface Benchmark {
  name: string;
  description: string;
  run(): Promise<Record<string, unknown>>;
}
