/**
 * The JSON value in a model's answer. Models asked for JSON still wrap it in a code fence or a
 * sentence now and then; the object or array inside is taken, and anything else is a problem
 * worded for the model to fix.
 */
export function readJson(text: string): { ok: true; value: unknown } | { ok: false; problem: string } {
  const trimmed = text.trim();
  const fenced = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/i.exec(trimmed)?.[1];
  const candidates = [fenced ?? trimmed];
  if (fenced === undefined) {
    // A sentence around the JSON: from the first opening bracket to the last closing one.
    const start = trimmed.search(/[{[]/);
    const end = Math.max(trimmed.lastIndexOf('}'), trimmed.lastIndexOf(']'));
    if (start > 0 || (end >= 0 && end < trimmed.length - 1)) candidates.push(trimmed.slice(Math.max(0, start), end + 1));
  }
  let problem = 'it is empty, not JSON';
  for (const candidate of candidates) {
    if (candidate.trim() === '') continue;
    try {
      return { ok: true, value: JSON.parse(candidate) };
    } catch (error) {
      problem = `it is not valid JSON (${error instanceof Error ? error.message : String(error)})`;
    }
  }
  return { ok: false, problem };
}
