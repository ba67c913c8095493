import type { CapturedSql } from './explain.ts';

/**
 * Modified copies of the statement search.ts generates, to measure a proposed change before
 * making it in src/ (`bench/memory/investigate.ts --variants name`). Each takes the captured
 * statement and returns a rewritten one; rewrite() fails loudly when the part it rewrites is no
 * longer there (search.ts changed). None are kept: the last ones were folded into search.ts.
 */
export type Variant = (statement: CapturedSql) => CapturedSql;

export function rewrite(statement: CapturedSql, pattern: RegExp, replacement: (...groups: string[]) => string, what: string): CapturedSql {
  if (!pattern.test(statement.sql)) throw new Error(`the statement has no ${what} to rewrite: search.ts changed`);
  return { sql: statement.sql.replace(pattern, (...match: string[]) => replacement(...match)), values: statement.values };
}

export const VARIANTS: Record<string, Variant> = {};
