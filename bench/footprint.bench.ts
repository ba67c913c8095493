import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { embeddingScenario } from './footprint/embedding-scenario.ts';
import { measureFootprint, type FootprintScenario, type PhaseFigures } from './footprint/footprint.ts';
import type { Benchmark } from './support/benchmark.ts';
import { wholeNumber } from './support/env.ts';

/**
 * Resident memory of the service idle, as a user runs it: `npm start` in the repository on the
 * embedded database, a fresh temporary DATA_DIR, nothing configured (every variable of
 * .env.example set empty, so a developer's .env does not count), PORT=0. After "Adjutant is
 * running" and a settle time, the memory of the whole process tree is read from /proc: each
 * process (npm, sh, node, esbuild…) and the sums. RSS counts pages shared between processes
 * (the node binary) once per process; PSS shares them out, and is what the tree costs the
 * machine. Target: the tree under 300 MB RSS idle (a small team's 1 GB machine).
 *
 * Phases: idle on a fresh DATA_DIR (first start, the database created), idle after a restart on
 * the same DATA_DIR, and, with the test services up (bash test/services/up.sh), the service
 * watching a Dovecot mailbox: idle, then idle again after the built-in embedder has embedded a
 * few delivered emails and its worker has gone (reported as not measured, with the reason, while
 * the embedder is not wired in). More phases: add a FootprintScenario (bench/footprint/footprint.ts).
 *
 * Each figure is one reading at the end of the settle time; an idle service's heap still grows
 * slowly between two major GCs, so the tree's RSS is then sampled once a second for
 * BENCH_FOOTPRINT_WINDOW_S (20; 0 skips it) and its min, median and max are reported beside it.
 *
 * Linux only (/proc). BENCH_FOOTPRINT_SETTLE_S (10) is the settle time,
 * BENCH_FOOTPRINT_COMMAND ("npm start") the command to compare another start path,
 * BENCH_FOOTPRINT_EMAILS (20) the emails for the embedder phase,
 * BENCH_FOOTPRINT_SCENARIOS (all) "idle" or "embedding" to run one, BENCH_KEEP=1 (`--keep`)
 * keeps the logs and data directories.
 */
const TARGET_MB = 300;
const repository = dirname(dirname(fileURLToPath(import.meta.url)));

const benchmark: Benchmark = {
  name: 'footprint',
  description: `resident memory of the whole \`npm start\` process tree idle on the embedded database, nothing configured (target < ${TARGET_MB} MB), and idle again after the built-in embedder has worked`,
  async run() {
    if (process.platform !== 'linux') throw new Error('the footprint benchmark reads /proc: Linux only');
    const settleSeconds = wholeNumber('BENCH_FOOTPRINT_SETTLE_S', 10);
    const windowSeconds = wholeNumber('BENCH_FOOTPRINT_WINDOW_S', 20, { zeroAllowed: true });
    const emails = wholeNumber('BENCH_FOOTPRINT_EMAILS', 20);
    const [command = 'npm', ...args] = (process.env.BENCH_FOOTPRINT_COMMAND || 'npm start').split(/\s+/).filter(Boolean);
    const wanted = (process.env.BENCH_FOOTPRINT_SCENARIOS || 'idle,embedding').split(',').map((name) => name.trim());

    const scenarios: FootprintScenario[] = [];
    if (wanted.includes('idle')) scenarios.push({ name: 'nothing configured', prepare: async () => ({ env: {} }), measureRestart: true });
    if (wanted.includes('embedding')) scenarios.push(embeddingScenario({ emails, seed: 1, loadTimeoutMs: 90_000, idleTimeoutMs: 300_000 }));

    const keep = Boolean(process.env.BENCH_KEEP);
    const result = await measureFootprint({ repository, command, args, settleMs: settleSeconds * 1000, windowMs: windowSeconds * 1000, startTimeoutMs: 180_000, scenarios, keep });
    if (keep) console.log(`logs and data kept: ${result.logs.join(', ')}`);
    const first = result.phases.find((phase) => phase.scenario === 'nothing configured' && phase.phase === 'idle');
    return {
      command: [command, ...args].join(' '),
      settleSeconds,
      windowSeconds,
      idle: first
        ? {
            treeRssMb: first.tree.rssMb,
            treePssMb: first.tree.pssMb ?? 'not readable',
            serviceProcessRssMb: first.service?.rssMb ?? 0,
            processes: first.tree.processes.length,
            ...(first.window ? { treeRssOverWindowMb: `${first.window.treeRssMb.min}-${first.window.treeRssMb.max} (median ${first.window.treeRssMb.median}) over ${first.window.seconds} s` } : {}),
          }
        : 'not measured',
      phases: result.phases.map(phaseRow),
      processes: result.phases.flatMap((phase) =>
        phase.tree.processes.map((memory) => ({
          phase: `${phase.scenario}: ${phase.phase}`,
          pid: memory.pid,
          command: memory.command,
          rssMb: memory.rssMb,
          anonMb: memory.anonMb,
          fileMb: memory.fileMb,
          pssMb: memory.pssMb ?? undefined,
          peakRssMb: memory.peakRssMb,
          threads: memory.threads,
        })),
      ),
      ...Object.fromEntries(result.phases.filter((phase) => phase.detail).map((phase) => [`detail (${phase.scenario}: ${phase.phase})`, phase.detail])),
      notMeasured: result.notMeasured.length > 0 ? result.notMeasured.map((entry) => ({ phase: `${entry.scenario}: ${entry.phase}`, reason: entry.reason })) : 'none',
      targets: {
        idle: first ? `${first.tree.rssMb} MB tree RSS (target < ${TARGET_MB} MB): ${first.tree.rssMb < TARGET_MB ? 'met' : 'MISSED'}` : 'not measured',
        ...(first?.window
          ? { idleWindow: `${first.window.treeRssMb.max} MB tree RSS at most over the next ${first.window.seconds} s (target < ${TARGET_MB} MB): ${first.window.treeRssMb.max < TARGET_MB ? 'met' : 'MISSED'}` }
          : {}),
      },
    };
  },
};

export default benchmark;

function phaseRow(phase: PhaseFigures): Record<string, unknown> {
  return {
    phase: `${phase.scenario}: ${phase.phase}`,
    startSeconds: phase.startSeconds,
    processes: phase.tree.processes.length,
    treeRssMb: phase.tree.rssMb,
    treeAnonMb: phase.tree.anonMb,
    treePssMb: phase.tree.pssMb ?? undefined,
    serviceRssMb: phase.service?.rssMb,
    serviceAnonMb: phase.service?.anonMb,
    servicePeakRssMb: phase.service?.peakRssMb,
    peakTreeRssMb: phase.peakTreeRssMb,
    windowTreeRssMinMb: phase.window?.treeRssMb.min,
    windowTreeRssMedianMb: phase.window?.treeRssMb.median,
    windowTreeRssMaxMb: phase.window?.treeRssMb.max,
    windowServiceRssMedianMb: phase.window?.serviceRssMb.median,
  };
}

