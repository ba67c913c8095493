import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { deliver, freshMailboxUser } from '../support/mailbox.ts';
import { testServices } from '../support/services.ts';
import { startApprover, type Approver } from './approver.ts';
import { readDatabase, type Delivered } from './counting.ts';
import { ANTHROPIC_KEY, APPROVALS_CHANNEL, BOT_TOKEN, SIGNING_SECRET, startDrillFakes, type DrillFakes } from './fakes.ts';
import { MAILBOX_ADDRESS, TEAM_DOMAIN, drillMessage, type DrillMessage } from './forwards.ts';
import { makePlan, parseDrillOptions, type DrillOptions, type DrillPlan, type PlannedKill } from './plan.ts';
import { seededRandom } from './random.ts';
import { buildReport, printReport, writeReport, type KillRecord } from './report.ts';
import { createServiceProcess, type ServiceProcess } from './service-process.ts';

/**
 * Crash drill: deliver a backlog of teammate forwards to a real mailbox while approving some of
 * the drafts in Slack, SIGKILL the service at seeded random moments and restart it, then count
 * what reached the outside. Every message must be stored once, every approved draft sent once,
 * nothing left stuck, and no card or draft message posted twice.
 *
 *   bash test/services/up.sh            # PostgreSQL + Dovecot, once
 *   npx tsx test/drills/crash-drill.ts --messages 300 --approvals 50 --kills 5 --seed 1
 *
 * Exits 1 when an invariant fails (or the reply-time target is missed), 2 on a harness error.
 */
const repositoryRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const DELIVERY_CONCURRENCY = 4;
const IN_FLIGHT_FALLBACK_MS = 5000;
const QUIET_MS = 3000;

async function main(): Promise<number> {
  const options = parseDrillOptions(process.argv.slice(2).filter((argument) => argument !== '--'), repositoryRoot);
  const plan = makePlan(options);
  const startedAt = performance.now();
  const startEpochMs = Date.now();
  const now = () => performance.now() - startedAt;
  const say = (text: string) => console.log(`[${(now() / 1000).toFixed(1).padStart(6)} s] ${text}`);
  say(
    `crash drill, seed ${options.seed}: ${options.messages} messages in ${plan.bursts.length} bursts over ${(plan.deliveryWindowMs / 1000).toFixed(0)} s, ` +
      `${plan.approvals.size} approvals, ${plan.kills.length} kills (${options.killMode}); Slack ${options.slackDelayMs.join('-')} ms, SMTP ${options.smtpDelayMs.join('-')} ms`,
  );

  const services = testServices();
  let database: TestDatabase | null = null;
  let fakes: DrillFakes | null = null;
  let service: ServiceProcess | null = null;
  let approver: Approver | null = null;
  let passed = false;
  // The service's log outlives the database: on a failed run it is the evidence.
  const logDirectory = mkdtempSync(join(tmpdir(), `adjutant-crash-drill-seed${options.seed}-`));
  try {
    database = await createTestDatabase('postgres');
    const databaseUrl = database.databaseUrl ?? '';
    fakes = await startDrillFakes({ delays: { slackMs: options.slackDelayMs, smtpMs: options.smtpDelayMs }, random: seededRandom(options.seed, 'fake-delays'), startedAt });
    const mailbox = freshMailboxUser(`drill${options.seed}`);
    const port = await freePort();
    const messageRandom = seededRandom(options.seed, 'messages');
    const messages: DrillMessage[] = [];
    for (let index = 0; index < options.messages; index++) messages.push(await drillMessage(index, options.seed, messageRandom));

    service = createServiceProcess({
      root: options.serviceRoot,
      port,
      logDirectory,
      startedAt,
      env: {
        DATABASE_URL: databaseUrl,
        DATA_DIR: database.dataDir,
        PORT: String(port),
        LOG_LEVEL: 'warn',
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: fakes.slack.apiUrl,
        SLACK_APPROVALS_CHANNEL: APPROVALS_CHANNEL,
        IMAP_HOST: services.imapHost,
        IMAP_PORT: String(services.imapPort),
        IMAP_USER: mailbox,
        IMAP_PASSWORD: services.imapPassword,
        IMAP_TLS: 'false',
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(fakes.smtpPort),
        SMTP_TLS: 'false',
        MAIL_FROM: `Acme Ops <${MAILBOX_ADDRESS}>`,
        TEAM_DOMAINS: TEAM_DOMAIN,
        ANTHROPIC_API_KEY: ANTHROPIC_KEY,
        ANTHROPIC_BASE_URL: fakes.anthropic.url,
      },
    });
    const first = await service.start();
    say(`service ready (pid ${first.pid}) in ${((first.readyAt ?? 0) - first.spawnedAt).toFixed(0)} ms, watching ${mailbox}`);

    approver = startApprover({ plan, journal: fakes.journal, url: () => `http://127.0.0.1:${port}/slack/events`, startedAt });
    const delivered: Delivered[] = [];
    const kills: KillRecord[] = [];
    const supervisor = supervise(service, say);
    const deliveriesStart = now();
    await Promise.all([
      deliverBursts(plan, messages, mailbox, delivered, deliveriesStart, now, say),
      killOnSchedule(plan.kills, service, fakes, kills, supervisor, deliveriesStart, now, say),
    ]);
    say(`all ${delivered.length} messages delivered and ${kills.filter((kill) => kill.firedAt !== null).length} kills done; waiting for the service to settle (up to ${options.settleTimeoutMs / 1000} s)`);

    const settled = await settle(databaseUrl, delivered.length, approver, fakes, options, now);
    say(settled.quiescent ? `settled after ${settled.waitedSeconds.toFixed(1)} s` : `not settled after ${settled.waitedSeconds.toFixed(1)} s: ${settled.reason}`);
    approver.stop();
    supervisor.stop();
    // A clean stop before counting, so nothing changes under the count.
    await service.stop();

    const snapshot = await readDatabase(databaseUrl);
    const report = buildReport({
      options,
      plan,
      messages,
      delivered,
      kills,
      runs: service.runs,
      journal: fakes.journal,
      approvals: approver.records,
      waitingForDraft: approver.waitingForDraft(),
      snapshot,
      settled,
      serviceLog: join(logDirectory, 'service.log'),
      serviceLogLines: service.logLines(),
      startEpochMs,
      durationMs: now(),
    });
    printReport(report);
    writeReport(options.out, report);
    console.log(`Figures written to ${options.out}`);
    if (options.keep) console.log(`Kept: database ${databaseUrl.replace(/:[^:@/]+@/, ':***@')}, mailbox ${mailbox}, log directory ${logDirectory}`);
    passed = report.passed;
    return report.passed ? 0 : 1;
  } finally {
    approver?.stop();
    if (service) {
      await service.stop().catch(() => undefined);
      await service.closeLog();
    }
    await fakes?.close().catch(() => undefined);
    if (database && !options.keep) await database.drop().catch((error: unknown) => console.error('could not drop the drill database:', error));
    if (passed && !options.keep) rmSync(logDirectory, { recursive: true, force: true });
  }
}

