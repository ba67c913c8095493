import type { webApi } from '@slack/bolt';
import { botIdentity } from './bot-identity.ts';

/**
 * Who may approve: SLACK_APPROVERS when set, else any full member of this workspace in the
 * approvals channel. Guests and people from other workspaces (Slack Connect) can be channel
 * members, but membership alone never makes them approvers. Membership and each person's
 * account are cached briefly: a click should not cost a paginated API walk.
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
  const accounts = new Map<string, { full: boolean; at: number }>();
  const teamOfBot = async () => (await botIdentity(deps.client)).teamId;

  /** A full member of our workspace: not a guest, not from another organisation. */
  async function isFullMember(userId: string): Promise<boolean> {
    const cached = accounts.get(userId);
    if (cached && now() - cached.at <= cacheMs) return cached.full;
    const [{ user }, team] = await Promise.all([deps.client.users.info({ user: userId }), teamOfBot()]);
    const foreign = user?.is_stranger === true || (team !== null && user?.team_id !== undefined && user.team_id !== team);
    const full = user !== undefined && !user.is_restricted && !user.is_ultra_restricted && !user.is_bot && !foreign;
    accounts.set(userId, { full, at: now() });
    return full;
  }

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
    return members.ids.has(userId) && (await isFullMember(userId));
  };
}
