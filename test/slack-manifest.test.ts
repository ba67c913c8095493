import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The Slack app manifest a team pastes must grant what the code uses: a Web API method called
 * without its scope fails with `missing_scope` in production only, and an event listened to but
 * not subscribed never arrives. This reads both and compares.
 */
const root = new URL('..', import.meta.url).pathname;
const manifest = readFileSync(join(root, 'slack-app-manifest.yml'), 'utf8');

/** Slack's scopes for each Web API method the code calls (one of the sets, all of its scopes); [] needs none beyond the bot token. */
const SCOPES_FOR_METHOD: Record<string, string[][]> = {
  'auth.test': [],
  'chat.postMessage': [['chat:write']],
  'chat.update': [['chat:write']],
  'chat.postEphemeral': [['chat:write']],
  'chat.getPermalink': [],
  // The bot reads threads wherever it is asked (public and private channels, direct and group
  // direct messages), and the approvals channel may be public or private: each kind's scope.
  'conversations.history': [['channels:history', 'groups:history', 'im:history', 'mpim:history']],
  'conversations.replies': [['channels:history', 'groups:history', 'im:history', 'mpim:history']],
  'conversations.info': [['channels:read', 'groups:read']],
  'conversations.members': [['channels:read', 'groups:read']],
  'users.info': [['users:read']],
  'users.lookupByEmail': [['users:read.email']],
  'views.open': [],
  'views.publish': [],
};
/** The subscriptions each event listener needs: `message` is delivered per kind of conversation. */
const SUBSCRIPTIONS_FOR_EVENT: Record<string, string[]> = {
  message: ['message.channels', 'message.groups', 'message.im'],
  app_mention: ['app_mention'],
  app_home_opened: ['app_home_opened'],
};
const SLACK_NAMESPACES = new Set(['auth', 'chat', 'conversations', 'users', 'views', 'reactions', 'files', 'team', 'apps', 'bots']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mjs)$/.test(entry.name) ? [path] : [];
  });
}
const sources = sourceFiles(join(root, 'src')).map((path) => readFileSync(path, 'utf8'));
const found = (pattern: RegExp) => new Set(sources.flatMap((text) => [...text.matchAll(pattern)].map((match) => match[1] as string)));

/** The `- item` lines of a YAML list under `key:` (the manifest's lists are flat). */
function listUnder(key: string): string[] {
  const lines = manifest.split('\n');
  const start = lines.findIndex((line) => line.trim() === `${key}:`);
  if (start < 0) return [];
  const indent = (lines[start]?.search(/\S/) ?? 0) + 1;
  const items: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    if (line.search(/\S/) < indent) break;
    const item = /^\s*-\s+(?:command:\s*)?(\S+)/.exec(line);
    if (item) items.push(item[1] as string);
  }
  return items;
}

describe('the Slack app manifest', () => {
  it('grants a scope for every Web API method the code calls', () => {
    const methods = [...found(/\bclient\.([a-z]+\.[a-zA-Z]+)\(/g)].filter((method) => SLACK_NAMESPACES.has(method.split('.')[0] ?? ''));
    expect(methods.length).toBeGreaterThan(5);
    const scopes = new Set(listUnder('bot'));
    for (const method of methods) {
      const needs = SCOPES_FOR_METHOD[method];
      expect(needs, `the code calls ${method}: add it to SCOPES_FOR_METHOD with its scopes, and the scopes to the manifest`).toBeDefined();
      if (!needs || needs.length === 0) continue;
      expect(needs.some((set) => set.every((scope) => scopes.has(scope))), `${method} needs one of ${JSON.stringify(needs)}; the manifest grants ${[...scopes].join(', ')}`).toBe(true);
    }
  });

  it('subscribes to every event the code listens to, and registers its command', () => {
    const events = found(/\bapp\.event\('([a-z_]+)'/g);
    expect(events.size).toBeGreaterThan(0);
    const subscribed = new Set(listUnder('bot_events'));
    for (const event of events) {
      const needs = SUBSCRIPTIONS_FOR_EVENT[event] ?? [event];
      for (const subscription of needs) expect(subscribed.has(subscription), `the code listens to ${event}: subscribe to ${subscription}`).toBe(true);
    }
    const commands = found(/\bapp\.command\('([^']+)'/g);
    expect([...commands]).toEqual(['/adjutant']);
    for (const command of commands) expect(listUnder('slash_commands')).toContain(command);
    // Buttons and forms need interactivity; the App Home listener needs the Home tab; answering DMs needs the Messages tab.
    expect(manifest).toMatch(/interactivity:\s*\n\s*is_enabled: true/);
    if (events.has('app_home_opened')) expect(manifest).toMatch(/home_tab_enabled: true/);
    expect(manifest).toMatch(/messages_tab_enabled: true/);
    expect(manifest).toMatch(/messages_tab_read_only_enabled: false/);
  });
});
