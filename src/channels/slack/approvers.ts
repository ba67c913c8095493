import type { webApi } from '@slack/bolt';

/**
 * Who may approve: SLACK_APPROVERS when set, else any member of the approvals channel.
 * Channel membership is cached briefly: a click should not cost a paginated API walk.
 */
export function createApproverCheck(deps: {
  approvers: readonly string[];
  channel: string | undefined;
  client: webApi.WebClient;
  cacheMs?: number;
  now?: () => number;
}): (userId: string) => Promise<boolean> {
  const now = deps.now ?? Date.now;
  const cacheMs = deps.cacheMs ?? 60_000;
  let members: { ids: Set<string>; at: number } | null = null;
  return async (userId) => {
    if (deps.approvers.length > 0) return deps.approvers.includes(userId);
    if (!deps.channel) return false;
    if (!members || now() - members.at > cacheMs) {
      const ids = new Set<string>();
      let cursor: string | undefined;
      do {
        const page = await deps.client.conversations.members({ channel: deps.channel, limit: 1000, ...(cursor ? { cursor } : {}) });
        for (const id of page.members ?? []) ids.add(id);
        cursor = page.response_metadata?.next_cursor || undefined;
      } while (cursor);
      members = { ids, at: now() };
    }
    return members.ids.has(userId);
  };
}
