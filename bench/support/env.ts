/**
 * A whole number from the environment (BENCH_… settings), or `fallback` when unset or empty.
 * `zeroAllowed`: 0 is accepted (it turns a part off). `separators`: "100_000" and "100,000" read
 * as 100000.
 */
export function wholeNumber(variable: string, fallback: number, options: { zeroAllowed?: boolean; separators?: boolean } = {}): number {
  const raw = process.env[variable];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(options.separators ? raw.replace(/[_,]/g, '') : raw);
  const lowest = options.zeroAllowed ? 0 : 1;
  if (!Number.isInteger(value) || value < lowest) throw new Error(`${variable} must be a whole number of at least ${lowest}, not ${raw}`);
  return value;
}
