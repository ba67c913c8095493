import { z } from 'zod';

/**
 * Messages between the benchmark (load generator, Slack, SMTP and model fakes, the response_url
 * catcher) and the process serving /slack/events, over the IPC channel of `fork`. The server
 * runs in its own process so the load generator does not share its event loop, as with Slack
 * calling a deployed app.
 */
export const serverSettingsSchema = z.object({
  target: z.enum(['bare', 'adjutant']),
  botToken: z.string(),
  signingSecret: z.string(),
  slackApiUrl: z.string(),
  approver: z.string(),
  channel: z.string(),
  /** Adjutant only: PostgreSQL when set, else PGlite in dataDir. */
  databaseUrl: z.string().optional(),
  dataDir: z.string(),
  /** Adjutant only: pending drafts (each with its email and its Slack message) to create after start. */
  pendingDrafts: z.number().int().min(0).default(0),
  /** Adjutant only: the Anthropic fake (ANTHROPIC_BASE_URL); no model when unset. */
  anthropicUrl: z.string().optional(),
  /** Adjutant only: EMBEDDER. */
  embedder: z.enum(['none', 'builtin']).default('none'),
  /** Adjutant only: the SMTP capture's port; approved drafts are sent there. No SMTP when unset. */
  smtpPort: z.number().int().optional(),
});
export type ServerSettings = z.input<typeof serverSettingsSchema>;

const summarySchema = z.object({ requests: z.number(), p50: z.number(), p95: z.number(), p99: z.number(), max: z.number(), mean: z.number() });

const stepSchema = z.object({ step: z.string(), p50: z.number(), p95: z.number(), p99: z.number(), max: z.number() });
export type BreakdownStep = z.infer<typeof stepSchema>;

/** One draft as the database has it after the run: its status and the audit rows that matter. */
const draftStateSchema = z.object({ id: z.string(), status: z.string(), approved: z.number(), rejected: z.number(), sent: z.number(), failed: z.number() });
export type DraftState = z.infer<typeof draftStateSchema>;

export const toServerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('start'), settings: serverSettingsSchema }),
  /** Steps of a click timed alone; `pendingDraftIds` are spare pending drafts the winning decision may use up. */
  z.object({ type: z.literal('breakdown'), iterations: z.number().int().positive(), pendingDraftIds: z.array(z.string()), decidedDraftId: z.string().nullable() }),
  /** Server-side timings since the last `timings` message. */
  z.object({ type: z.literal('timings') }),
  /** Status and audit counts of these drafts. */
  z.object({ type: z.literal('inspect'), draftIds: z.array(z.string()) }),
  z.object({ type: z.literal('stop') }),
]);
export type ToServer = z.input<typeof toServerSchema>;

export const fromServerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), port: z.number().int(), draftIds: z.array(z.string()), database: z.string().nullable() }),
  z.object({ type: z.literal('breakdown'), steps: z.array(stepSchema) }),
  /** served: request in → response out at /slack/events; outbound: the server's own fetch calls (Slack Web API, the model). */
  z.object({
    type: z.literal('timings'),
    served: summarySchema.nullable(),
    outbound: summarySchema.nullable(),
    cpuMs: z.number(),
    eventLoopUtilization: z.number(),
    /** BENCH_TRACE=1: means per request served of the database and fetch time (and counts) before its response. */
    traced: z.object({ dbMs: z.number(), dbQueries: z.number(), fetchMs: z.number(), fetches: z.number() }).nullable(),
  }),
  z.object({ type: z.literal('inspected'), drafts: z.array(draftStateSchema) }),
  z.object({ type: z.literal('stopped') }),
  z.object({ type: z.literal('failed'), error: z.string() }),
]);
export type FromServer = z.infer<typeof fromServerSchema>;
