import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ApprovalRecord } from './approver.ts';
import { checkInvariants, followMessages, spread, type DatabaseSnapshot, type Delivered, type Invariant, type Spread } from './counting.ts';
import type { Journal } from './fakes.ts';
import type { DrillMessage } from './forwards.ts';
import type { DrillOptions, DrillPlan } from './plan.ts';
import type { ServiceRun } from './service-process.ts';
import { messageTimeline } from './timeline.ts';

/** Prints a drill's result as a few small tables and writes the same figures as JSON. */
export interface KillRecord {
  number: number;
  mode: 'random' | 'in-flight';
  /** ms since the drill started. */
  plannedAt: number;
  firedAt: number | null;
  /** What was happening when it fired: 'timer', or the outside write it interrupted. */
  trigger: string;
  run: number | null;
  uptimeMs: number | null;
  pauseMs: number;
  /** Restart spawn → ready (watching the mailbox). */
  restartReadyMs: number | null;
}

export interface DrillReport {
  title: string;
  options: Record<string, unknown>;
  durationSeconds: number;
  messages: { delivered: number; formats: Record<string, number> };
  runs: { number: number; pid: number | null; upSeconds: number | null; end: string | null; httpAfterSeconds: number | null; readyAfterSeconds: number | null }[];
  kills: KillRecord[];
  invariants: Invariant[];
  counts: Record<string, number>;
  draftStatuses: Record<string, number>;
  latency: Record<string, Spread>;
  jobs: DatabaseSnapshot['jobs'];
  settled: { quiescent: boolean; waitedSeconds: number; reason: string };
  /** Failing messages, each with the invariants it broke and its merged timeline (ms since the drill started). */
  timelines: { index: number; failed: string[]; events: string[] }[];
  /** What the service announced in the channel (stalls, given-up jobs), with when. */
  announcements: string[];
  serviceLog: string;
  serviceLogLines: number;
  passed: boolean;
}

const PRINTED_TIMELINES = 3;
const MAX_TIMELINES = 40;

export interface DrillResult {
  options: DrillOptions;
  plan: DrillPlan;
  messages: DrillMessage[];
  delivered: Delivered[];
  kills: KillRecord[];
  runs: ServiceRun[];
  journal: Journal;
  approvals: Map<number, ApprovalRecord>;
  waitingForDraft: number[];
  snapshot: DatabaseSnapshot;
  settled: DrillReport['settled'];
  serviceLog: string;
  serviceLogLines: number;
  startEpochMs: number;
  durationMs: number;
}

