import { randomUUID } from 'node:crypto';
import type { DestinationStream } from 'pino';
import { createModelRouter } from './brains/router.ts';
import { createWeeklyBudget } from './brains/weekly-budget.ts';
import type { Embedder } from './brains/types.ts';
import type { MailboxWatcher } from './channels/email/imap-watcher.ts';
import type { SentFolder } from './channels/email/sent-folder.ts';
import { createSmtpSender, type MailSender } from './channels/email/smtp-sender.ts';
import { createApproverCheck } from './channels/slack/approvers.ts';
import { botIdentity } from './channels/slack/bot-identity.ts';
import type { SlackApp } from './channels/slack/slack-app.ts';
import { configuredParts, type Config } from './config.ts';
import { createConfiguredEmbedder } from './brains/embedder.ts';
import { createConfiguredChatModels } from './brains/chat-models.ts';
import { createDatabase, type Database } from './db/database.ts';
import { applyMigrations } from './db/migrate.ts';
import { errorMessage } from './errors.ts';
import { createHealthRegistry, type HealthRegistry, type PartReport } from './health.ts';
import { createHttpServer } from './http-server.ts';
import { createLogger, type Logger } from './logger.ts';
import { createAuditLog } from './memory/audit.ts';
import { createDraftStore } from './orchestrator/draft-store.ts';
import { createEmailStore } from './memory/email-store.ts';
import { createMemory } from './memory/memory.ts';
import { createEmbeddingBackfill } from './memory/embedding-backfill.ts';
import { createModelLedger } from './brains/model-ledger.ts';
import { createApprovalService } from './orchestrator/approvals.ts';
import { createJobQueue, type JobQueue } from './orchestrator/job-queue.ts';
import { draftReplyJob } from './orchestrator/jobs/draft-reply.ts';
import { postApprovalJob } from './orchestrator/jobs/post-approval.ts';
import { postNoticeJob } from './orchestrator/jobs/post-notice.ts';
import { rememberEmailJob } from './orchestrator/jobs/remember-email.ts';
import { triageEmailJob } from './orchestrator/jobs/triage-email.ts';
import { redraftReplyJob } from './orchestrator/jobs/redraft-reply.ts';
import { createTeamAssistant } from './orchestrator/team-assistant.ts';
import { createBriefings } from './orchestrator/briefings.ts';
import { briefingPostJob } from './orchestrator/jobs/briefing.ts';
import { followUpsJob } from './orchestrator/jobs/follow-ups.ts';
import { followUpDraftJob } from './orchestrator/jobs/follow-up-draft.ts';
import { slackLinks } from './channels/slack/overview-view.ts';
import type { McpHttpEndpoint } from './mcp/http.ts';
import { budgetNoticeJob, noticeBudgetExhausted } from './orchestrator/jobs/budget-notice.ts';
import { DEFAULT_RECONCILE, reconcileJob, type ReconcileOptions } from './orchestrator/jobs/reconcile.ts';
import { sendReplyJob } from './orchestrator/jobs/send-reply.ts';
import { embedMemoryJob } from './orchestrator/jobs/embed-memory.ts';
import { refreshContactJob } from './orchestrator/jobs/refresh-contact.ts';
import { JOB_BRIEFING_POST, JOB_EMBED_MEMORY, JOB_FOLLOW_UPS, JOB_RECONCILE } from './orchestrator/job-names.ts';
import type { PipelineDeps } from './orchestrator/pipeline-deps.ts';
import { slackMemoryPort } from './orchestrator/slack-memory.ts';
import { DEFAULT_SERVERS_FILE, loadServersFile } from './mcp/client/servers-file.ts';
import type { ExternalTools } from './mcp/client/external-tools.ts';
import { createToolGate, type ToolGate } from './orchestrator/tool-calls.ts';
import { toolDecidedJob, toolRequestApprovalJob } from './orchestrator/jobs/tool-calls.ts';
import { answerQuestionJob } from './orchestrator/jobs/answer-question.ts';
import type { ApprovalService } from './orchestrator/approvals.ts';

// An integration that is not configured is never loaded: the modules of its client library
// (Slack Bolt, imapflow, the Anthropic SDK…) would stay in memory for the life of the process,
// and an idle service on a small machine has no memory to spare (bench/footprint.bench.ts). So
// startService imports each one where it is configured, and only its types here. The SMTP
// sender is the exception: the draft and send jobs import smtp-sender.ts, nodemailer with it.

