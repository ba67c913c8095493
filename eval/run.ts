/**
 * `npm run eval`: triage (and drafting) quality, local share and cost against the labelled set
 * in eval/emails, with the models the environment configures (the service's own config loader,
 * .env included). Each email goes through the real agents and the real model router; the
 * ledger is kept in memory, nothing touches a database. Progress goes to stderr, the report to
 * stdout, the details to eval/results/latest.json.
 *
 *   npm run eval -- [--limit N] [--only <file substring>] [--no-draft] [--out <file>] [--verbose]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { z } from 'zod';
import { draftReply } from '../src/agents/drafter.ts';
import { triageEmail } from '../src/agents/triage.ts';
import { TRIAGE_CATEGORIES, URGENCIES } from '../src/agents/triage-rules.ts';
import { createAnthropicChatModel } from '../src/brains/anthropic/anthropic-chat-model.ts';
import { createOllamaChatModel } from '../src/brains/ollama/ollama-chat-model.ts';
import { createModelRouter, type CloudBudget } from '../src/brains/router.ts';
import type { CallLedger, ChatModel, ModelCallRecord } from '../src/brains/types.ts';
import { readMailSignals } from '../src/channels/email/mail-signals.ts';
import { parseEmail, type ParsedEmail } from '../src/channels/email/parse-email.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { AdjutantError, errorMessage } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { escalationOf, formatReport, mentions, summarise, type EmailOutcome, type Stage } from './report.ts';

const USAGE = `Usage: npm run eval -- [options]

Runs triage (and drafting) over the labelled emails in eval/emails with the models configured
in the environment or .env (OLLAMA_HOST, OLLAMA_MODEL, ANTHROPIC_API_KEY, ANTHROPIC_MODEL,
ANTHROPIC_BASE_URL); cloud spend in one run stops at LLM_WEEKLY_BUDGET_USD.

Options:
  --limit N         only the first N emails (after --only)
  --only TEXT       only files whose name contains TEXT (repeatable)
  --no-draft        triage only
  --out FILE        where the JSON results go (default eval/results/latest.json)
  --verbose         log the router's decisions (model unsure, fallbacks) to stderr
  --help`;

const SKIP_MESSAGE = 'eval skipped: no model configured (set OLLAMA_HOST and/or ANTHROPIC_API_KEY)';

/** The eval set's mailbox belongs to Northwind Joinery (eval/README.md). */
const TEAM_NAME = 'Northwind Joinery';
const EVAL_DIR = dirname(fileURLToPath(import.meta.url));
const EMAILS_DIR = resolve(EVAL_DIR, 'emails');
const DEFAULT_OUT = resolve(EVAL_DIR, 'results', 'latest.json');

const labelSchema = z.object({
  file: z.string().regex(/^[\w.-]+\.eml$/),
  category: z.enum(TRIAGE_CATEGORIES),
  urgency: z.enum(URGENCIES),
  needsDraft: z.boolean(),
  mustMention: z.array(z.string().min(1)),
  notes: z.string(),
});
type Label = z.infer<typeof labelSchema>;

interface Options {
  limit: number | null;
  only: string[];
  drafting: boolean;
  out: string;
  verbose: boolean;
}

function readOptions(argv: string[]): Options | { help: true } | { error: string } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        limit: { type: 'string' },
        only: { type: 'string', multiple: true },
        'no-draft': { type: 'boolean', default: false },
        out: { type: 'string' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    return { error: errorMessage(error) };
  }
  const { values } = parsed;
  if (values.help) return { help: true };
  let limit: number | null = null;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) return { error: `--limit: expected a whole number of at least 1, got "${values.limit}"` };
  }
  return {
    limit,
    only: values.only ?? [],
    drafting: !values['no-draft'],
    out: values.out === undefined ? DEFAULT_OUT : resolve(values.out),
    verbose: values.verbose,
  };
}

function loadLabels(): Label[] {
  const raw: unknown = JSON.parse(readFileSync(resolve(EVAL_DIR, 'labels.json'), 'utf8'));
  return z.array(labelSchema).parse(raw);
}

function describe(error: unknown): string {
  return error instanceof AdjutantError ? `${error.code}: ${error.message}` : errorMessage(error);
}

