/**
 * `adjutant mcp`: the MCP server on stdio, for Claude Desktop and other clients that start it as
 * a child process. A composition root like main.ts, for this one command: it opens the
 * configured database (applying pending migrations), builds memory, the model router and the
 * MCP port, and serves until the client closes stdin. stdout is the protocol: logs go to stderr.
 *
 * The service need not run for this (memory is the database), but with the embedded database
 * (no DATABASE_URL) only one process may open DATA_DIR: while the service runs, connect to its
 * /mcp over HTTP instead. Work this process causes for the service (embedding a remembered fact,
 * the weekly-budget notice) is left in the database for the service's jobs.
 */
import type { Config } from './config.ts';

export async function runMcpCommand(config: Config): Promise<number> {
  const [
    { createStderrLogger, runStdioServer },
    { createDatabase },
    { applyMigrations },
    { createConfiguredEmbedder },
    { createConfiguredChatModels },
    { createMemory },
    { createModelRouter },
    { createModelLedger },
    { createWeeklyBudget },
    { mcpPort },
  ] = await Promise.all([
    import('./mcp/stdio.ts'),
    import('./db/database.ts'),
    import('./db/migrate.ts'),
    import('./brains/embedder.ts'),
    import('./brains/chat-models.ts'),
    import('./memory/memory.ts'),
    import('./brains/router.ts'),
    import('./brains/model-ledger.ts'),
    import('./brains/weekly-budget.ts'),
    import('./orchestrator/mcp-port.ts'),
  ]);
  const logger = createStderrLogger(config.LOG_LEVEL).child({ component: 'mcp-stdio' });
  const database = await createDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR });
  const embedder = createConfiguredEmbedder(config, logger);
  try {
    await applyMigrations(database.pool, { onApply: (name) => logger.info({ migration: name }, 'applying migration') });
    const memory = createMemory({ database, embedder, embedderOff: 'EMBEDDER is none', logger });
    const models = await createConfiguredChatModels(config, logger);
    // The once-a-week notice that the budget is spent is a job: enqueued here (the job queue is
    // loaded only then), posted by the service.
    const budget = createWeeklyBudget({
      pool: database.pool,
      limitUsd: config.LLM_WEEKLY_BUDGET_USD,
      onExhausted: async (week) => {
        const [{ createJobQueue }, { noticeBudgetExhausted }] = await Promise.all([import('./orchestrator/job-queue.ts'), import('./orchestrator/jobs/budget-notice.ts')]);
        await noticeBudgetExhausted(createJobQueue({ pool: database.pool, embedded: database.kind === 'pglite', logger }), week);
      },
    });
    const router = models.cloud || models.local ? createModelRouter({ ledger: createModelLedger(database.prisma), logger, budget, ...models }) : null;
    await runStdioServer(mcpPort({ memory, router, database, logger }));
    return 0;
  } finally {
    await embedder?.close?.();
    await database.close();
  }
}
