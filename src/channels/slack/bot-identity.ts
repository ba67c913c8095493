import type { webApi } from '@slack/bolt';

/** Who the bot is in this workspace, from auth.test. */
export interface BotIdentity {
  userId: string | null;
  teamId: string | null;
  /** The workspace's URL, ending in '/'. */
  url: string;
}

const UNKNOWN: BotIdentity = { userId: null, teamId: null, url: 'https://slack.com/' };
const asked = new WeakMap<webApi.WebClient, Promise<BotIdentity>>();

/**
 * The bot's identity, asked once per client and shared by every feature that needs it (its own
 * messages, the workspace's links, its team). A failed call is not kept: the next caller asks
 * again, and this one gets UNKNOWN.
 */
export function botIdentity(client: webApi.WebClient): Promise<BotIdentity> {
  let identity = asked.get(client);
  if (!identity) {
    identity = client.auth.test().then(
      (result) => ({ userId: result.user_id ?? null, teamId: result.team_id ?? null, url: result.url ? (result.url.endsWith('/') ? result.url : `${result.url}/`) : UNKNOWN.url }),
      () => {
        asked.delete(client);
        return UNKNOWN;
      },
    );
    asked.set(client, identity);
  }
  return identity;
}
