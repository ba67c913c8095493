import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicFake, type AnthropicFake, type AnthropicFakeRequestBody } from './fakes/anthropic-fake.ts';
import { startOllamaFake, type OllamaFake, type OllamaFakeChatBody } from './fakes/ollama-fake.ts';

const TSX_CLI = fileURLToPath(new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url));
const EVAL_RUN = fileURLToPath(new URL('../eval/run.ts', import.meta.url));

/**
 * `npm run eval` as a user runs it, against the HTTP fakes. The child gets only the variables
 * set here and runs in an empty directory, so a developer's shell or .env cannot leak in.
 */
function runEval(args: string[], env: Record<string, string>, cwd: string) {
  const child = spawn(process.execPath, [TSX_CLI, EVAL_RUN, ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, cwd });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const triageJson = (category: string, urgency: string, confidence: number) =>
  JSON.stringify({ category, urgency, summary: 'A message for the team', people: [], organisations: [], dates: [], confidence });

/**
 * The first five labelled emails: 01 (invoice) gets unusable triage from both models, 02 a
 * local answer that is unsure (the cloud says fyi), 03 and 05 are decided by header rules, 04
 * is needs_reply locally and drafted in the cloud.
 */
function ollamaAnswer(body: OllamaFakeChatBody): string {
  const prompt = body.messages.map((message) => message.content).join('\n');
  if (!prompt.includes('You sort the email')) return 'not used: drafts go to the cloud first';
  if (prompt.includes('INV-55310')) return 'I think this is an invoice.';
  if (prompt.includes('Henderson wardrobe')) return triageJson('needs_reply', 'normal', 0.3);
  return triageJson('needs_reply', 'normal', 0.9);
}

function anthropicAnswer(body: AnthropicFakeRequestBody): string {
  const system = typeof body.system === 'string' ? body.system : (body.system ?? []).map((block) => block.text).join('\n');
  const prompt = body.messages.map((message) => (typeof message.content === 'string' ? message.content : message.content.map((block) => block.text ?? '').join(''))).join('\n');
  if (system.includes('You sort the email')) return prompt.includes('INV-55310') ? '{"category": "task"' : triageJson('fyi', 'low', 0.9);
  const subject = /^Subject: (.*)$/m.exec(prompt)?.[1] ?? '';
  return JSON.stringify({ body: `Hello,\n\nThank you for your email about "${subject}". We will come back to you shortly.\n\nNorthwind Joinery`, sources: [], confidence: 0.8, rationale: 'A holding reply.' });
}

describe('npm run eval', () => {
  let ollama: OllamaFake;
  let anthropic: AnthropicFake;
  let dir: string;

  beforeAll(async () => {
    ollama = await startOllamaFake({ respond: ollamaAnswer });
    anthropic = await startAnthropicFake({ apiKey: 'sk-ant-eval-test', respond: anthropicAnswer });
    dir = mkdtempSync(join(tmpdir(), 'adjutant-eval-'));
  });

  afterAll(async () => {
    await Promise.all([ollama?.close(), anthropic?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports accuracy, rule share, drafting, local share, cost, escalations and failures', async () => {
    const out = join(dir, 'results', 'latest.json');
    const { code, stdout, stderr } = await runEval(
      ['--limit', '5', '--out', out],
      {
        OLLAMA_HOST: ollama.url,
        OLLAMA_MODEL: 'llama3.2',
        ANTHROPIC_API_KEY: 'sk-ant-eval-test',
        ANTHROPIC_BASE_URL: anthropic.url,
        ANTHROPIC_MODEL: 'claude-sonnet-4-5',
      },
      dir,
    );
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('[1/5] 01-supplier-invoice-hartwell.eml…');
    expect(stderr).toContain('[5/5] 05-calendar-accepted-notification.eml…');

    expect(stdout).toContain('Adjutant eval: 5 emails');
    expect(stdout).toMatch(/category accuracy\s+4\s+4\s+100\.0%/);
    expect(stdout).toContain('rule-decided share: 2/4 (50.0%)');
    expect(stdout).toContain('mustMention hit rate: 2/2 terms (100.0%)');
    expect(stdout).toContain('local share: 50.0% of 4 answered calls');
    expect(stdout).toMatch(/total cost: \$0\.\d{4}\s+per handled email: \$0\.\d{4}/);
    expect(stdout).toContain('escalations: 2');
    expect(stdout).toMatch(/FAILURES: 1\n\s+01-supplier-invoice-hartwell\.eml\s+triage: MODEL_OUTPUT_INVALID/);

    const results = JSON.parse(readFileSync(out, 'utf8')) as {
      emails: { file: string; triage: { category: string; by: string } | null; draft: { mentioned: string[] } | null }[];
      summary: { costUsd: number; calls: { localShare: number }; escalations: { file: string; reason: string }[] };
    };
    expect(results.emails.map((email) => email.file.slice(0, 2))).toEqual(['01', '02', '03', '04', '05']);
    expect(results.emails[1]?.triage).toMatchObject({ category: 'fyi', by: 'model:anthropic/claude-sonnet-4-5' });
    expect(results.emails[3]?.draft?.mentioned).toEqual(['NJ-2402', 'return']);
    expect(results.summary.costUsd).toBeGreaterThan(0);
    expect(results.summary.calls.localShare).toBe(0.5);
    expect(results.summary.escalations.map((escalation) => `${escalation.file.slice(0, 2)}:${escalation.reason}`)).toEqual(['01:failed', '02:unsure']);
  }, 20_000);

  it('with no model configured, says so and exits 0', async () => {
    const { code, stdout } = await runEval(['--limit', '5'], {}, dir);
    expect(stdout.trim()).toBe('eval skipped: no model configured (set OLLAMA_HOST and/or ANTHROPIC_API_KEY)');
    expect(code).toBe(0);
  }, 20_000);
});
