import { z } from 'zod';

/**
 * Messages between the benchmark (load generator, Slack fake) and the process serving
 * /slack/events, over the IPC channel of `fork`. The server runs in its own process so the
 * load generator does not share its event loop, as with Slack calling a deployed app.
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
});
export type ServerSettings = z.infer<typeof serverSettingsSchema>;

const summarySchema = z.object({ requests: z.number(), p50: z.number(), p95: z.number(), p99: z.number(), max: z.number(), mean: z.number() });

const stepSchema = z.object({ step: z.string(), p50: z.number(), p95: z.number(), p99: z.number(), max: z.number() });
export type BreakdownStep = z.infer<typeof stepSchema>;

export const toServerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('start'), settings: serverSettingsSchema }),
  z.object({ type: z.literal('breakdown'), iterations: z.number().int().positive() }),
  /** Server-side timings since the last `timings` message. */
  z.object({ type: z.literal('timings') }),
  z.object({ type: z.literal('stop') }),
]);
export type ToServer = z.infer<typeof toServerSchema>;

export const fromServerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), port: z.number().int(), draftId: z.string().nullable(), database: z.string().nullable() }),
  z.object({ type: z.literal('breakdown'), steps: z.array(stepSchema) }),
  /** served: request in → response out at /slack/events; outbound: the server's own HTTP calls (Slack Web API). */
  z.object({ type: z.literal('timings'), served: summarySchema.nullable(), outbound: summarySchema.nullable(), cpuMs: z.number(), eventLoopUtilization: z.number() }),
  z.object({ type: z.literal('stopped') }),
  z.object({ type: z.literal('failed'), error: z.string() }),
]);
export type FromServer = z.infer<typeof fromServerSchema>;
