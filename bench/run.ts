import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Benchmark } from './support/benchmark.ts';

/**
 * `npm run bench` runs every bench/*.bench.ts; `npm run bench -- <name>` runs one. Each prints
 * its figures and writes them to bench/results/<name>.json. Benchmarks are on demand, never in
 * `npm test`: machines are shared and noisy, so figures are compared with a baseline measured in
 * the same run, not with a fixed threshold.
 *
 * Options after the names set the benchmark's environment variables: `--sizes 100000` (or
 * `--sizes=100000`) is BENCH_SIZES=100000, a bare `--keep` is BENCH_KEEP=1. Each benchmark
 * documents the variables it reads. A benchmark's top-level `details` figures are written to
 * its JSON file but not printed.
 */
const benchDirectory = dirname(fileURLToPath(import.meta.url));
const resultsDirectory = join(benchDirectory, 'results');

async function main(): Promise<number> {
  const benchmarks = await discover();
  const wanted = applyOptions(
    process.argv.slice(2).filter((argument) => argument !== '--'),
    benchmarks.map((benchmark) => benchmark.name),
  );
  const available = benchmarks.map((benchmark) => benchmark.name).join(', ') || '(none)';
  const unknown = wanted.filter((name) => !benchmarks.some((benchmark) => benchmark.name === name));
  if (unknown.length > 0) {
    console.error(`Unknown benchmark${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}. Available: ${available}.`);
    return 2;
  }
  const selected = wanted.length > 0 ? benchmarks.filter((benchmark) => wanted.includes(benchmark.name)) : benchmarks;

  let failed = 0;
  for (const benchmark of selected) {
    console.log(`\n== ${benchmark.name}: ${benchmark.description}`);
    const started = Date.now();
    try {
      const figures = await benchmark.run();
      const result = {
        name: benchmark.name,
        description: benchmark.description,
        timestamp: new Date().toISOString(),
        durationSeconds: Math.round((Date.now() - started) / 100) / 10,
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        cores: availableParallelism(),
        cpu: cpus()[0]?.model ?? 'unknown',
        figures,
      };
      // A top-level `details` goes to the JSON file only: the figures printed are the summary.
      const { details: _details, ...printed } = figures;
      print(printed);
      mkdirSync(resultsDirectory, { recursive: true });
      const file = join(resultsDirectory, `${benchmark.name}.json`);
      writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
      console.log(`\n${benchmark.name}: ${result.durationSeconds} s on ${result.cores} cores, node ${result.node}; written to ${file}`);
    } catch (error) {
      failed++;
      console.error(`\n${benchmark.name} failed:`, error);
    }
  }
  return failed > 0 ? 1 : 0;
}

async function discover(): Promise<Benchmark[]> {
  const files = readdirSync(benchDirectory)
    .filter((file) => file.endsWith('.bench.ts'))
    .sort();
  const benchmarks: Benchmark[] = [];
  for (const file of files) {
    const module = (await import(pathToFileURL(join(benchDirectory, file)).href)) as { default?: unknown };
    if (!isBenchmark(module.default)) throw new Error(`bench/${file} must default-export { name, description, run() }`);
    if (benchmarks.some((benchmark) => benchmark.name === (module.default as Benchmark).name)) throw new Error(`bench/${file}: a second benchmark is named ${module.default.name}`);
    benchmarks.push(module.default);
  }
  return benchmarks;
}

/** `--name value`, `--name=value` and a bare `--flag` become BENCH_NAME variables; the other arguments are benchmark names. */
function applyOptions(argumentsGiven: string[], benchmarkNames: string[]): string[] {
  const names: string[] = [];
  for (let index = 0; index < argumentsGiven.length; index++) {
    const argument = argumentsGiven[index] ?? '';
    if (!argument.startsWith('--')) {
      names.push(argument);
      continue;
    }
    const [option = '', inline] = argument.slice(2).split(/=(.*)/s, 2);
    const next = argumentsGiven[index + 1];
    const takesNext = inline === undefined && next !== undefined && !next.startsWith('--') && !benchmarkNames.includes(next);
    if (takesNext) index++;
    const value = inline ?? (takesNext ? next : '1');
    process.env[`BENCH_${option.toUpperCase().replace(/-/g, '_')}`] = value;
  }
  return names;
}

function isBenchmark(value: unknown): value is Benchmark {
  const candidate = value as Partial<Benchmark> | undefined;
  return typeof candidate?.name === 'string' && typeof candidate.description === 'string' && typeof candidate.run === 'function';
}

/** Scalars as `key: value`, arrays of records as aligned tables, nested records under a heading. */
function print(figures: Record<string, unknown>, indent = ''): void {
  for (const [key, value] of Object.entries(figures)) {
    if (Array.isArray(value) && value.every(isRecord) && value.length > 0) {
      console.log(`\n${indent}${key}:`);
      printTable(value, `${indent}  `);
    } else if (isRecord(value)) {
      console.log(`${indent}${key}:`);
      print(value, `${indent}  `);
    } else {
      console.log(`${indent}${key}: ${format(value)}`);
    }
  }
}

function printTable(rows: Record<string, unknown>[], indent: string): void {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  // A column with any fraction shows two decimals throughout, so 1 and 6.70 line up as 1.00 and 6.70.
  const fractional = columns.map((column) => rows.some((row) => typeof row[column] === 'number' && !Number.isInteger(row[column])));
  const cells = rows.map((row) => columns.map((column, index) => (fractional[index] && typeof row[column] === 'number' ? row[column].toFixed(2) : format(row[column]))));
  const widths = columns.map((column, index) => Math.max(column.length, ...cells.map((row) => row[index]?.length ?? 0)));
  // Text left, numbers right, so columns of figures line up on their units.
  const numeric = columns.map((column) => rows.every((row) => row[column] === undefined || typeof row[column] === 'number'));
  const line = (values: string[]) =>
    indent +
    values
      .map((value, index) => (numeric[index] ? value.padStart(widths[index] ?? 0) : value.padEnd(widths[index] ?? 0)))
      .join('  ')
      .trimEnd();
  console.log(line(columns));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  for (const row of cells) console.log(line(row));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function format(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

process.exitCode = await main().catch((error: unknown) => {
  console.error(error);
  return 1;
});
