import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTreeMemory, type ProcessMemory, type TreeMemory } from './process-tree.ts';
import { documentedVariables, startServiceProcess, type LogRecord, type ServiceProcess } from './service-process.ts';

/**
 * The service's memory as a user sees it on a small machine: start it the way they do, wait
 * until it says it is running, let it settle, and read the resident memory of the whole process
 * tree from /proc. A scenario is one run of the service with its own environment: its idle
 * figure first, then each of its steps (do something, then measure again, or say why not).
 */
export interface FootprintScenario {
  name: string;
  /** The environment this run needs on top of the empty one, or why it cannot run on this machine. */
  prepare(): Promise<{ env: Record<string, string>; cleanup?: () => Promise<void> } | { skip: string }>;
  /** Run in order after the idle measurement. */
  steps?: FootprintStep[];
  /** Stop after the steps and start again on the same DATA_DIR: the figure of a restart, with no first-time set-up in it. */
  measureRestart?: boolean;
}

export interface FootprintStep {
  /** Names the phase measured after it: `after <name>`. */
  name: string;
  run(service: RunningService): Promise<StepOutcome>;
}

/** `measure`: settle and measure now. `notMeasured`: the step could not bring the service to the state it measures. */
export type StepOutcome = { measure: true; detail?: Record<string, string | number> } | { notMeasured: string };

export interface RunningService {
  readonly process: ServiceProcess;
  readonly port: number;
  readonly dataDir: string;
  readonly env: Readonly<Record<string, string>>;
  /** Resolves with the first record `match` accepts, waiting up to `timeoutMs`; rejects on timeout or exit. */
  waitForRecord(what: string, match: (record: LogRecord) => boolean, timeoutMs: number): Promise<LogRecord>;
}

export interface FootprintOptions {
  /** The repository to start the service in (package.json, .env.example). */
  repository: string;
  /** How the service is started; `npm start` unless overridden. */
  command: string;
  args: string[];
  settleMs: number;
  /**
   * After each measurement, how long the tree's RSS is sampled (once a second) for its range. An
   * idle service still allocates (job polling), so its heap grows between two major GCs: one
   * reading can fall anywhere on that saw-tooth, the range shows where.
   */
  windowMs: number;
  startTimeoutMs: number;
  scenarios: FootprintScenario[];
  /** Where logs and data go; removed afterwards unless `keep`. */
  workDirectory?: string;
  keep?: boolean;
}

export interface PhaseFigures {
  scenario: string;
  phase: string;
  /** Seconds from spawn to "Adjutant is running" (idle phases only). */
  startSeconds?: number;
  tree: TreeMemory;
  /** The node process that runs the service: the largest in the tree. */
  service: ProcessMemory | null;
  /**
   * The most the tree had resident at once, sampled every 250 ms: from spawn to the measurement
   * for an idle phase, over the step and the settle time for a step. Catches short-lived
   * processes that VmHWM of the survivors does not show.
   */
  peakTreeRssMb: number;
  /** Tree and service RSS sampled once a second for `windowMs` after the measurement. */
  window: { seconds: number; treeRssMb: Range; serviceRssMb: Range } | null;
  detail?: Record<string, string | number>;
}

export interface Range {
  min: number;
  median: number;
  max: number;
}

export interface FootprintResult {
  phases: PhaseFigures[];
  notMeasured: { scenario: string; phase: string; reason: string }[];
  logs: string[];
}

export const RUNNING_MESSAGE = 'Adjutant is running';

export async function measureFootprint(options: FootprintOptions): Promise<FootprintResult> {
  const work = options.workDirectory ?? mkdtempSync(join(tmpdir(), 'adjutant-footprint-'));
  const result: FootprintResult = { phases: [], notMeasured: [], logs: [] };
  try {
    for (const scenario of options.scenarios) await runScenario(scenario, options, work, result);
  } finally {
    if (!options.keep) rmSync(work, { recursive: true, force: true });
  }
  return result;
}

