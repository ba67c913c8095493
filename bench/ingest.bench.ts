import { createTestDatabase, type TestDatabase } from '../test/support/databases.ts';
import { measureIdleLatency } from './ingest/idle-latency.ts';
import { measureThroughput } from './ingest/throughput.ts';
import type { Benchmark } from './support/benchmark.ts';
import { wholeNumber } from './support/env.ts';

/**
 * How fast mail gets in: messages per second parsed and stored through the watcher's ingest on
 * a generated corpus, driven as the watcher drives it (the next message parsed while the current
 * one is stored), next to mailparser's simpleParser alone on the same corpus in the same run
 * (target: at least half its rate), with the ingest strictly one message at a time alongside for
 * comparison, as is the whole watcher (IMAP fetches and position included) on the corpus in a
 * Dovecot mailbox; and IDLE-to-stored latency on a real Dovecot mailbox (target: median under
 * one second). Needs the test services (bash test/services/up.sh).
 *
 * BENCH_INGEST_MESSAGES (500), BENCH_INGEST_ROUNDS (3), BENCH_IDLE_MESSAGES (50) and
 * BENCH_SEED (1) change the corpus and the number of passes.
 */
const RATIO_TARGET = 0.5;
const IDLE_MEDIAN_TARGET_MS = 1000;

const benchmark: Benchmark = {
  name: 'ingest',
  description: 'messages/s parsed and stored by the ingest path (and by the whole watcher on Dovecot) vs mailparser simpleParser alone on the same corpus, and IDLE-to-stored latency on Dovecot',
  async run() {
    const seed = wholeNumber('BENCH_SEED', 1);
    const messages = wholeNumber('BENCH_INGEST_MESSAGES', 500);
    const rounds = wholeNumber('BENCH_INGEST_ROUNDS', 3);
    const idleMessages = wholeNumber('BENCH_IDLE_MESSAGES', 50);
    let database: TestDatabase | null = null;
    try {
      database = await createTestDatabase('postgres');
      const throughput = await measureThroughput({ testDatabase: database, seed, messages, rounds });
      const idle = await measureIdleLatency({ testDatabase: database, seed: seed + 100, messages: idleMessages, gapMs: [200, 800] });
      const ratioMet = throughput.median.ratio >= RATIO_TARGET;
      const idleMet = idle.acceptedToStoredMs.p50 < IDLE_MEDIAN_TARGET_MS && idle.stored === idle.messages;
      return {
        corpus: { seed, messages: throughput.messages, megabytes: throughput.megabytes, sizes: '1-200 KB, log-uniform' },
        database: { kind: 'postgres', ...throughput.server },
        throughputPerRound: throughput.rounds,
        throughput: {
          simpleParserMessagesPerSecond: throughput.median.simpleParserPerSecond,
          parseAndForwardMessagesPerSecond: throughput.median.parseAndForwardPerSecond,
          ingestMessagesPerSecond: throughput.median.ingestPerSecond,
          ingestMegabytesPerSecond: throughput.median.ingestMegabytesPerSecond,
          ratioIngestToSimpleParser: throughput.median.ratio,
          ingestOneAtATimeMessagesPerSecond: throughput.median.ingestOneAtATimePerSecond,
          ratioOneAtATimeToSimpleParser: throughput.median.ratioOneAtATime,
          watcherMessagesPerSecond: throughput.median.watcherPerSecond,
          ratioWatcherToSimpleParser: throughput.median.ratioWatcher,
        },
        ingestStepMeanMsOneAtATime: { ...throughput.stepsMs, bareInsertOfTheRawBytes: throughput.bareInsertMs },
        idleToStored: {
          messages: idle.messages,
          stored: idle.stored,
          gapMs: idle.gapMs.join('-'),
          acceptedToStoredMs: idle.acceptedToStoredMs,
          deliveryStartToStoredMs: idle.deliveryStartToStoredMs,
          bareClientIdlePushMs: idle.bareIdlePushMs ?? 'not measured',
        },
        targets: {
          ratio: `${throughput.median.ratio} (target ≥ ${RATIO_TARGET}): ${ratioMet ? 'met' : 'MISSED'}`,
          idleMedian: `${idle.acceptedToStoredMs.p50} ms (target < ${IDLE_MEDIAN_TARGET_MS} ms${idle.stored === idle.messages ? '' : `, and ${idle.messages - idle.stored} messages never stored`}): ${idleMet ? 'met' : 'MISSED'}`,
        },
      };
    } finally {
      await database?.drop();
    }
  },
};

export default benchmark;