/** Restarts the service if it exits on its own (a crash the drill did not cause is reported too). */
function supervise(service: ServiceProcess, say: (text: string) => void) {
  let paused = false;
  let stopped = false;
  let restarting = false;
  const timer = setInterval(() => {
    if (paused || stopped || restarting || service.running()) return;
    restarting = true;
    say('the service exited on its own; restarting it');
    service
      .start()
      .catch((error: unknown) => say(`restart failed: ${String(error)}`))
      .finally(() => (restarting = false));
  }, 250);
  return {
    /** The kill loop owns restarts while it runs one. */
    pause: () => (paused = true),
    resume: () => (paused = false),
    idle: () => !restarting,
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

async function deliverBursts(plan: DrillPlan, messages: DrillMessage[], mailbox: string, delivered: Delivered[], start: number, now: () => number, say: (text: string) => void): Promise<void> {
  for (const [number, burst] of plan.bursts.entries()) {
    await sleep(start + burst.at - now());
    const queue = [...burst.indices];
    const worker = async () => {
      for (let index = queue.shift(); index !== undefined; index = queue.shift()) {
        const message = messages[index];
        if (!message) continue;
        await deliverWithRetry(mailbox, message);
        delivered.push({
          index,
          messageId: message.messageId,
          originalMessageId: message.originalMessageId,
          clientAddress: message.clientAddress,
          format: message.format,
          deliveredAt: now(),
          deliveredEpochMs: Date.now(),
        });
      }
    };
    await Promise.all(Array.from({ length: DELIVERY_CONCURRENCY }, worker));
    if (number % 5 === 4 || number === plan.bursts.length - 1) say(`delivered ${delivered.length}/${messages.length}`);
  }
  delivered.sort((a, b) => a.index - b.index);
}

async function deliverWithRetry(mailbox: string, message: DrillMessage): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await deliver(mailbox, message.raw, message.teammate.address);
      return;
    } catch (error) {
      if (attempt >= 5) throw new Error(`LMTP delivery of message ${message.index} failed 5 times: ${String(error)}`);
      await sleep(500 * attempt);
    }
  }
}

