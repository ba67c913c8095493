import { performance } from 'node:perf_hooks';
import { simpleParser } from 'mailparser';
import { extractForward } from '../../src/channels/email/forward.ts';
import { parseAhead, parseEmail } from '../../src/channels/email/parse-email.ts';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/logger.ts';
import { createAuditLog } from '../../src/memory/audit.ts';
import { createEmailStore } from '../../src/memory/email-store.ts';
import { createEmailIngest } from '../../src/orchestrator/ingest-email.ts';
import { createJobQueue, type JobQueue } from '../../src/orchestrator/job-queue.ts';
import type { TestDatabase } from '../../test/support/databases.ts';
import { round } from '../support/latency.ts';
import { buildCorpus, TEAM_DOMAIN, type CorpusMessage } from './corpus.ts';
import { createWatcherPass } from './watcher-pass.ts';

/**
 * Messages per second through the same path the watcher hands mail to (parse, forward
 * extraction, store once by Message-ID with the raw source, audit entry, remember job), next to
 * mailparser's simpleParser alone on the same corpus. The ingest is driven as the watcher drives
 * it (mailbox-sync.ts): one hand-over at a time, in order, with the next message's parse started
 * (parseAhead) while the current one is stored. The same ingest without that read-ahead, strictly
 * one message after the other as the watcher did before, is timed in the same rounds for
 * comparison, and so is the whole watcher on the corpus in a Dovecot mailbox (watcher-pass.ts:
 * IMAP fetches and saving the mailbox position included). Rounds alternate all of them so they
 * see the same machine load; every pass stores the corpus under fresh Message-IDs, so every
 * message takes the "new" path.
 */
export interface ThroughputRound {
  round: number;
  simpleParserPerSecond: number;
  parseAndForwardPerSecond: number;
  /** As the watcher hands mail over: the next message parsed while this one is stored. */
  ingestPerSecond: number;
  /** Strictly one after the other, no read-ahead. */
  ingestOneAtATimePerSecond: number;
  /** The real watcher over IMAP, position saving included. */
  watcherPerSecond: number;
  ratio: number;
  ratioOneAtATime: number;
  ratioWatcher: number;
}

/**
 * Mean ms per message of each part of one ingest, timed inside the real ingest of every round's
 * one-at-a-time pass (with read-ahead the parts overlap and would not add up). Means, not
 * medians: they add up to the time per message that sets the throughput.
 */
export interface StepsMs {
  /** Everything that is not a database write: parsing, sender verification, forward extraction. */
  parseVerifyForward: number;
  /** emails.save: the INSERT with the raw source. */
  store: number;
  /** audit.record: the email.received entry. */
  audit: number;
  /** queue.enqueue: the remember job. */
  enqueue: number;
  total: number;
}

export interface ThroughputFigures {
  messages: number;
  megabytes: number;
  rounds: ThroughputRound[];
  median: {
    simpleParserPerSecond: number;
    parseAndForwardPerSecond: number;
    ingestPerSecond: number;
    ingestOneAtATimePerSecond: number;
    watcherPerSecond: number;
    ingestMegabytesPerSecond: number;
    ratio: number;
    ratioOneAtATime: number;
    ratioWatcher: number;
  };
  /** Timed in the one-at-a-time passes, where the steps do not overlap. */
  stepsMs: StepsMs;
  /**
   * The floor under `stepsMs.store`: mean ms of a bare pg INSERT of the same raw bytes and
   * Message-ID into a scratch table, one autocommitted statement per message.
   */
  bareInsertMs: number;
  stored: number;
  /** Commit durability of the server measured on: every step that writes waits for its commit. */
  server: { synchronousCommit: string; fsync: string; version: string };
}

const WARMUP_MESSAGES = 60;

