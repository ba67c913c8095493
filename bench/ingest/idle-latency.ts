import { performance } from 'node:perf_hooks';
import { ImapFlow } from 'imapflow';
import { createImapWatcher } from '../../src/channels/email/imap-watcher.ts';
import { createAdvisoryLocks } from '../../src/db/advisory-lock.ts';
import { createDatabase } from '../../src/db/database.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/logger.ts';
import { createAuditLog } from '../../src/memory/audit.ts';
import { createEmailStore } from '../../src/memory/email-store.ts';
import { createMailboxStateStore } from '../../src/channels/email/mailbox-state.ts';
import { createEmailIngest } from '../../src/orchestrator/ingest-email.ts';
import { createJobQueue } from '../../src/orchestrator/job-queue.ts';
import { seededRandom } from '../../test/drills/random.ts';
import type { TestDatabase } from '../../test/support/databases.ts';
import { deliver, freshMailboxUser } from '../../test/support/mailbox.ts';
import { testServices } from '../../test/support/services.ts';
import { waitUntil } from '../../test/support/wait.ts';
import { summarize, type LatencySummary } from '../support/latency.ts';
import { buildCorpus, TEAM_DOMAIN } from './corpus.ts';

/**
 * IDLE-to-stored: the real watcher on a fresh Dovecot mailbox, messages delivered over LMTP one
 * at a time with small gaps, each timed from the moment Dovecot accepted it (LMTP 250) to the
 * moment the ingest handed it by the watcher finished (row in emails, audit entry, job queued).
 */
export interface IdleFigures {
  messages: number;
  stored: number;
  gapMs: [number, number];
  /** From LMTP accepted to stored. */
  acceptedToStoredMs: LatencySummary;
  /** From the start of the LMTP delivery to stored (includes Dovecot's own delivery time). */
  deliveryStartToStoredMs: LatencySummary;
  /**
   * The floor: LMTP accepted → EXISTS seen by a bare IMAP client that does nothing but sit in
   * IDLE on the same mailbox. The difference to acceptedToStoredMs is the watcher's own doing.
   */
  bareIdlePushMs: LatencySummary | null;
}

const MESSAGE_ID = /^Message-ID:[ \t]*(<[^>\r\n]+>)/im;

export async function measureIdleLatency(options: { testDatabase: TestDatabase; seed: number; messages: number; gapMs: [number, number] }): Promise<IdleFigures> {
  const services = testServices();
  const database = await createDatabase({ databaseUrl: options.testDatabase.databaseUrl, dataDir: options.testDatabase.dataDir });
  // error, not warn: the watcher warns about options this benchmark leaves out on purpose (announcements).
  const logger = createLogger({ level: 'error' });
  const user = freshMailboxUser('bench-idle');
  const storedAt = new Map<string, number>();
  let watcher: ReturnType<typeof createImapWatcher> | null = null;
  let bare: ImapFlow | null = null;
  try {
    await applyMigrations(database.pool);
    const queue = createJobQueue({ pool: database.pool, embedded: database.kind === 'pglite', logger });
    const ingest = createEmailIngest({ emails: createEmailStore(database), audit: createAuditLog(database.prisma), queue, logger, teamDomains: [TEAM_DOMAIN] });
    watcher = createImapWatcher({
      options: { host: services.imapHost, port: services.imapPort, user, password: services.imapPassword, tls: false, mailbox: 'INBOX' },
      state: createMailboxStateStore(database.prisma),
      locks: createAdvisoryLocks(database.pool, database.kind === 'pglite'),
      logger,
      onMessage: async (raw, uid, mailbox) => {
        await ingest(raw, uid, mailbox);
        const id = MESSAGE_ID.exec(raw.subarray(0, 16_384).toString('latin1'))?.[1];
        if (id) storedAt.set(id, performance.now());
      },
    });
    const running = watcher;
    await running.start();
    await waitUntil('the watcher to watch the mailbox', () => running.health().state === 'watching', 30_000);
    // The first sync records where the mailbox ends; mail delivered before it would be skipped as history.
    await running.syncNow();

    bare = new ImapFlow({ host: services.imapHost, port: services.imapPort, secure: false, doSTARTTLS: false, auth: { user, pass: services.imapPassword }, logger: false, autoIdleDelay: 100 } as ConstructorParameters<typeof ImapFlow>[0]);
    await bare.connect();
    await bare.mailboxOpen('INBOX');
    const opened = bare.mailbox;
    const baseCount = opened && typeof opened !== 'boolean' ? opened.exists : 0;
    // Deliveries are one at a time, so the n-th new message is the n-th delivered.
    const pushedAt: number[] = [];
    bare.on('exists', (data: { count: number; prevCount: number }) => {
      for (let count = data.prevCount + 1; count <= data.count; count++) pushedAt[count - baseCount - 1] ??= performance.now();
    });
    await new Promise((resolve) => setTimeout(resolve, 500)); // let the bare client enter IDLE

    const corpus = buildCorpus({ seed: options.seed, count: options.messages, idPrefix: 'idle' });
    const random = seededRandom(options.seed, 'idle-gaps');
    const accepted = new Map<string, number>();
    const started = new Map<string, number>();
    for (const message of corpus) {
      started.set(message.messageId, performance.now());
      await deliver(user, message.raw, 'bench@client.example');
      accepted.set(message.messageId, performance.now());
      await new Promise((resolve) => setTimeout(resolve, random.between(...options.gapMs)));
    }
    await waitUntil('every delivered message to be stored', () => corpus.every((message) => storedAt.has(message.messageId)), 30_000).catch(() => undefined);

    const since = (from: Map<string, number>) =>
      corpus.flatMap((message) => {
        const stored = storedAt.get(message.messageId);
        const at = from.get(message.messageId);
        return stored === undefined || at === undefined ? [] : [stored - at];
      });
    return {
      messages: corpus.length,
      stored: corpus.filter((message) => storedAt.has(message.messageId)).length,
      gapMs: options.gapMs,
      acceptedToStoredMs: summarize(since(accepted)),
      deliveryStartToStoredMs: summarize(since(started)),
      bareIdlePushMs: (() => {
        const samples = corpus.flatMap((message, index) => {
          const pushed = pushedAt[index];
          const at = accepted.get(message.messageId);
          return pushed === undefined || at === undefined ? [] : [pushed - at];
        });
        return samples.length > 0 ? summarize(samples) : null;
      })(),
    };
  } finally {
    await watcher?.stop().catch(() => undefined);
    await bare?.logout().catch(() => bare?.close());
    await database.close();
  }
}
