import type pg from 'pg';
import { readModel } from '../../src/memory/embedding-index.ts';
import { hybridSearch } from '../../src/memory/search.ts';
import type { SearchQuery } from '../../src/memory/types.ts';
import { round } from '../support/latency.ts';

/**
 * What a slow search spends its time on: the statement search.ts generates (captured by handing
 * hybridSearch a pool that records instead of running), run under EXPLAIN (ANALYZE, BUFFERS) on
 * the real pool, summarised as the nodes with the most time of their own.
 */
export interface CapturedSql {
  sql: string;
  values: unknown[];
}

export async function captureSearchSql(pool: Pick<pg.Pool, 'query'>, model: string, query: SearchQuery, vector: number[], halves: 'both' | 'text' | 'meaning' = 'both'): Promise<CapturedSql> {
  const indexed = await readModel(pool, model);
  if (!indexed) throw new Error(`${model} is not registered`);
  let captured: CapturedSql | null = null;
  const recorder = {
    query: async (statement: string | pg.QueryConfig, values?: unknown[]) => {
      captured = typeof statement === 'string' ? { sql: statement, values: values ?? [] } : { sql: statement.text, values: statement.values ?? [] };
      return { rows: [] };
    },
  } as unknown as Pick<pg.Pool, 'query'>;
  await hybridSearch(recorder, { query, text: halves !== 'meaning', meaning: halves === 'text' ? null : { model: indexed, vector } });
  if (!captured) throw new Error('hybridSearch ran no statement');
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

export async function explain(pool: Pick<pg.Pool, 'query'>, captured: CapturedSql, indexName: string, topNodes = 6): Promise<ExplainSummary & { plan: unknown }> {
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
    const label = [plan['Node Type'], plan['Index Name'] ?? plan['Relation Name'] ?? plan['CTE Name'], where ? `in ${where}` : ''].filter(Boolean).join(' ');
    if (plan['Node Type'] !== 'CTE Scan') nodes.push({ node: label, selfMs: round(Math.max(0, total - children)), totalMs: round(total), loops, rows: plan['Actual Rows'] ?? 0, sharedHit: plan['Shared Hit Blocks'] ?? 0, sharedRead: plan['Shared Read Blocks'] ?? 0 });
    for (const child of plan.Plans ?? []) walk(child, child['Subplan Name'] ?? where);
  };
  walk(root.Plan, '');
  return {
    planningMs: round(root['Planning Time']),
    executionMs: round(root['Execution Time']),
    jitMs: root.JIT?.Timing?.Total !== undefined ? round(root.JIT.Timing.Total) : null,
    usesIndex,
    cteMs,
    top: nodes.sort((a, b) => b.selfMs - a.selfMs).slice(0, topNodes),
    plan: root,
  };
}