export async function measureThroughput(options: { testDatabase: TestDatabase; seed: number; messages: number; rounds: number }): Promise<ThroughputFigures> {
  const database: Database = await createDatabase({ databaseUrl: options.testDatabase.databaseUrl, dataDir: options.testDatabase.dataDir });
  let closeWatcherPass = async (): Promise<void> => undefined;
  try {
    await applyMigrations(database.pool);
    const logger = createLogger({ level: 'error' });
    const timer = createStepTimer();
    const emails = createEmailStore(database);
    const audit = createAuditLog(database.prisma);
    // A real queue on the same pool, never started: enqueue writes the job row, nothing runs it.
    const queue = createJobQueue({ pool: database.pool, embedded: database.kind === 'pglite', logger });
    // The real ingest, with its database ports wrapped in timers: the split below is measured
    // inside the very runs that give the throughput, through the ingest's public deps only.
    const ingest = createEmailIngest({
      emails: { ...emails, save: timer.wrap('store', emails.save) },
      audit: { ...audit, record: timer.wrap('audit', audit.record) },
      queue: { ...queue, enqueue: timer.wrap('enqueue', queue.enqueue) as JobQueue['enqueue'] },
      logger,
      teamDomains: [TEAM_DOMAIN],
    });

    // The watcher's own ingest, without the step timers (its passes are not split into steps).
    const watcherPass = await createWatcherPass({ database, logger, ingest: createEmailIngest({ emails, audit, queue, logger, teamDomains: [TEAM_DOMAIN] }) });
    closeWatcherPass = () => watcherPass.close();

    const warmup = (variant: string) => buildCorpus({ seed: options.seed + 1, count: WARMUP_MESSAGES, idPrefix: `warmup-${variant}` });
    await timeSimpleParser(warmup('parser'));
    await timeParseAndForward(warmup('forward'));
    await timeIngest(warmup('one'), ingest, { readAhead: false, timer });
    await timeIngest(warmup('ahead'), ingest, { readAhead: true, timer });
    await watcherPass.run(warmup('watcher'));

    const rounds: ThroughputRound[] = [];
    let corpus: CorpusMessage[] = [];
    timer.reset();
    for (let round = 1; round <= options.rounds; round++) {
      // The same messages under other Message-IDs, so that each ingest pass stores them anew.
      corpus = buildCorpus({ seed: options.seed, count: options.messages, idPrefix: `round${round}` });
      const again = buildCorpus({ seed: options.seed, count: options.messages, idPrefix: `round${round}-ahead` });
      const inMailbox = buildCorpus({ seed: options.seed, count: options.messages, idPrefix: `round${round}-watcher` });
      const parserMs = await timeSimpleParser(corpus);
      const parseForwardMs = await timeParseAndForward(corpus);
      // The two ingest passes in halves, A B B A: a pass run later in a round was measurably
      // slower (the tables grow, the server writes in the background), so each gets an early
      // and a late half.
      const half = Math.ceil(corpus.length / 2);
      let oneAtATimeMs = await timeIngest(corpus.slice(0, half), ingest, { readAhead: false, timer });
      let ingestMs = await timeIngest(again.slice(0, half), ingest, { readAhead: true, timer });
      ingestMs += await timeIngest(again.slice(half), ingest, { readAhead: true, timer });
      oneAtATimeMs += await timeIngest(corpus.slice(half), ingest, { readAhead: false, timer });
      const watcherMs = await watcherPass.run(inMailbox);
      const perSecond = (ms: number) => round1((corpus.length / ms) * 1000);
      rounds.push({
        round,
        simpleParserPerSecond: perSecond(parserMs),
        parseAndForwardPerSecond: perSecond(parseForwardMs),
        ingestPerSecond: perSecond(ingestMs),
        ingestOneAtATimePerSecond: perSecond(oneAtATimeMs),
        watcherPerSecond: perSecond(watcherMs),
        ratio: round2(parserMs / ingestMs),
        ratioOneAtATime: round2(parserMs / oneAtATimeMs),
        ratioWatcher: round2(parserMs / watcherMs),
      });
    }
    const megabytes = corpus.reduce((sum, message) => sum + message.raw.length, 0) / 1e6;
    // Over every round's one-at-a-time pass.
    const stepsMs = timer.means();
    const bareInsertMs = await timeBareInserts(database, corpus);
    const stored = await database.prisma.email.count();
    const setting = async (name: string) => (await database.pool.query<{ setting: string }>('SELECT setting FROM pg_settings WHERE name = $1', [name])).rows[0]?.setting ?? 'unknown';
    const server = { synchronousCommit: await setting('synchronous_commit'), fsync: await setting('fsync'), version: await setting('server_version') };
    const ingestPerSecond = median(rounds.map((entry) => entry.ingestPerSecond));
    return {
      messages: options.messages,
      megabytes: round2(megabytes),
      rounds,
      median: {
        simpleParserPerSecond: median(rounds.map((entry) => entry.simpleParserPerSecond)),
        parseAndForwardPerSecond: median(rounds.map((entry) => entry.parseAndForwardPerSecond)),
        ingestPerSecond,
        ingestOneAtATimePerSecond: median(rounds.map((entry) => entry.ingestOneAtATimePerSecond)),
        watcherPerSecond: median(rounds.map((entry) => entry.watcherPerSecond)),
        ingestMegabytesPerSecond: round2((ingestPerSecond * megabytes) / options.messages),
        ratio: median(rounds.map((entry) => entry.ratio)),
        ratioOneAtATime: median(rounds.map((entry) => entry.ratioOneAtATime)),
        ratioWatcher: median(rounds.map((entry) => entry.ratioWatcher)),
      },
      stepsMs,
      bareInsertMs,
      stored,
      server,
    };
  } finally {
    await closeWatcherPass();
    await database.close();
  }
}

