import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PROMPTS_DIR = fileURLToPath(new URL('../../prompts/', import.meta.url));
const cache = new Map<string, string>();

/** A prompt template from prompts/<name>.md, kept as a file so it can be read and reviewed as prose. */
export function loadPrompt(name: string): string {
  let template = cache.get(name);
  if (template === undefined) {
    template = readFileSync(`${PROMPTS_DIR}${name}.md`, 'utf8');
    cache.set(name, template);
  }
  return template;
}

/**
 * Fill `{{name}}` placeholders. Values are inserted once, never re-scanned, so text inside an
 * email cannot expand into another placeholder.
 */
export function renderPrompt(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`prompt placeholder {{${key}}} has no value`);
    return value;
  });
}

/**
 * Untrusted text (an email) goes into a prompt inside tags; it must not be able to close them
 * and speak outside. The named tags are defused wherever they appear in it.
 */
export function neutraliseTags(text: string, tags: string[]): string {
  return text.replace(new RegExp(`<\\/?\\s*(${tags.join('|')})\\s*>`, 'gi'), '[tag removed]');
}

/** The system prompt, with what it must know about tools when some are offered. */
export function withToolsNote(system: string, toolsOffered: boolean): string {
  return toolsOffered ? `${system.trimEnd()}\n\n${loadPrompt('tools')}` : system;
}
