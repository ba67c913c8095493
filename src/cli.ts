import { parseArgs } from 'node:util';
import { loadConfig, type Config } from './config.ts';
import type { ItemKind } from './memory/types.ts';
import type { Database } from './db/database.ts';
import type { MigrationReport } from './db/migrate.ts';
import { AdjutantError, errorMessage } from './errors.ts';

// Each command imports what it uses when it runs. `start` loads neither the doctor's Slack and
// IMAP clients nor the archive readers, and a client the service itself loads only when it is
// configured stays unloaded: resident memory matters on a small machine (bench/footprint.bench.ts).

const USAGE = `Usage: adjutant <command>

Commands:
  start     run the service (applies migrations first)
  migrate   apply database migrations and exit
  doctor    check every configured connection and print what to fix
  status    list drafts and jobs that need a person (failed, may have been sent, stranded)
  ingest    load old mail into memory: ingest <mbox file | Maildir | .eml files or folder>…
            (stored once by Message-ID, remembered, never drafted or posted)
  search    search memory: search <words…> [--kind email|slack_message|fact|note] [--person <address or name>]
            [--after YYYY-MM-DD] [--before YYYY-MM-DD] [--history] [--limit n]
  timeline  what happened to an email: timeline <email id | Message-ID | words of its subject or sender>
  jobs      jobs that gave up or wait to retry; jobs retry <id> runs a job that gave up again
  mcp       serve MCP on stdin/stdout, for Claude Desktop and other MCP clients (logs on stderr;
            with the embedded database, only while the service is stopped: use /mcp then)

Configuration comes from the environment and .env (see .env.example).`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'start';
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return 0;
  }
  const config = loadConfigOrExit();
  switch (command) {
    case 'start':
      return start(config);
    case 'migrate':
      return migrate(config);
    case 'doctor': {
      const { formatDoctor, runDoctor } = await import('./doctor.ts');
      const results = await runDoctor(config);
      console.log(formatDoctor(results));
      return results.some((result) => result.status === 'failed') ? 1 : 0;
    }
    case 'status':
      return status(config);
    case 'ingest':
      return ingestHistory(config, argv.slice(1));
    case 'search':
      return searchMemory(config, argv.slice(1));
    case 'timeline':
      return timeline(config, argv.slice(1));
    case 'jobs':
      return jobs(config, argv.slice(1));
    case 'mcp': {
      const { runMcpCommand } = await import('./mcp-command.ts');
      return runMcpCommand(config);
    }
    default:
      console.error(`Unknown command "${command}".\n\n${USAGE}`);
      return 2;
  }
}

function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    console.error(errorMessage(error));
    process.exit(2);
  }
}

async function start(config: Config): Promise<number> {
  // Listen for signals before start-up: a SIGTERM during migrations waits for start-up, then stops cleanly.
  let signalled: string | null = null;
  let wake: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => (wake = resolve));
  const onSignal = (signal: string) => {
    if (signalled) process.exit(130); // a second signal means "now"
    signalled = signal;
    wake();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  const { startService } = await import('./main.ts');
  const service = await startService(config);
  await stopRequested;
  service.logger.info({ signal: signalled }, 'shutting down');
  await service.stop();
  return 0;
}

/** Open the configured database, bring it up to date, run, and close it whatever happens. */
async function withDatabase(config: Config, run: (database: Database, migrations: MigrationReport) => Promise<number>, onApply?: (name: string) => void): Promise<number> {
  const [{ createDatabase }, { applyMigrations }] = await Promise.all([import('./db/database.ts'), import('./db/migrate.ts')]);
  const database = await createDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR });
  try {
    const migrations = await applyMigrations(database.pool, onApply ? { onApply } : {});
    return await run(database, migrations);
  } finally {
    await database.close();
  }
}

async function status(config: Config): Promise<number> {
  const { formatStatus, readStatus, statusExitCode } = await import('./status.ts');
  return withDatabase(config, async (database) => {
    const report = await readStatus(database, new Date(), { weeklyBudgetUsd: config.LLM_WEEKLY_BUDGET_USD });
    console.log(formatStatus(report));
    return statusExitCode(report);
  });
}

async function ingestHistory(config: Config, paths: string[]): Promise<number> {
  if (paths.length === 0) {
    console.error('Usage: adjutant ingest <mbox file | Maildir | .eml files or folder>…');
    return 2;
  }
  const [{ countArchive }, { createLogger }, { createAuditLog }, { createEmailStore }, { importHistory }, { createEmailIngest }, { createJobQueue }] = await Promise.all([
    import('./channels/email/mail-archive.ts'),
    import('./logger.ts'),
    import('./memory/audit.ts'),
    import('./memory/email-store.ts'),
    import('./orchestrator/import-history.ts'),
    import('./orchestrator/ingest-email.ts'),
    import('./orchestrator/job-queue.ts'),
  ]);
  return withDatabase(config, async (database) => {
    const logger = createLogger({ level: 'warn' });
    const queue = createJobQueue({ pool: database.pool, embedded: database.kind === 'pglite', logger });
    try {
      const total = await countArchive(paths);
      const ingest = createEmailIngest({ emails: createEmailStore(database), audit: createAuditLog(database.prisma), queue, logger, teamDomains: config.TEAM_DOMAINS, authservId: config.MAIL_AUTHSERV_ID });
      const started = Date.now();
      let shown = 0;
      const result = await importHistory(
        paths,
        (raw, origin) => ingest(raw, null, `import:${origin}`, { historical: true }),
        (progress) => {
          // A progress line on stderr, redrawn at most ten times a second.
          if (Date.now() - shown < 100 && progress.seen < total) return;
          shown = Date.now();
          process.stderr.write(`\r${progressBar(progress.seen, total)} ${progress.seen}/${total}  stored ${progress.stored}, already there ${progress.skipped}, failed ${progress.failed}`);
        },
      );
      process.stderr.write('\n');
      const seconds = (Date.now() - started) / 1000;
      console.log(`Read ${result.seen} message(s) in ${seconds.toFixed(1)} s: ${result.stored} stored, ${result.skipped} already there, ${result.failed} failed.`);
      for (const failure of result.failures.slice(0, 20)) console.log(`  failed: ${failure.origin}: ${failure.reason}`);
      if (result.failures.length > 20) console.log(`  … and ${result.failures.length - 20} more (see the audit log)`);
      if (result.stored > 0) console.log('They are remembered by the service: start it (npm start) if it is not running. No drafts are made for old mail.');
      return result.failed > 0 ? 1 : 0;
    } finally {
      await queue.stop(0);
    }
  });
}

