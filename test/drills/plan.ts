import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { seededRandom } from './random.ts';

/**
 * What a drill run does and when, decided up front from the seed: the same seed gives the same
 * bursts, kill times, approvals and think times. (What the service does in between is not
 * deterministic, which is why each run counts what actually happened.)
 */
export type KillMode = 'random' | 'in-flight' | 'mixed';

export interface DrillOptions {
  messages: number;
  approvals: number;
  kills: number;
  seed: number;
  killMode: KillMode;
  slackDelayMs: [number, number];
  smtpDelayMs: [number, number];
  restartPauseMs: [number, number];
  /** After the last delivery, kill and click: how long to wait for the service to finish its work. */
  settleTimeoutMs: number;
  /** Slowest acceptable reply (delivery → card plus click → sent). */
  replyTargetMs: number;
  serviceRoot: string;
  keep: boolean;
  out: string;
}

export const USAGE = `Usage: npx tsx test/drills/crash-drill.ts [options]

  --messages N        forwarded emails to deliver in bursts (300)
  --approvals N       drafts to approve with a signed click (50)
  --kills N           SIGKILLs of the service (5)
  --seed N            seed for the whole plan (1)
  --kill-mode M       random | in-flight | mixed (mixed): in-flight kills fire on the next
                      Slack post/update or SMTP message after their time, while the fake
                      holds its answer; random ones fire at their time
  --slack-delay A-B   Slack answer delay range in ms (30-300)
  --smtp-delay A-B    SMTP DATA accept delay range in ms (50-500)
  --restart-pause A-B pause between a kill and the restart, ms (500-2000)
  --settle-timeout S  seconds to wait for the service to finish after the last event (120)
  --reply-target S    slowest acceptable reply in seconds (30)
  --service-root DIR  repository whose bin/adjutant.mjs is run (this one)
  --keep              keep the database and log directory
  --out FILE          figures as JSON (bench/results/crash-drill.json)`;

export function parseDrillOptions(argv: string[], repositoryRoot: string): DrillOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      messages: { type: 'string', default: '300' },
      approvals: { type: 'string', default: '50' },
      kills: { type: 'string', default: '5' },
      seed: { type: 'string', default: '1' },
      'kill-mode': { type: 'string', default: 'mixed' },
      'slack-delay': { type: 'string', default: '30-300' },
      'smtp-delay': { type: 'string', default: '50-500' },
      'restart-pause': { type: 'string', default: '500-2000' },
      'settle-timeout': { type: 'string', default: '120' },
      'reply-target': { type: 'string', default: '30' },
      'service-root': { type: 'string', default: repositoryRoot },
      keep: { type: 'boolean', default: false },
      out: { type: 'string', default: resolve(repositoryRoot, 'bench/results/crash-drill.json') },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const killMode = values['kill-mode'];
  if (killMode !== 'random' && killMode !== 'in-flight' && killMode !== 'mixed') throw new Error(`--kill-mode must be random, in-flight or mixed, not ${killMode}`);
  const messages = whole('--messages', values.messages, 1);
  return {
    messages,
    approvals: Math.min(whole('--approvals', values.approvals, 0), messages),
    kills: whole('--kills', values.kills, 0),
    seed: whole('--seed', values.seed, 0),
    killMode,
    slackDelayMs: range('--slack-delay', values['slack-delay']),
    smtpDelayMs: range('--smtp-delay', values['smtp-delay']),
    restartPauseMs: range('--restart-pause', values['restart-pause']),
    settleTimeoutMs: whole('--settle-timeout', values['settle-timeout'], 1) * 1000,
    replyTargetMs: whole('--reply-target', values['reply-target'], 1) * 1000,
    serviceRoot: resolve(values['service-root']),
    keep: values.keep,
    out: resolve(values.out),
  };
}

function whole(name: string, raw: string, min: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number ≥ ${min}, not ${raw}`);
  return value;
}

function range(name: string, raw: string): [number, number] {
  const match = /^(\d+)(?:-(\d+))?$/.exec(raw);
  if (!match?.[1]) throw new Error(`${name} must be a range in ms such as 30-300, not ${raw}`);
  const low = Number(match[1]);
  const high = Number(match[2] ?? match[1]);
  if (high < low) throw new Error(`${name}: ${high} is below ${low}`);
  return [low, high];
}

export interface Burst {
  /** ms after deliveries start. */
  at: number;
  indices: number[];
}

export interface PlannedKill {
  number: number;
  /** ms after deliveries start. */
  at: number;
  mode: 'random' | 'in-flight';
  /** Pause before the restart, ms. */
  pauseMs: number;
  /**
   * A kill whose time comes while the service is still restarting waits until it has been up
   * this long, so overdue kills do not all land in the first moment after start-up.
   */
  minUptimeMs: number;
}

export interface PlannedApproval {
  index: number;
  /** ms between the draft message appearing in Slack and the click. */
  thinkMs: number;
  /** A second click this long after the first (a double click), or null. */
  doubleClickAfterMs: number | null;
}

export interface DrillPlan {
  bursts: Burst[];
  /** ms after deliveries start of the last burst. */
  deliveryWindowMs: number;
  kills: PlannedKill[];
  approvals: Map<number, PlannedApproval>;
}

/** Messages arrive as a mail server flushes its queue: bursts of 3-25, 1-4 s apart. */
export function makePlan(options: DrillOptions): DrillPlan {
  const burstRandom = seededRandom(options.seed, 'bursts');
  const bursts: Burst[] = [];
  let next = 0;
  let at = 0;
  while (next < options.messages) {
    const size = Math.min(options.messages - next, burstRandom.int(3, 25));
    bursts.push({ at: Math.round(at), indices: Array.from({ length: size }, (_, offset) => next + offset) });
    next += size;
    at += burstRandom.between(1000, 4000);
  }
  const deliveryWindowMs = bursts.at(-1)?.at ?? 0;

  // Kills spread over the deliveries and the approvals that follow them (drafts reach Slack and
  // get clicked for a while after the last delivery).
  const killRandom = seededRandom(options.seed, 'kills');
  const killWindow: [number, number] = [3000, deliveryWindowMs + 20_000];
  const killTimes = Array.from({ length: options.kills }, () => Math.round(killRandom.between(...killWindow))).sort((a, b) => a - b);
  const kills = killTimes.map((time, index): PlannedKill => ({
    number: index + 1,
    at: time,
    mode: options.killMode === 'mixed' ? (index % 2 === 0 ? 'random' : 'in-flight') : options.killMode,
    pauseMs: Math.round(killRandom.between(...options.restartPauseMs)),
    minUptimeMs: Math.round(killRandom.between(1000, 5000)),
  }));

  const approvalRandom = seededRandom(options.seed, 'approvals');
  const chosen = approvalRandom.shuffle(Array.from({ length: options.messages }, (_, index) => index)).slice(0, options.approvals);
  const approvals = new Map<number, PlannedApproval>();
  for (const index of chosen.sort((a, b) => a - b)) {
    approvals.set(index, {
      index,
      thinkMs: Math.round(approvalRandom.between(300, 3000)),
      doubleClickAfterMs: approvalRandom.chance(0.2) ? Math.round(approvalRandom.between(80, 600)) : null,
    });
  }
  return { bursts, deliveryWindowMs, kills, approvals };
}
