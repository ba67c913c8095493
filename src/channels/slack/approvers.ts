import type { SlackPoster } from './slack-poster.ts';

/**
 * Who may approve: SLACK_APPROVERS when set, else any full member of this workspace in the
 * approvals channel. Guests and people from other workspaces (Slack Connect) can be channel
 * members, but membership alone never makes them approvers. Membership and each person's
 * account are cached briefly: a click should not cost a paginated API walk.
 */
export function createApproverCheck(deps: {
  approvers: readonly string[];
  channel: string | undefined;
  /** Through the poster, so a rate-limited lookup waits (briefly) instead of failing the click. */
  poster: Pick<SlackPoster, 'userAccount' | 'channelMembers'>;
  /** The bot's own workspace (null when unknown: then only Slack's stranger flag marks foreigners). */
  teamId: () => Promise<string | null>;
  cacheMs?: number;
  now?: () => number;
}): (userId: string) => Promise<boolean> {
  const now = deps.now ?? Date.now;
  const cacheMs = deps.cacheMs ?? 60_000;
  let members: { ids: Set<string>; at: number } | null = null;
  const accounts = new Map<string, { full: boolean; at: number }>();

  /** A full member of our workspace: not a guest, not from another organisation. */
  async function isFullMember(userId: string): Promise<boolean> {
    const cached = accounts.get(userId);
    if (cached && now() - cached.at <= cacheMs) return cached.full;
    const [account, team] = await Promise.all([deps.poster.userAccount(userId), deps.teamId()]);
    const foreign = account !== null && (account.stranger || (team !== null && account.teamId !== null && account.teamId !== team));
    const full = account !== null && !account.guest && !account.bot && !foreign;
    accounts.set(userId, { full, at: now() });
    return full;
  }

  return async (userId) => {
    if (deps.approvers.length > 0) return deps.approvers.includes(userId);
    if (!deps.channel) return false;
    if (!members || now() - members.at > cacheMs) {
      members = { ids: new Set(await deps.poster.channelMembers(deps.channel)), at: now() };
    }
    return members.ids.has(userId) && (await isFullMember(userId));
  };
}