export interface ServiceOptions {
  /** Where logs go (stdout by default). */
  logDestination?: DestinationStream;
  /** Bind address for the HTTP server (default all interfaces). */
  host?: string;
  /** How long SIGTERM waits for running jobs before releasing them. */
  shutdownGraceMs?: number;
  /** SMTP inactivity limit, including the wait for the answer to the message data (default 60 s). */
  smtpSocketTimeoutMs?: number;
  /** Job polling interval; tests shorten it. */
  jobPollMs?: number;
  /** How often stranded work is looked for (default 5 s), and its thresholds; tests shorten them. */
  reconcileEveryMs?: number;
  reconcile?: Partial<ReconcileOptions>;
  /** How often waiting memory passages are embedded (default 2 s). */
  embedEveryMs?: number;
  /** The built-in embedder's idle time before its worker leaves; tests shorten it. */
  builtinEmbedder?: { idleMs?: number };
}

export interface Service {
  readonly port: number;
  readonly database: Database;
  readonly health: HealthRegistry;
  readonly logger: Logger;
  readonly watcher: MailboxWatcher | null;
  stop(): Promise<void>;
}

/** The composition root: every adapter that does IO is built here and passed in; unconfigured ones are not even loaded. */
export async function startService(config: Config, options: ServiceOptions = {}): Promise<Service> {
  const logger = createLogger({ level: config.LOG_LEVEL, ...(options.logDestination ? { destination: options.logDestination } : {}) });
  const parts = configuredParts(config);
  for (const [part, status] of Object.entries(parts)) {
    if (status.enabled) logger.info({ part, ...(status.reason ? { detail: status.reason } : {}) }, `${part}: enabled`);
    else logger.warn({ part, reason: status.reason }, `${part}: disabled (${status.reason})`);
  }

  const database = await createDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR });
  const cleanup: (() => Promise<void> | void)[] = [() => database.close()];
  const runCleanup = async () => {
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch((error: unknown) => logger.warn({ err: error }, 'shutdown step failed'));
  };
  try {
    const migrations = await applyMigrations(database.pool, { onApply: (name) => logger.info({ migration: name }, 'applying migration') });
    logger.info({ applied: migrations.applied.length, alreadyApplied: migrations.alreadyApplied.length, database: database.kind }, 'database ready');

    const { prisma } = database;
    const audit = createAuditLog(prisma);
    const emails = createEmailStore(database);
    const drafts = createDraftStore(prisma);

    const embedder: Embedder | null = createConfiguredEmbedder(config, logger, options.builtinEmbedder);
    if (embedder?.close) {
      const active = embedder;
      cleanup.push(() => active.close?.());
    }
    logger.info({ embedder: embedder?.model ?? 'none' }, embedder ? `memory search: hybrid, embeddings by ${embedder.model}` : 'memory search: full text only (EMBEDDER=none)');
    const memory = createMemory({ database, embedder, embedderOff: 'EMBEDDER is none', logger });
    const { cloud, local } = await createConfiguredChatModels(config, logger);
    // The cap reads the ledger; its once-a-week notice is a job (`queue` exists by the time a call is made).
    const budget = createWeeklyBudget({ pool: database.pool, limitUsd: config.LLM_WEEKLY_BUDGET_USD, onExhausted: (week) => noticeBudgetExhausted(queue, week).then(() => undefined) });
    const router = cloud || local ? createModelRouter({ ledger: createModelLedger(prisma), logger, budget, ...(cloud ? { cloud } : {}), ...(local ? { local } : {}) }) : null;

    let slack: SlackApp | null = null;
    const slackHealth: { report: PartReport } = { report: { status: 'disabled', reason: parts.slack.reason ?? '' } };
    if (parts.slack.enabled && config.SLACK_BOT_TOKEN) {
      const { createSlackApp } = await import('./channels/slack/slack-app.ts');
      slack = createSlackApp({
        botToken: config.SLACK_BOT_TOKEN,
        logger,
        ...(config.SLACK_SIGNING_SECRET ? { signingSecret: config.SLACK_SIGNING_SECRET } : {}),
        ...(config.SLACK_APP_TOKEN ? { appToken: config.SLACK_APP_TOKEN } : {}),
        ...(config.SLACK_API_URL ? { apiUrl: config.SLACK_API_URL } : {}),
      });
      // Before any listener: an event Slack delivers again (a retry, a Socket Mode replay) is handled once.
      const { registerEventDedupe } = await import('./channels/slack/event-dedupe.ts');
      registerEventDedupe(slack.app, { pool: database.pool, logger });
    }

    let mailSender: MailSender | null = null;
    if (parts.smtp.enabled && config.SMTP_HOST && config.MAIL_FROM) {
      mailSender = createSmtpSender({
        host: config.SMTP_HOST,
        tls: config.SMTP_TLS,
        from: config.MAIL_FROM,
        ...(options.smtpSocketTimeoutMs ? { socketTimeoutMs: options.smtpSocketTimeoutMs } : {}),
        ...(config.SMTP_PORT ? { port: config.SMTP_PORT } : {}),
        ...(config.SMTP_USER ? { user: config.SMTP_USER } : {}),
        ...(config.SMTP_PASSWORD ? { password: config.SMTP_PASSWORD } : {}),
      });
      const sender = mailSender;
      cleanup.push(() => sender.close());
    }

    // The watched account: the watcher reads its mailbox, and sent replies are filed in its Sent folder.
    const imapAccount =
      parts.imap.enabled && config.IMAP_HOST && config.IMAP_USER && config.IMAP_PASSWORD
        ? { host: config.IMAP_HOST, user: config.IMAP_USER, password: config.IMAP_PASSWORD, tls: config.IMAP_TLS, ...(config.IMAP_PORT ? { port: config.IMAP_PORT } : {}) }
        : null;
    const sentFolder: SentFolder | null = imapAccount ? (await import('./channels/email/sent-folder.ts')).createSentFolder(imapAccount) : null;

    // Parts register their probes below; the App Home and /adjutant status read it too.
    const health = createHealthRegistry();
    const queue: JobQueue = createJobQueue({ pool: database.pool, embedded: database.kind === 'pglite', logger, ...(options.jobPollMs ? { processEveryMs: options.jobPollMs } : {}) });
    // The team's other systems: external MCP servers (MCP_SERVERS_FILE), connected in the
    // background with reconnects. Their write tools wait for an approver: the check is Slack's.
    const toolServers = loadServersFile(config.MCP_SERVERS_FILE, { env: process.env });
    let externalTools: ExternalTools | null = null;
    let toolGate: ToolGate | null = null;
    let approvalService: ApprovalService | null = null;
    if (toolServers.length > 0) {
      const { connectExternalTools } = await import('./mcp/client/external-tools.ts');
      const connected = connectExternalTools(toolServers, { logger: logger.child({ component: 'mcp-client' }) });
      if (!slack || !config.SLACK_APPROVALS_CHANNEL) logger.warn('MCP servers: only their read tools are offered, because write tools need an approver in Slack (set SLACK_BOT_TOKEN and SLACK_APPROVALS_CHANNEL)');
      externalTools = connected;
      cleanup.push(() => connected.close());
      toolGate = createToolGate({
        database,
        tools: connected,
        audit,
        queue,
        allow: (userId, what) => (approvalService ? approvalService.allow(userId, what) : Promise.resolve(false)),
        canAsk: slack !== null && config.SLACK_APPROVALS_CHANNEL !== undefined,
        now: () => new Date(),
        logger,
      });
    }
    const mailFrom = config.MAIL_FROM ?? '';
    const deps: PipelineDeps = {
      queue,
      emails,
      drafts,
      memory,
      audit,
      router,
      slack: slack && config.SLACK_APPROVALS_CHANNEL ? { poster: slack.poster, approvalsChannel: config.SLACK_APPROVALS_CHANNEL } : null,
      mail: mailSender ? { sender: mailSender, sentFolder } : null,
      tools: toolGate,
      teamName: teamNameFrom(mailFrom),
      now: () => new Date(),
      newMessageId: () => `<${randomUUID()}@${domainOf(mailFrom) ?? 'adjutant.local'}>`,
      logger,
    };
    queue.define(rememberEmailJob(deps));
    queue.define(draftReplyJob(deps));
    queue.define(postApprovalJob(deps));
    queue.define(sendReplyJob(deps));
    queue.define(postNoticeJob(deps));
    queue.define(triageEmailJob(deps));
    queue.define(redraftReplyJob(deps));
    queue.define(budgetNoticeJob(deps));
    queue.define(refreshContactJob({ contacts: memory.contacts, router, teamName: deps.teamName, logger }));
    const embedderHealth: { report: PartReport } = embedder ? { report: { status: 'ok', detail: `${embedder.model}: starting` } } : { report: { status: 'disabled', reason: 'EMBEDDER is none: full-text search only' } };
    if (embedder) {
      queue.define(embedMemoryJob({ backfill: createEmbeddingBackfill({ pool: database.pool, embedder }), logger, onHealth: (report) => (embedderHealth.report = report) }));
    }
    // Announcements go to the approvals channel; without Slack they are logged only.
    const announce = async (text: string) => {
      logger.warn({ announcement: text }, 'announcement');
      if (deps.slack) await deps.slack.poster.postNotice(deps.slack.approvalsChannel, text).catch((error: unknown) => logger.warn({ err: error }, 'could not post the announcement'));
    };
    queue.define(reconcileJob({ ...deps, announce }, { ...DEFAULT_RECONCILE, ...options.reconcile }));

    // The morning briefing, on the queue's schedule: each scheduled time is enqueued keyed by
    // that time, so it is posted once however many workers tick.
    const briefings = createBriefings({
      database,
      health,
      router,
      weeklyBudgetUsd: config.LLM_WEEKLY_BUDGET_USD,
      teamName: deps.teamName,
      cron: config.BRIEFING_CRON,
      timezone: config.BRIEFING_TIMEZONE,
      slack: slack && config.SLACK_BRIEFING_CHANNEL ? { poster: slack.poster, channel: config.SLACK_BRIEFING_CHANNEL } : null,
      links: slack ? slackLinks(slack.app) : async () => (channel, ts) => `https://slack.com/archives/${channel}/p${ts.replace('.', '')}`,
      logger,
    });
    queue.define(followUpsJob({ database, slack: deps.slack, followUpAfterDays: config.FOLLOW_UP_AFTER_DAYS, timezone: config.BRIEFING_TIMEZONE, now: () => new Date(), logger }));
    queue.define(followUpDraftJob(deps));
    if (toolGate) {
      queue.define(toolRequestApprovalJob({ gate: toolGate, slack: deps.slack, logger }));
      queue.define(toolDecidedJob({ gate: toolGate, slack: deps.slack, logger }));
      queue.define(answerQuestionJob({ memory, router, tools: toolGate, poster: slack?.poster ?? null, now: () => new Date() }));
    }
    queue.define(briefingPostJob({ briefings, now: () => new Date(), logger }));

    if (slack) {
      const slackClient = slack.app.client;
      const approvals = createApprovalService({
        drafts,
        emails,
        feedback: memory.feedback,
        canDraft: router !== null,
        audit,
        queue,
        poster: slack.poster,
        isApprover: createApproverCheck({
          approvers: config.SLACK_APPROVERS,
          channel: config.SLACK_APPROVALS_CHANNEL,
          poster: slack.poster,
          teamId: async () => (await botIdentity(slackClient)).teamId,
        }),
        now: () => new Date(),
        logger,
      });
      approvalService = approvals;
      // The Slack features, each with the port it declares: approvals, asking, home.
      const [{ registerApprovals }, { registerAsking }, { registerHome }] = await Promise.all([
        import('./channels/slack/approvals.ts'),
        import('./channels/slack/asking.ts'),
        import('./channels/slack/home.ts'),
      ]);
      const assistant = createTeamAssistant({ memory, router, database, health, approvals, drafts, briefings, weeklyBudgetUsd: config.LLM_WEEKLY_BUDGET_USD, tools: toolGate });
      const slackLogger = logger.child({ component: 'slack' });
      registerApprovals(slack.app, { approvals, poster: slack.poster, logger: slackLogger });
      registerAsking(slack.app, { assistant, poster: slack.poster, approvalsChannel: config.SLACK_APPROVALS_CHANNEL ?? null, logger: slackLogger });
      registerHome(slack.app, { home: assistant, poster: slack.poster, logger: slackLogger });
      if (toolGate) {
        const gate = toolGate;
        const { registerToolApprovals } = await import('./channels/slack/tool-approvals.ts');
        registerToolApprovals(slack.app, { tools: gate, poster: slack.poster, logger: slackLogger });
      }
      slack.rememberConversations(slackMemoryPort({ memory, prisma }), config.SLACK_MEMORY_CHANNELS);
    }

    let watcher: MailboxWatcher | null = null;
    if (imapAccount) {
      // Mail comes in only through the watcher: the email parser is loaded with it.
      const [{ createEmailIngest }, { createImapWatcher }, { createMailboxStateStore }, { createMailboxFailureStore }, { createAdvisoryLocks }] = await Promise.all([
        import('./orchestrator/ingest-email.ts'),
        import('./channels/email/imap-watcher.ts'),
        import('./channels/email/mailbox-state.ts'),
        import('./channels/email/mailbox-failures.ts'),
        import('./db/advisory-lock.ts'),
      ]);
      const ingest = createEmailIngest({ emails, audit, queue, logger, teamDomains: config.TEAM_DOMAINS, authservId: config.MAIL_AUTHSERV_ID });
      watcher = createImapWatcher({
        options: { ...imapAccount, mailbox: config.IMAP_MAILBOX },
        state: createMailboxStateStore(prisma),
        failures: createMailboxFailureStore(prisma),
        locks: createAdvisoryLocks(database.pool, database.kind === 'pglite'),
        logger,
        announce,
        onMessage: async (raw, uid, mailbox) => {
          await ingest(raw, uid, mailbox);
        },
      });
    }

    health.register('database', async () => {
      await prisma.$queryRaw`SELECT 1`;
      return { status: 'ok', detail: database.kind === 'pglite' ? `embedded PGlite in ${config.DATA_DIR}` : 'PostgreSQL' };
    });
    health.register('jobs', () => (queue.health().running ? { status: 'ok' } : { status: 'failing', error: 'job worker is not running' }));
    health.register('slack', () => slackHealth.report);
    health.register('approvals', () =>
      parts.approvals.enabled ? { status: 'ok', detail: `channel ${config.SLACK_APPROVALS_CHANNEL}` } : { status: 'disabled', reason: parts.approvals.reason ?? '' },
    );
    health.register('imap', () => {
      if (!watcher) return { status: 'disabled', reason: parts.imap.reason ?? '' };
      const state = watcher.health();
      if (state.state === 'watching') return { status: 'ok', detail: `watching ${state.mailbox}` };
      if (state.state === 'standby') return { status: 'ok', detail: `standby: another replica watches ${state.mailbox}` };
      if (state.state === 'stalled') {
        return { status: 'failing', error: `stalled: no contact with the IMAP server since ${state.lastContactAt?.toISOString() ?? 'start-up'}${state.lastError ? ` (${state.lastError})` : ''}` };
      }
      return { status: 'failing', error: `${state.state}${state.lastError ? `: ${state.lastError}` : ''}` };
    });
    health.register('smtp', () => (mailSender ? { status: 'ok', detail: `${config.SMTP_HOST}` } : { status: 'disabled', reason: parts.smtp.reason ?? '' }));
    health.register('anthropic', () => (cloud ? { status: 'ok', detail: config.ANTHROPIC_MODEL } : { status: 'disabled', reason: parts.anthropic.reason ?? '' }));
    health.register('ollama', () => (local ? { status: 'ok', detail: config.OLLAMA_MODEL } : { status: 'disabled', reason: parts.ollama.reason ?? '' }));
    health.register('embedder', () => embedderHealth.report);
    // A server that is down is shown, not failed on: the agents carry on without its tools.
    health.register('mcp-servers', () => {
      if (!externalTools) return { status: 'disabled', reason: `no external MCP servers (${config.MCP_SERVERS_FILE ?? DEFAULT_SERVERS_FILE} names none)` };
      return { status: 'ok', detail: externalTools.status().map((server) => `${server.name}: ${server.state === 'connected' ? `${server.tools} tool(s)` : server.state}${server.problem ? ` (${server.problem})` : ''}`).join('; ') };
    });
    // MCP at /mcp: loaded only with MCP_TOKEN; without it /mcp says how to turn it on, and start-up warns.
    let mcp: McpHttpEndpoint | null = null;
    if (config.MCP_TOKEN) {
      const [{ createMcpHttpEndpoint }, { createMcpServer }, { mcpPort }] = await Promise.all([import('./mcp/http.ts'), import('./mcp/server.ts'), import('./orchestrator/mcp-port.ts')]);
      const mcpLogger = logger.child({ component: 'mcp' });
      const mcpDeps = mcpPort({ memory, router, database, logger: mcpLogger });
      mcp = createMcpHttpEndpoint({ token: config.MCP_TOKEN, createServer: () => createMcpServer(mcpDeps), logger: mcpLogger });
    }
    const mcpEndpoint = mcp;
    health.register('mcp', () => (mcpEndpoint ? { status: 'ok', detail: `/mcp, ${mcpEndpoint.sessionCount()} open session(s)` } : { status: 'disabled', reason: parts.mcp.reason ?? '' }));

    const http = createHttpServer({ health, mcp: mcpEndpoint?.listener ?? null, logger });
    cleanup.push(() => http.close());
    let port: number;
    if (slack?.serveHttp) {
      // Slack's HTTP mode: its front thread owns PORT (answers to Slack never wait on this
      // thread's work) and passes /healthz and /mcp to this server on loopback.
      const upstreamPort = await http.listen(0, '127.0.0.1', 'slack-front');
      const app = slack;
      cleanup.push(() => app.stop());
      port = await slack.serveHttp({ port: config.PORT, upstreamPort, ...(options.host ? { host: options.host } : {}) });
      logger.info({ port }, 'HTTP server listening (Slack requests answered on their own thread)');
    } else port = await http.listen(config.PORT, options.host);
    // Runs before http.close (cleanup runs in reverse): sessions end, then the server closes.
    if (mcpEndpoint) cleanup.push(() => mcpEndpoint.close());

    await queue.start();
    await queue.every(JOB_RECONCILE, options.reconcileEveryMs ?? 5000);
    if (embedder) await queue.every(JOB_EMBED_MEMORY, options.embedEveryMs ?? 2000);
    await queue.schedule(JOB_BRIEFING_POST, briefings.schedule);
    await queue.every(JOB_FOLLOW_UPS, 5 * 60_000);
    cleanup.push(() => queue.stop(options.shutdownGraceMs ?? 5000));

    if (slack) {
      const app = slack;
      // A wrong token is reported on /healthz, not a crash: mail is still stored and remembered.
      await app.app.client.auth
        .test()
        .then((result) => {
          slackHealth.report = { status: 'ok', detail: `${app.mode} mode as ${result.user ?? 'bot'} in ${result.team ?? 'workspace'}` };
        })
        .catch((error: unknown) => {
          slackHealth.report = { status: 'failing', error: `auth.test failed: ${errorMessage(error)} (check SLACK_BOT_TOKEN)` };
          logger.error({ err: error }, 'Slack auth.test failed');
        });
      await app.start().catch((error: unknown) => {
        slackHealth.report = { status: 'failing', error: `Socket Mode connection failed: ${errorMessage(error)} (check SLACK_APP_TOKEN)` };
        logger.error({ err: error }, 'Slack start failed');
      });
      cleanup.push(() => app.stop());
    }

    if (watcher) {
      const active = watcher;
      await active.start();
      cleanup.push(() => active.stop());
    }

    logger.info({ port }, 'Adjutant is running');
    let stopped: Promise<void> | null = null;
    return {
      port,
      database,
      health,
      logger,
      watcher,
      stop() {
        // Reverse order of start: intake first (watcher, Slack, HTTP), then jobs, then the database.
        stopped ??= runCleanup().then(() => logger.info('Adjutant stopped'));
        return stopped;
      },
    };
  } catch (error) {
    await runCleanup();
    throw error;
  }
}

function domainOf(address: string): string | null {
  const match = /@([^\s>]+)/.exec(address);
  return match?.[1] ?? null;
}

/** "Acme Ops <ops@acme.com>" → "Acme Ops"; "ops@acme.com" → "acme.com". */
function teamNameFrom(mailFrom: string): string {
  const display = /^\s*"?([^"<]+?)"?\s*</.exec(mailFrom)?.[1];
  return display ?? domainOf(mailFrom) ?? 'the team';
}