async function killOnSchedule(
  planned: PlannedKill[],
  service: ServiceProcess,
  fakes: DrillFakes,
  kills: KillRecord[],
  supervisor: ReturnType<typeof supervise>,
  start: number,
  now: () => number,
  say: (text: string) => void,
): Promise<void> {
  for (const kill of planned) {
    await sleep(start + kill.at - now());
    // A kill is meant for a running pipeline: if the last restart is still coming up, wait for it.
    while (!service.ready() || !supervisor.idle()) await sleep(100);
    const readyAt = service.runs.at(-1)?.readyAt ?? now();
    await sleep(readyAt + kill.minUptimeMs - now());
    if (!service.ready()) {
      // It exited on its own meanwhile; the supervisor restarts it, and this kill waits for that.
      while (!service.ready() || !supervisor.idle()) await sleep(100);
    }
    supervisor.pause();
    const run = service.runs.at(-1);
    const record: KillRecord = { number: kill.number, mode: kill.mode, plannedAt: start + kill.at, firedAt: null, trigger: 'timer', run: run?.number ?? null, uptimeMs: null, pauseMs: kill.pauseMs, restartReadyMs: null };
    kills.push(record);
    const fire = (trigger: string) => {
      if (record.firedAt !== null) return;
      record.firedAt = now();
      record.trigger = trigger;
      record.uptimeMs = run?.readyAt != null ? record.firedAt - run.readyAt : null;
      service.killNow();
    };
    if (kill.mode === 'in-flight') {
      // Fires inside the fake, as the write is recorded and before its answer goes back.
      await new Promise<void>((resolve) => {
        const fallback = setTimeout(() => {
          fakes.armOnNextWrite(null);
          fire(`timer (no write within ${IN_FLIGHT_FALLBACK_MS / 1000} s)`);
          resolve();
        }, IN_FLIGHT_FALLBACK_MS);
        fakes.armOnNextWrite((kind, index) => {
          clearTimeout(fallback);
          fire(`${kind}${index === null ? '' : ` #${index}`}`);
          resolve();
        });
      });
    } else {
      fire('timer');
    }
    await service.kill();
    say(`kill ${kill.number} (${kill.mode}) of run ${record.run} after ${((record.uptimeMs ?? 0) / 1000).toFixed(1)} s up: ${record.trigger}`);
    await sleep(kill.pauseMs);
    const restarted = await service.start();
    record.restartReadyMs = restarted.readyAt !== null ? restarted.readyAt - restarted.spawnedAt : null;
    say(`run ${restarted.number} ready after ${((record.restartReadyMs ?? 0) / 1000).toFixed(1)} s`);
    supervisor.resume();
  }
}

/**
 * Waits until the service has nothing left to do: every delivered message stored, every
 * forward's draft in Slack, every planned click answered, no draft mid-send, and the fakes quiet
 * for a few seconds. Gives up after the settle timeout: whatever is unfinished then is stuck.
 */
async function settle(databaseUrl: string, delivered: number, approver: Approver, fakes: DrillFakes, options: DrillOptions, now: () => number): Promise<{ quiescent: boolean; waitedSeconds: number; reason: string }> {
  const started = now();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  let reason = '';
  try {
    for (;;) {
      const { rows } = await client.query<{ emails: string; forwards: string; unposted: string; midway: string }>(
        `SELECT (SELECT count(*) FROM emails) AS emails,
                (SELECT count(*) FROM emails WHERE is_forward) AS forwards,
                (SELECT count(*) FROM emails e WHERE e.is_forward AND NOT EXISTS (SELECT 1 FROM drafts d WHERE d.email_id = e.id AND d.slack_draft_ts IS NOT NULL)) AS unposted,
                (SELECT count(*) FROM drafts WHERE status IN ('approved', 'sending')) AS midway`,
      );
      const row = rows[0];
      const waiting = [
        Number(row?.emails) < delivered ? `${delivered - Number(row?.emails)} messages not stored` : '',
        Number(row?.unposted) > 0 ? `${row?.unposted} forwards without a draft message` : '',
        Number(row?.midway) > 0 ? `${row?.midway} drafts in approved/sending` : '',
        approver.busy() ? 'clicks in progress' : '',
        now() - fakes.journal.lastActivity < QUIET_MS ? 'Slack/SMTP still active' : '',
      ].filter((text) => text !== '');
      reason = waiting.join(', ') || 'nothing left to do';
      // Planned approvals whose draft is not in Slack are covered by "forwards without a draft message".
      if (waiting.length === 0) return { quiescent: true, waitedSeconds: (now() - started) / 1000, reason };
      if (now() - started > options.settleTimeoutMs) return { quiescent: false, waitedSeconds: (now() - started) / 1000, reason };
      await sleep(1000);
    }
  } finally {
    await client.end();
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('could not find a free port');
  return address.port;
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

process.exitCode = await main().catch((error: unknown) => {
  console.error('crash drill could not run:', error);
  return 2;
});
// Timers of the fakes' keep-alive sockets must not hold the process open once the figures are out.
setTimeout(() => process.exit(process.exitCode ?? 0), 500).unref();
