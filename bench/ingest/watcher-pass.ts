import { performance } from 'node:perf_hooks';
import { ImapFlow } from 'imapflow';
import { createImapWatcher, type MailboxWatcher } from '../../src/channels/email/imap-watcher.ts';
import { createMailboxStateStore } from '../../src/channels/email/mailbox-state.ts';
import { createAdvisoryLocks } from '../../src/db/advisory-lock.ts';
import type { Database } from '../../src/db/database.ts';
import type { Logger } from '../../src/logger.ts';
import { freshMailboxUser } from '../../test/support/mailbox.ts';
import { testServices } from '../../test/support/services.ts';
import { waitUntil } from '../../test/support/wait.ts';
import type { CorpusMessage } from './corpus.ts';

/**
 * The whole watcher on a batch of new mail: a real Dovecot mailbox, the corpus appended to it
 * while the watcher is stopped, then the watcher started and its pass timed from the first
 * hand-over's start to the last one's end. That is everything the service does per message:
 * the IMAP fetches, the hand-over to the ingest, and saving the mailbox position. Each pass
 * appends to the same mailbox, so the watcher carries on from where the previous pass left it.
 */
export interface WatcherPass {
  /** ms from the first hand-over's start to the last one's end; throws unless every message was handed over once. */
  run(corpus: CorpusMessage[]): Promise<number>;
  close(): Promise<void>;
}

export async function createWatcherPass(options: { database: Database; logger: Logger; ingest: (raw: Buffer, uid: number, mailbox: string) => Promise<{ created: boolean }> }): Promise<WatcherPass> {
  const services = testServices();
  const user = freshMailboxUser('bench-pass');
  const { database, logger } = options;
  let handedOver = 0;
  let firstStart: number | null = null;
  let lastEnd = 0;
  const watcherFor = (): MailboxWatcher =>
    createImapWatcher({
      options: { host: services.imapHost, port: services.imapPort, user, password: services.imapPassword, tls: false, mailbox: 'INBOX' },
      state: createMailboxStateStore(database.prisma),
      locks: createAdvisoryLocks(database.pool, database.kind === 'pglite'),
      logger,
      onMessage: async (raw, uid, mailbox) => {
        firstStart ??= performance.now();
        const result = await options.ingest(raw, uid, mailbox);
        if (!result.created) throw new Error(`the watcher handed UID ${uid} over, but it was not stored as new`);
        handedOver += 1;
        lastEnd = performance.now();
      },
    });
  const watch = async (): Promise<MailboxWatcher> => {
    const watcher = watcherFor();
    await watcher.start();
    await waitUntil('the watcher to watch the mailbox', () => watcher.health().state === 'watching', 30_000);
    return watcher;
  };
  // The first look at a mailbox records where it ends; what is appended after that is new mail.
  await (await watch()).stop();

  const client = new ImapFlow({ host: services.imapHost, port: services.imapPort, secure: false, doSTARTTLS: false, auth: { user, pass: services.imapPassword }, logger: false } as ConstructorParameters<typeof ImapFlow>[0]);
  await client.connect();
  return {
    async run(corpus) {
      for (const message of corpus) await client.append('INBOX', message.raw);
      handedOver = 0;
      firstStart = null;
      const watcher = await watch();
      try {
        await watcher.syncNow();
        await waitUntil('every message to be handed over', () => handedOver >= corpus.length, 120_000);
      } finally {
        await watcher.stop();
      }
      if (handedOver !== corpus.length || firstStart === null) throw new Error(`the watcher handed over ${handedOver} of ${corpus.length} messages`);
      return lastEnd - firstStart;
    },
    async close() {
      await client.logout().catch(() => client.close());
    },
  };
}