async function timeSimpleParser(corpus: CorpusMessage[]): Promise<number> {
  const started = performance.now();
  for (const message of corpus) await simpleParser(message.raw);
  return performance.now() - started;
}

async function timeParseAndForward(corpus: CorpusMessage[]): Promise<number> {
  const started = performance.now();
  for (const message of corpus) await extractForward(await parseEmail(message.raw), [TEAM_DOMAIN]);
  return performance.now() - started;
}

/**
 * `readAhead`: as mailbox-sync.ts hands mail over: the next message's parse is started right
 * after the current hand-over began, and taken by that message's own hand-over. The steps are
 * recorded only one at a time, where they do not overlap.
 */
async function timeIngest(corpus: CorpusMessage[], ingest: ReturnType<typeof createEmailIngest>, options: { readAhead: boolean; timer: StepTimer }): Promise<number> {
  const { timer } = options;
  const started = performance.now();
  for (const [index, message] of corpus.entries()) {
    const before = performance.now();
    const handing = ingest(message.raw, index + 1, 'INBOX');
    const next = corpus[index + 1];
    if (options.readAhead && next) parseAhead(next.raw);
    const result = await handing;
    if (options.readAhead) timer.skip();
    else timer.message(performance.now() - before);
    // A message that is not stored new would make the figure meaningless (it skips the insert).
    if (!result.created) throw new Error(`ingest did not store ${message.messageId} as new`);
  }
  return performance.now() - started;
}

async function timeBareInserts(database: Database, corpus: CorpusMessage[]): Promise<number> {
  await database.pool.query('CREATE TABLE IF NOT EXISTS bench_bare_insert (id bigserial PRIMARY KEY, message_id text UNIQUE NOT NULL, raw bytea NOT NULL)');
  const started = performance.now();
  for (const message of corpus) await database.pool.query('INSERT INTO bench_bare_insert (message_id, raw) VALUES ($1, $2)', [message.messageId, message.raw]);
  const ms = performance.now() - started;
  await database.pool.query('DROP TABLE bench_bare_insert');
  return round2(ms / corpus.length);
}

type Step = 'store' | 'audit' | 'enqueue';

interface StepTimer {
  wrap<A extends unknown[], R>(step: Step, run: (...args: A) => Promise<R>): (...args: A) => Promise<R>;
  /** One ingest finished in `totalMs`: close its sample (the rest of the time is parsing and friends). */
  message(totalMs: number): void;
  /** One ingest finished that is not to be sampled: forget what was timed for it. */
  skip(): void;
  reset(): void;
  means(): StepsMs;
}

function createStepTimer(): StepTimer {
  const current: Record<Step, number> = { store: 0, audit: 0, enqueue: 0 };
  let samples: Record<Exclude<keyof StepsMs, 'total'>, number[]> = { parseVerifyForward: [], store: [], audit: [], enqueue: [] };
  return {
    wrap(step, run) {
      return async (...args) => {
        const started = performance.now();
        try {
          return await run(...args);
        } finally {
          current[step] += performance.now() - started;
        }
      };
    },
    message(totalMs) {
      samples.store.push(current.store);
      samples.audit.push(current.audit);
      samples.enqueue.push(current.enqueue);
      samples.parseVerifyForward.push(totalMs - current.store - current.audit - current.enqueue);
      current.store = current.audit = current.enqueue = 0;
    },
    skip() {
      current.store = current.audit = current.enqueue = 0;
    },
    reset() {
      samples = { parseVerifyForward: [], store: [], audit: [], enqueue: [] };
    },
    means() {
      const mean = (values: number[]) => round2(values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length));
      const steps = { parseVerifyForward: mean(samples.parseVerifyForward), store: mean(samples.store), audit: mean(samples.audit), enqueue: mean(samples.enqueue) };
      return { ...steps, total: round2(steps.parseVerifyForward + steps.store + steps.audit + steps.enqueue) };
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

const round1 = (value: number) => round(value, 1);
const round2 = (value: number) => round(value, 2);