/** Where a server URL points, without any credentials written into it. */
function where(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

function buildModels(config: Config, logger: ReturnType<typeof createLogger>): { cloud?: ChatModel; local?: ChatModel; names: string[] } {
  const cloud = config.ANTHROPIC_API_KEY
    ? createAnthropicChatModel({
        apiKey: config.ANTHROPIC_API_KEY,
        model: config.ANTHROPIC_MODEL,
        logger,
        ...(config.ANTHROPIC_BASE_URL ? { baseURL: config.ANTHROPIC_BASE_URL } : {}),
      })
    : undefined;
  const local = config.OLLAMA_HOST ? createOllamaChatModel({ host: config.OLLAMA_HOST, model: config.OLLAMA_MODEL }) : undefined;
  const names = [
    local ? `local: ollama/${local.model} at ${where(config.OLLAMA_HOST ?? '')}` : 'local: none (OLLAMA_HOST unset)',
    cloud ? `cloud: anthropic/${cloud.model}${config.ANTHROPIC_BASE_URL ? ` at ${where(config.ANTHROPIC_BASE_URL)}` : ''} (spend capped at $${config.LLM_WEEKLY_BUDGET_USD} for this run)` : 'cloud: none (ANTHROPIC_API_KEY unset)',
  ];
  return { ...(cloud ? { cloud } : {}), ...(local ? { local } : {}), names };
}

async function main(argv: string[]): Promise<number> {
  const options = readOptions(argv);
  if ('help' in options) {
    console.log(USAGE);
    return 0;
  }
  if ('error' in options) {
    console.error(`${options.error}\n\n${USAGE}`);
    return 2;
  }

  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error(errorMessage(error));
    return 2;
  }
  if (!config.OLLAMA_HOST && !config.ANTHROPIC_API_KEY) {
    console.log(SKIP_MESSAGE);
    return 0;
  }

  let labels = loadLabels();
  if (options.only.length > 0) labels = labels.filter((label) => options.only.some((part) => label.file.includes(part)));
  if (options.limit !== null) labels = labels.slice(0, options.limit);
  if (labels.length === 0) {
    console.error(`No labelled email matches --only ${options.only.join(', ')}`);
    return 2;
  }

  // The router logs its fallbacks at info and warn; the report counts them, so by default only errors show.
  const logger = createLogger({ level: options.verbose ? 'info' : 'error', destination: pino.destination({ fd: 2, sync: true }) });
  const models = buildModels(config, logger);
  const calls: ModelCallRecord[] = [];
  const ledger: CallLedger = {
    async record(call) {
      calls.push(call);
    },
  };
  // The service's cap reads the week's spend from the database; here it caps this run's own spend.
  const spent = () => calls.reduce((sum, call) => sum + call.costUsd, 0);
  const budget: CloudBudget = { allowCloud: async () => spent() < config.LLM_WEEKLY_BUDGET_USD };
  const router = createModelRouter({ ledger, logger, budget, ...(models.cloud ? { cloud: models.cloud } : {}), ...(models.local ? { local: models.local } : {}) });

  // Ctrl-C once: finish the current email and report what is done; twice: stop now.
  let stopRequested = false;
  process.on('SIGINT', () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    process.stderr.write('\n(stopping after this email; Ctrl-C again to quit at once)\n');
  });

  const startedAt = new Date();
  const outcomes: EmailOutcome[] = [];
  for (const [index, label] of labels.entries()) {
    if (stopRequested) break;
    process.stderr.write(`[${index + 1}/${labels.length}] ${label.file}… `);
    const outcome = await evaluate(label, { router, calls, drafting: options.drafting });
    outcomes.push(outcome);
    process.stderr.write(`${progressLine(outcome)}\n`);
  }

  const summary = summarise(outcomes, calls, { drafting: options.drafting });
  mkdirSync(dirname(options.out), { recursive: true });
  const finishedAt = new Date();
  writeFileSync(
    options.out,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        stoppedEarly: outcomes.length < labels.length,
        options: { limit: options.limit, only: options.only, drafting: options.drafting },
        models: models.names,
        summary,
        emails: outcomes,
        calls,
      },
      null,
      2,
    )}\n`,
  );
  console.log(formatReport(summary, { models: models.names, resultsPath: options.out }));

  // Nothing a model was asked worked: most likely a wrong host, key or model name.
  const modelSteps = summary.calls.total;
  if (modelSteps > 0 && summary.calls.ok === 0) {
    console.error('\nEvery model call failed: check OLLAMA_HOST / OLLAMA_MODEL / ANTHROPIC_API_KEY (npm run doctor).');
    return 1;
  }
  return 0;
}

interface EvaluateDeps {
  router: ReturnType<typeof createModelRouter>;
  calls: ModelCallRecord[];
  drafting: boolean;
}

/** One email through triage and, when either the label or the verdict says needs_reply, drafting. */
async function evaluate(label: Label, deps: EvaluateDeps): Promise<EmailOutcome> {
  const { router, calls } = deps;
  const outcome: EmailOutcome = {
    file: label.file,
    label: { category: label.category, urgency: label.urgency, mustMention: label.mustMention },
    triage: null,
    draft: null,
    draftSkipped: null,
    failures: [],
    escalations: [],
    calls: 0,
    costUsd: 0,
  };
  const firstCall = calls.length;
  const fail = (stage: Stage, error: unknown) => outcome.failures.push({ stage, error: describe(error) });
  /** Runs one step; its ledger rows tell whether the other model had to be asked. */
  const step = async (use: 'triage' | 'draft', work: () => Promise<void>) => {
    const before = calls.length;
    try {
      await work();
    } catch (error) {
      fail(use, error);
    } finally {
      const escalation = escalationOf(label.file, use, calls.slice(before));
      if (escalation) outcome.escalations.push(escalation);
    }
  };

  let raw: Buffer;
  let email: ParsedEmail;
  try {
    raw = readFileSync(resolve(EMAILS_DIR, label.file));
    email = await parseEmail(raw);
  } catch (error) {
    fail('parse', error);
    return outcome;
  }
  // A direct email, as the triage job sees it (replyTarget in email-store.ts): From, not Reply-To.
  const emailId = `eval:${label.file}`;
  const from = { name: email.from?.name || null, address: email.from?.address ?? null };
  const signals = readMailSignals(raw);

  await step('triage', async () => {
    const triage = await triageEmail(router, {
      teamName: TEAM_NAME,
      emailId,
      signals,
      from,
      subject: email.subject,
      date: email.date,
      text: email.text,
      knownSender: false,
    });
    outcome.triage = { category: triage.category, urgency: triage.urgency, confidence: triage.confidence, by: triage.by, summary: triage.summary };
  });

  const wantsDraft = label.category === 'needs_reply' || outcome.triage?.category === 'needs_reply';
  if (deps.drafting && wantsDraft) {
    const fromAddress = from.address;
    if (fromAddress === null) {
      outcome.draftSkipped = 'the email has no sender address';
    } else {
      await step('draft', async () => {
        const draft = await draftReply(router, {
          teamName: TEAM_NAME,
          emailId,
          instruction: null,
          original: { fromName: from.name, fromAddress, subject: email.subject, date: email.date, body: email.text },
          grounding: { conversation: [], contact: null, related: [], pastReplies: [], guidance: [] },
        });
        outcome.draft = {
          body: draft.body,
          provider: draft.provider,
          model: draft.model,
          confidence: draft.confidence,
          mentioned: label.mustMention.filter((term) => mentions(draft.body, term)),
          missing: label.mustMention.filter((term) => !mentions(draft.body, term)),
        };
      });
    }
  }

  const own = calls.slice(firstCall);
  outcome.calls = own.length;
  outcome.costUsd = own.reduce((sum, call) => sum + call.costUsd, 0);
  return outcome;
}

/** "fyi/low ✓ rule:auto-reply" or "task/normal ✗ (label needs_reply/normal) model:ollama/x | draft 2/3". */
function progressLine(outcome: EmailOutcome): string {
  const parts: string[] = [];
  const { triage, label } = outcome;
  if (triage) {
    const right = triage.category === label.category;
    parts.push(`${triage.category}/${triage.urgency} ${right ? '✓' : `✗ (label ${label.category}/${label.urgency})`} ${triage.by}`);
  }
  if (outcome.draft) {
    parts.push(label.mustMention.length > 0 ? `draft ${outcome.draft.mentioned.length}/${label.mustMention.length} terms` : 'draft written');
  } else if (outcome.draftSkipped) {
    parts.push(`draft skipped: ${outcome.draftSkipped}`);
  }
  for (const escalation of outcome.escalations) parts.push(`${escalation.use} escalated ${escalation.from}→${escalation.to}`);
  for (const failure of outcome.failures) parts.push(`${failure.stage} FAILED: ${failure.error.slice(0, 120)}`);
  return parts.join(' | ');
}

process.exitCode = await main(process.argv.slice(2));
