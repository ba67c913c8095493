import type pg from 'pg';
import { readModel } from '../../src/memory/embedding-index.ts';
import { hybridSearch, type SearchPlan } from '../../src/memory/search.ts';
import type { SearchQuery } from '../../src/memory/types.ts';
import { round } from '../support/latency.ts';

/**
 * What a slow search spends its time on: the statements search.ts generates (captured as
 * hybridSearch runs them: its two halves, then the fusion that needs their rows), each run again
 * under EXPLAIN (ANALYZE, BUFFERS), summarised as the nodes with the most time of their own.
 */
export interface CapturedSql {
  sql: string;
  values: unknown[];
}

/** What hybridSearch is given for `query` at `model`, with either half left out on request. */
export async function searchPlan(pool: Pick<pg.Pool, 'query'>, model: string, query: SearchQuery, vector: number[], halves: 'both' | 'text' | 'meaning' = 'both'): Promise<SearchPlan> {
  const indexed = await readModel(pool, model);
  if (!indexed) throw new Error(`${model} is not registered`);
  return { query, text: halves !== 'meaning', meaning: halves === 'text' ? null : { model: indexed, vector } };
}

/** The statements one search runs, in the order it starts them (they run on `pool` as they are recorded). */
export async function captureSearchSql(pool: Pick<pg.Pool, 'query'>, model: string, query: SearchQuery, vector: number[], halves: 'both' | 'text' | 'meaning' = 'both'): Promise<CapturedSql[]> {
  const plan = await searchPlan(pool, model, query, vector, halves);
  const captured: CapturedSql[] = [];
  const recorder = {
    query: (statement: string | pg.QueryConfig, values?: unknown[]) => {
      captured.push(typeof statement === 'string' ? { sql: statement, values: values ?? [] } : { sql: statement.text, values: statement.values ?? [] });
      return pool.query(statement as string, values);
    },
  } as unknown as Pick<pg.Pool, 'query'>;
  await hybridSearch(recorder, plan);
  if (captured.length === 0) throw new Error('hybridSearch ran no statement');
  return captured;
}

export interface PlanNode {
  node: string;
  /** Time in this node itself (its total minus its children's), over all loops. */
  selfMs: number;
  totalMs: number;
  loops: number;
  rows: number;
  sharedHit: number;
  sharedRead: number;
}

export interface ExplainSummary {
  planningMs: number;
  executionMs: number;
  jitMs: number | null;
  usesIndex: boolean;
  /** Materialised CTEs (referenced more than once) and the time their own plans took. */
  cteMs: Record<string, number>;
  /** The slowest nodes by their own time (CTE Scans left out: theirs is their CTE's). */
  top: PlanNode[];
}

interface RawPlan {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'CTE Name'?: string;
  'Subplan Name'?: string;
  'Parent Relationship'?: string;
  'Actual Total Time'?: number;
  'Actual Loops'?: number;
  'Actual Rows'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: RawPlan[];
}

/** EXPLAIN ANALYZE of each statement, added up: a search's planning and execution, and its slowest nodes over all of them. */
export async function explain(pool: Pick<pg.Pool, 'query'>, statements: CapturedSql[], indexName: string, topNodes = 6): Promise<ExplainSummary & { plan: unknown }> {
  const summaries = [];
  for (const [index, statement] of statements.entries()) summaries.push(await explainOne(pool, statement, indexName, `statement ${index + 1}`));
  const jit = summaries.filter((summary) => summary.jitMs !== null);
  return {
    planningMs: round(summaries.reduce((sum, summary) => sum + summary.planningMs, 0)),
    executionMs: round(summaries.reduce((sum, summary) => sum + summary.executionMs, 0)),
    jitMs: jit.length > 0 ? round(jit.reduce((sum, summary) => sum + (summary.jitMs ?? 0), 0)) : null,
    usesIndex: summaries.some((summary) => summary.usesIndex),
    cteMs: Object.assign({}, ...summaries.map((summary) => summary.cteMs)),
    top: summaries.flatMap((summary) => summary.nodes).sort((a, b) => b.selfMs - a.selfMs).slice(0, topNodes),
    plan: summaries.map((summary) => summary.plan),
  };
}

async function explainOne(pool: Pick<pg.Pool, 'query'>, captured: CapturedSql, indexName: string, statementLabel: string) {
  const result = await pool.query<{ 'QUERY PLAN': [{ Plan: RawPlan; 'Planning Time': number; 'Execution Time': number; JIT?: { Timing?: { Total?: number } } }] }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${captured.sql}`, captured.values);
  const root = result.rows[0]?.['QUERY PLAN'][0];
  if (!root) throw new Error('EXPLAIN returned no plan');
  const nodes: PlanNode[] = [];
  const cteMs: Record<string, number> = {};
  let usesIndex = false;
  const walk = (plan: RawPlan, context: string) => {
    const loops = plan['Actual Loops'] ?? 1;
    const total = (plan['Actual Total Time'] ?? 0) * loops;
    const children = (plan.Plans ?? []).reduce((sum, child) => sum + (child['Actual Total Time'] ?? 0) * (child['Actual Loops'] ?? 1), 0);
    if (plan['Index Name'] === indexName) usesIndex = true;
    if (plan['Subplan Name']?.startsWith('CTE ')) cteMs[plan['Subplan Name'].slice(4)] = round(total);
    const where = plan['CTE Name'] ?? plan['Subplan Name'] ?? context;
    const name = [plan['Node Type'], plan['Index Name'] ?? plan['Relation Name'] ?? plan['CTE Name'], where ? `in ${where}` : ''].filter(Boolean).join(' ');
    if (plan['Node Type'] !== 'CTE Scan') nodes.push({ node: name, selfMs: round(Math.max(0, total - children)), totalMs: round(total), loops, rows: plan['Actual Rows'] ?? 0, sharedHit: plan['Shared Hit Blocks'] ?? 0, sharedRead: plan['Shared Read Blocks'] ?? 0 });
    for (const child of plan.Plans ?? []) walk(child, child['Subplan Name'] ?? where);
  };
  walk(root.Plan, statementLabel);
  return {
    planningMs: round(root['Planning Time']),
    executionMs: round(root['Execution Time']),
    jitMs: root.JIT?.Timing?.Total !== undefined ? round(root.JIT.Timing.Total) : null,
    usesIndex,
    cteMs,
    nodes,
    plan: root,
  };
}