async function runScenario(scenario: FootprintScenario, options: FootprintOptions, work: string, result: FootprintResult): Promise<void> {
  const prepared = await scenario.prepare();
  if ('skip' in prepared) {
    result.notMeasured.push({ scenario: scenario.name, phase: 'idle', reason: prepared.skip });
    for (const step of scenario.steps ?? []) result.notMeasured.push({ scenario: scenario.name, phase: `after ${step.name}`, reason: prepared.skip });
    return;
  }
  const dataDir = mkdtempSync(join(work, `${slug(scenario.name)}-data-`));
  // An empty temporary directory, as on a fresh machine: tsx's cache of compiled files lives
  // there, so the first start compiles every file (and keeps esbuild running) as a fresh clone
  // does; the restart finds the cache.
  const temporary = mkdtempSync(join(work, `${slug(scenario.name)}-tmp-`));
  const env = serviceEnvironment(options.repository, { DATA_DIR: dataDir, PORT: '0', TMPDIR: temporary, ...prepared.env });
  try {
    let run = 1;
    const started = await startAndSettle(options, env, join(work, `${slug(scenario.name)}-${run}.log`));
    result.logs.push(started.service.process.logFile);
    try {
      const idle = measure(started.service.process.pid);
      const idlePeak = started.peak.stop();
      result.phases.push({ scenario: scenario.name, phase: 'idle', startSeconds: started.startSeconds, ...idle, peakTreeRssMb: idlePeak, window: await sampleWindow(started.service.process.pid, options.windowMs) });
      for (const step of scenario.steps ?? []) {
        const phase = `after ${step.name}`;
        const peak = samplePeak(started.service.process.pid);
        let outcome: StepOutcome;
        try {
          outcome = await step.run(started.service);
        } catch (error) {
          outcome = { notMeasured: `the step failed: ${(error as Error).message}` };
        }
        if ('notMeasured' in outcome) {
          peak.stop();
          result.notMeasured.push({ scenario: scenario.name, phase, reason: outcome.notMeasured });
          continue;
        }
        await sleep(options.settleMs);
        const figures = measure(started.service.process.pid);
        const stepPeak = peak.stop();
        result.phases.push({ scenario: scenario.name, phase, ...figures, peakTreeRssMb: stepPeak, window: await sampleWindow(started.service.process.pid, options.windowMs), ...(outcome.detail ? { detail: outcome.detail } : {}) });
      }
    } finally {
      await started.service.process.stop();
    }
    if (scenario.measureRestart) {
      run += 1;
      const restarted = await startAndSettle(options, env, join(work, `${slug(scenario.name)}-${run}.log`));
      result.logs.push(restarted.service.process.logFile);
      try {
        const figures = measure(restarted.service.process.pid);
        const restartPeak = restarted.peak.stop();
        result.phases.push({
          scenario: scenario.name,
          phase: 'idle after a restart (same DATA_DIR)',
          startSeconds: restarted.startSeconds,
          ...figures,
          peakTreeRssMb: restartPeak,
          window: await sampleWindow(restarted.service.process.pid, options.windowMs),
        });
      } finally {
        await restarted.service.process.stop();
      }
    }
  } finally {
    await prepared.cleanup?.();
  }
}

async function startAndSettle(options: FootprintOptions, env: Record<string, string>, logFile: string): Promise<{ service: RunningService; startSeconds: number; peak: PeakSampler }> {
  const spawned = Date.now();
  const child = startServiceProcess({ command: options.command, args: options.args, cwd: options.repository, env, logFile });
  const peak = samplePeak(child.pid);
  try {
    const running = await child.waitForRecord(`"${RUNNING_MESSAGE}"`, (record) => record.msg === RUNNING_MESSAGE, options.startTimeoutMs);
    const startSeconds = Math.round((Date.now() - spawned) / 100) / 10;
    await sleep(options.settleMs);
    if (child.exited()) throw new Error(`the service exited while settling; log: ${logFile}`);
    const service: RunningService = {
      process: child,
      port: Number(running.port),
      dataDir: env.DATA_DIR ?? '',
      env,
      waitForRecord: (what, match, timeoutMs) => child.waitForRecord(what, match, timeoutMs),
    };
    return { service, startSeconds, peak };
  } catch (error) {
    peak.stop();
    await child.stop();
    throw error;
  }
}

interface PeakSampler {
  /** Stops sampling; the highest tree RSS seen, in MB. */
  stop(): number;
}

function samplePeak(rootPid: number, everyMs = 250): PeakSampler {
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, readTreeMemory(rootPid, { pss: false }).rssMb);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

function measure(rootPid: number): { tree: TreeMemory; service: ProcessMemory | null } {
  const tree = readTreeMemory(rootPid);
  return { tree, service: largest(tree) };
}

function largest(tree: TreeMemory): ProcessMemory | null {
  return tree.processes.reduce<ProcessMemory | null>((found, memory) => (found === null || memory.rssMb > found.rssMb ? memory : found), null);
}

/** RSS once a second for `ms` (none when 0): the spread of an idle service's saw-tooth. */
async function sampleWindow(rootPid: number, ms: number): Promise<PhaseFigures['window']> {
  if (ms <= 0) return null;
  const trees: number[] = [];
  const services: number[] = [];
  for (let elapsed = 0; elapsed <= ms; elapsed += 1000) {
    const tree = readTreeMemory(rootPid, { pss: false });
    trees.push(tree.rssMb);
    services.push(largest(tree)?.rssMb ?? 0);
    if (elapsed + 1000 <= ms) await sleep(1000);
  }
  return { seconds: Math.round(ms / 1000), treeRssMb: range(trees), serviceRssMb: range(services) };
}

function range(values: number[]): Range {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  return { min: sorted[0] ?? 0, median: Math.round(median * 10) / 10, max: sorted.at(-1) ?? 0 };
}

/**
 * An environment with nothing configured, as on a fresh clone with an empty `.env`: every
 * documented variable set to '' (an empty value counts as unset, and the environment wins over
 * a developer's `.env`), plus what the scenario sets. Only the basics of a login shell are kept
 * from the bench's own environment: not NODE_OPTIONS or npm_* variables.
 */
export function serviceEnvironment(repository: string, values: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  for (const name of documentedVariables(join(repository, '.env.example'))) env[name] = '';
  return { ...env, ...values };
}

function slug(name: string): string {
  return name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
