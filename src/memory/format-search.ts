import type { SearchResponse } from './types.ts';

/** Search results as text: for the CLI now, and any plain-text surface later. */
export function formatSearch(response: SearchResponse): string {
  const lines: string[] = [];
  if (response.notice) lines.push(`(${response.notice})`, '');
  if (response.hits.length === 0) lines.push('Nothing found.');
  response.hits.forEach((hit, index) => {
    const when = hit.occurredAt ? hit.occurredAt.toISOString().slice(0, 10) : 'undated';
    const who = hit.author ? ` · ${hit.author}` : '';
    const history = hit.supersededBy ? ' · superseded' : '';
    lines.push(`${index + 1}. [${hit.kind}] ${hit.title} (${when}${who}${history})`);
    lines.push(`   ${hit.snippet.replace(/\s+/g, ' ').trim()}`);
    lines.push(`   source: ${hit.url ?? `${hit.sourceType} ${hit.sourceRef}`}`);
  });
  return lines.join('\n');
}