async function searchMemory(config: Config, args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { kind: { type: 'string', multiple: true }, person: { type: 'string' }, after: { type: 'string' }, before: { type: 'string' }, history: { type: 'boolean' }, limit: { type: 'string' } },
    });
  } catch (error) {
    console.error(`${errorMessage(error)}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const date = (value: string | undefined, name: string) => {
    if (value === undefined) return undefined;
    const parsedDate = new Date(value);
    if (Number.isNaN(parsedDate.getTime())) throw new AdjutantError('CONFIG_INVALID', `--${name} ${value}: expected a date such as 2026-03-01`);
    return parsedDate;
  };
  const [{ createConfiguredEmbedder }, { createLogger }, { formatSearch }, { createMemory }] = await Promise.all([
    import('./brains/embedder.ts'),
    import('./logger.ts'),
    import('./memory/format-search.ts'),
    import('./memory/memory.ts'),
  ]);
  return withDatabase(config, async (database) => {
    const logger = createLogger({ level: 'warn' });
    const embedder = createConfiguredEmbedder(config, logger);
    try {
      const memory = createMemory({ database, embedder, embedderOff: 'EMBEDDER is none', logger });
      const after = date(values.after, 'after');
      const before = date(values.before, 'before');
      const response = await memory.search({
        text: positionals.join(' '),
        ...(values.kind ? { kinds: values.kind as ItemKind[] } : {}),
        ...(values.person ? { person: values.person } : {}),
        ...(after ? { after } : {}),
        ...(before ? { before } : {}),
        ...(values.history ? { includeHistory: true } : {}),
        ...(values.limit ? { limit: Number(values.limit) } : {}),
      });
      console.log(formatSearch(response));
      return 0;
    } finally {
      await embedder?.close?.();
    }
  });
}

function progressBar(done: number, total: number): string {
  const width = 24;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

function migrate(config: Config): Promise<number> {
  return withDatabase(
    config,
    async (_database, report) => {
      console.log(report.applied.length === 0 ? `Database is up to date (${report.alreadyApplied.length} migrations).` : `Applied ${report.applied.length} migration(s).`);
      return 0;
    },
    (name) => console.log(`applying ${name}`),
  );
}

main(process.argv.slice(2)).then(
  // agenda leaves timers behind after stop (they keep the process alive): exit explicitly once shut down.
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof AdjutantError ? `${error.code}: ${error.message}` : error);
    process.exit(1);
  },
);

async function timeline(config: Config, args: string[]): Promise<number> {
  const wanted = args.join(' ').trim();
  if (wanted === '') {
    console.error('Usage: adjutant timeline <email id | Message-ID | words of its subject or sender>');
    return 2;
  }
  const { emailTimeline, findEmails, formatTimeline } = await import('./memory/timeline.ts');
  return withDatabase(config, async (database) => {
    const [email, ...others] = await findEmails(database.pool, wanted);
    if (!email) {
      console.error(`No email matches "${wanted}".`);
      return 1;
    }
    console.log(`${email.subject || '(no subject)'} from ${email.fromAddress ?? 'unknown'}, received ${email.receivedAt.toISOString()} (${email.id})\n`);
    console.log(formatTimeline(await emailTimeline(database.prisma, email.id)));
    if (others.length > 0) console.log(`\nAlso matching (use the id): ${others.map((other) => `${other.id} "${other.subject}"`).join(', ')}`);
    return 0;
  });
}

async function jobs(config: Config, args: string[]): Promise<number> {
  const { readDeadJobs, readRetryingJobs, reviveDeadJob } = await import('./db/job-table.ts');
  return withDatabase(config, async (database) => {
    if (args[0] === 'retry') {
      const id = args[1] ?? '';
      if (await reviveDeadJob(database.pool, id)) {
        console.log(`Job ${id} will run again (with a fresh set of retries) as soon as the service picks it up.`);
        return 0;
      }
      console.error(`No job that gave up has the id "${id}" (see adjutant jobs).`);
      return 1;
    }
    const [dead, retrying] = await Promise.all([readDeadJobs(database.pool, 100), readRetryingJobs(database.pool, 100)]);
    if (dead.length === 0 && retrying.length === 0) console.log('No job has failed: nothing gave up, nothing waits to retry.');
    for (const job of dead) console.log(`gave up  ${job.id}  ${job.name} ${job.key ?? ''}  ${job.failCount}× at ${job.failedAt?.toISOString() ?? '?'}: ${job.reason ?? 'no reason recorded'}`);
    for (const job of retrying) console.log(`retrying ${job.id}  ${job.name} ${job.key ?? ''}  ${job.failCount}×, next ${job.nextRunAt.toISOString()}: ${job.reason ?? 'no reason recorded'}`);
    if (dead.length > 0) console.log('\nRun one again: adjutant jobs retry <id>');
    return dead.length > 0 ? 1 : 0;
  });
}