/** Follow every delivered message, check the invariants, and gather the figures worth keeping. */
export function buildReport(result: DrillResult): DrillReport {
  const { options, plan, delivered, kills, runs, journal, approvals, snapshot } = result;
  const outcomes = followMessages(delivered, snapshot, journal, approvals, new Set(plan.approvals.keys()));
  const invariants = checkInvariants(outcomes, { replyTargetMs: options.replyTargetMs });
  const statuses: Record<string, number> = {};
  for (const draft of snapshot.drafts) statuses[draft.status] = (statuses[draft.status] ?? 0) + 1;
  const formats: Record<string, number> = {};
  for (const message of result.messages) formats[message.format] = (formats[message.format] ?? 0) + 1;
  const records = [...approvals.values()];

  const failing = [...new Set(invariants.filter((invariant) => !invariant.ok).flatMap((invariant) => invariant.indices))].sort((a, b) => a - b);
  const timelines = failing.slice(0, MAX_TIMELINES).flatMap((index) => {
    const outcome = outcomes.find((entry) => entry.index === index);
    const message = delivered.find((entry) => entry.index === index);
    if (!outcome || !message) return [];
    const events = messageTimeline({
      delivered: message,
      emailId: snapshot.emailsByMessageId.get(message.messageId)?.emailId ?? null,
      draftId: outcome.draftId,
      database: snapshot,
      journal,
      approval: approvals.get(index),
      kills,
      runs,
      startEpochMs: result.startEpochMs,
    });
    return [{ index, failed: invariants.filter((invariant) => !invariant.ok && invariant.indices.includes(index)).map((invariant) => invariant.name.trim()), events }];
  });

  return {
    title:
      `Crash drill, seed ${options.seed}: ${options.messages} forwards, ${options.approvals} approvals, ${options.kills} kills (${options.killMode}), ` +
      `Slack ${options.slackDelayMs.join('-')} ms, SMTP ${options.smtpDelayMs.join('-')} ms, service ${options.serviceRoot}`,
    options: { ...options },
    durationSeconds: round1(result.durationMs / 1000),
    messages: { delivered: delivered.length, formats },
    runs: runs.map((run) => ({
      number: run.number,
      pid: run.pid,
      upSeconds: run.readyAt !== null && run.endedAt !== null ? round1((run.endedAt - run.readyAt) / 1000) : null,
      end: run.end,
      httpAfterSeconds: run.httpAt !== null ? round1((run.httpAt - run.spawnedAt) / 1000) : null,
      readyAfterSeconds: run.readyAt !== null ? round1((run.readyAt - run.spawnedAt) / 1000) : null,
    })),
    kills,
    invariants,
    counts: {
      'messages delivered': delivered.length,
      'emails stored (rows)': snapshot.emailsByMessageId.size,
      'drafts (rows)': snapshot.drafts.length,
      'cards posted': journal.cards.length,
      'draft messages posted': journal.draftPosts.length,
      'draft message updates': journal.updates.length,
      'approvals planned': plan.approvals.size,
      'approvals clicked': records.filter((record) => record.firstClickAt !== null).length,
      'approval clicks answered 200': records.filter((record) => record.acceptedAt !== null).length,
      'click attempts (incl. re-clicks, double clicks)': records.reduce((sum, record) => sum + record.attempts, 0),
      'planned approvals whose draft never reached Slack': result.waitingForDraft.length,
      'approved in the database': outcomes.filter((outcome) => outcome.approved).length,
      'SMTP messages received': journal.mails.length,
      'ephemeral answers to clicks': journal.ephemerals.length,
      'announcements posted (not cards)': journal.notices.length,
      'reply.sent audit entries': [...snapshot.repliesSentAudit.values()].reduce((sum, count) => sum + count, 0),
      'jobs still locked at the end': snapshot.jobs.reduce((sum, job) => sum + job.locked, 0),
    },
    draftStatuses: statuses,
    latency: {
      'delivery → stored': spread(delivered.map((message) => {
        const stored = snapshot.emailsByMessageId.get(message.messageId);
        return stored ? stored.receivedAtEpochMs - message.deliveredEpochMs : null;
      })),
      'delivery → card': spread(outcomes.map((outcome) => outcome.deliveryToCardMs)),
      'first click → sent': spread(outcomes.map((outcome) => outcome.clickToSentMs)),
      'answered click → sent': spread(outcomes.map((outcome) => outcome.acceptedClickToSentMs)),
      'reply in the service (delivery→card + click→sent)': spread(outcomes.map((outcome) => outcome.replyServiceMs)),
      'restart → HTTP answering': spread(runs.slice(1).map((run) => (run.httpAt === null ? null : run.httpAt - run.spawnedAt))),
      'restart → watching the mailbox': spread(runs.slice(1).map((run) => (run.readyAt === null ? null : run.readyAt - run.spawnedAt))),
      'kill → watching again (downtime)': spread(kills.map((kill) => {
        const next = runs.find((run) => run.number === (kill.run ?? 0) + 1);
        return kill.firedAt === null || next?.readyAt == null ? null : next.readyAt - kill.firedAt;
      })),
    },
    jobs: snapshot.jobs,
    settled: result.settled,
    timelines,
    announcements: journal.notices.map((notice) => `${(notice.t / 1000).toFixed(1)} s: ${notice.text}`),
    serviceLog: result.serviceLog,
    serviceLogLines: result.serviceLogLines,
    passed: invariants.every((invariant) => invariant.ok || invariant.kind === 'warning'),
  };
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

const seconds = (ms: number | null | undefined) => (ms === null || ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);

export function printReport(report: DrillReport): void {
  const out: string[] = [];
  out.push('', report.title, '');
  out.push(`Service runs: ${report.runs.length}; kills: ${report.kills.filter((kill) => kill.firedAt !== null).length}; settle: ${report.settled.quiescent ? 'quiescent' : 'TIMED OUT'} after ${report.settled.waitedSeconds.toFixed(1)} s (${report.settled.reason})`);
  out.push('');
  out.push(...table(
    ['kill', 'mode', 'at', 'run', 'up for', 'interrupted', 'pause', 'ready after restart'],
    report.kills.map((kill) => [String(kill.number), kill.mode, seconds(kill.firedAt), kill.run === null ? '-' : String(kill.run), seconds(kill.uptimeMs), kill.trigger, seconds(kill.pauseMs), seconds(kill.restartReadyMs)]),
  ));
  out.push('');
  out.push(...table(
    ['', 'invariant', 'expected', 'got', ''],
    report.invariants.map((invariant) => {
      const target = invariant.kind === 'target';
      const mark = invariant.ok ? 'ok' : target ? 'MISS' : invariant.kind === 'warning' ? 'WARN' : 'FAIL';
      return [mark, invariant.name, target ? `< ${seconds(invariant.expected)}` : String(invariant.expected), target ? seconds(invariant.actual) : String(invariant.actual), invariant.kind === 'invariant' ? '' : `(${invariant.kind})`];
    }),
  ));
  for (const invariant of report.invariants.filter((entry) => !entry.ok && entry.examples.length > 0)) {
    out.push('', `  ${invariant.name.trim()}, for example:`);
    for (const example of invariant.examples) out.push(`    ${example}`);
  }
  out.push('');
  out.push(...table(['count', 'value'], Object.entries(report.counts).map(([name, value]) => [name, String(value)])));
  for (const announcement of report.announcements.slice(0, 5)) out.push(`  announced: ${announcement}`);
  out.push('', `Draft statuses: ${Object.entries(report.draftStatuses).map(([status, count]) => `${status} ${count}`).join(', ') || 'none'}`);
  out.push('');
  out.push(...table(
    ['latency', 'n', 'median', 'p95', 'max'],
    Object.entries(report.latency).map(([name, value]) => [name, String(value.count), seconds(value.medianMs), seconds(value.p95Ms), seconds(value.maxMs)]),
  ));
  out.push('');
  out.push(...table(['job (agenda_jobs at the end)', 'total', 'locked', 'queued', 'failed'], report.jobs.map((job) => [job.name, String(job.total), String(job.locked), String(job.queued), String(job.failed)])));
  // One timeline per kind of failure, so each broken invariant comes with a story.
  const printed = new Set<string>();
  const chosen = report.timelines.filter((timeline) => {
    const fresh = timeline.failed.find((name) => !printed.has(name));
    if (!fresh || printed.size >= PRINTED_TIMELINES) return false;
    for (const name of timeline.failed) printed.add(name);
    return true;
  });
  for (const timeline of chosen) {
    out.push('', `Timeline of message #${timeline.index} (${timeline.failed.join('; ')}):`);
    for (const event of timeline.events) out.push(`  ${event}`);
  }
  if (report.timelines.length > chosen.length) out.push('', `(${report.timelines.length} failing messages have a timeline in the JSON figures)`);
  const failed = report.invariants.filter((invariant) => !invariant.ok && invariant.kind !== 'warning');
  out.push('', `Service log (${report.serviceLogLines} warn/error lines): ${report.serviceLog}`);
  out.push(report.passed ? 'RESULT: PASS' : `RESULT: FAIL (${failed.map((invariant) => invariant.name.trim()).join('; ')})`);
  console.log(out.join('\n'));
}

export function writeReport(file: string, report: DrillReport): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ name: 'crash-drill', timestamp: new Date().toISOString(), node: process.version, ...report }, null, 2)}\n`);
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) => `  ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()}`;
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)];
}
