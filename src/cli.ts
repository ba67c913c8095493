import { loadConfig, type Config } from './config.ts';
import { createDatabase } from './db/database.ts';
import { applyMigrations } from './db/migrate.ts';
import { formatDoctor, runDoctor } from './doctor.ts';
import { AdjutantError, errorMessage } from './errors.ts';
import { startService } from './main.ts';
import { formatStatus, readStatus, statusExitCode } from './status.ts';

const USAGE = `Usage: adjutant <command>

Commands:
  start     run the service (applies migrations first)
  migrate   apply database migrations and exit
  doctor    check every configured connection and print what to fix
  status    list drafts and jobs that need a person (failed, may have been sent, stranded)

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
      const results = await runDoctor(config);
      console.log(formatDoctor(results));
      return results.some((result) => result.status === 'failed') ? 1 : 0;
    }
    case 'status':
      return status(config);
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

  const service = await startService(config);
  await stopRequested;
  service.logger.info({ signal: signalled }, 'shutting down');
  await service.stop();
  return 0;
}

async function status(config: Config): Promise<number> {
  const database = await createDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR });
  try {
    await applyMigrations(database.pool);
    const report = await readStatus(database);
    console.log(formatStatus(report));
    return statusExitCode(report);
  } finally {
    await database.close();
  }
}

async function migrate(config: Config): Promise<number> {
  const database = await createDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR });
  try {
    const report = await applyMigrations(database.pool, { onApply: (name) => console.log(`applying ${name}`) });
    console.log(report.applied.length === 0 ? `Database is up to date (${report.alreadyApplied.length} migrations).` : `Applied ${report.applied.length} migration(s).`);
    return 0;
  } finally {
    await database.close();
  }
}

main(process.argv.slice(2)).then(
  // agenda leaves timers behind after stop (ENVIRONMENT.md): exit explicitly once shut down.
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof AdjutantError ? `${error.code}: ${error.message}` : error);
    process.exit(1);
  },
);
