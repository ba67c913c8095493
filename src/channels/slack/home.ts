/**
 * The App Home tab: what waits on the team (drafts, sends that need a person), the mailbox, jobs,
 * and this week's model spend, published fresh whenever someone opens it.
 */
import type { App } from '@slack/bolt';
import type { Logger } from '../../logger.ts';
import { homeView, slackLinks, type Overview } from './overview-view.ts';
import type { SlackPoster } from './slack-poster.ts';

export interface HomePort {
  overview(): Promise<Overview>;
}

export function registerHome(app: App, deps: { home: HomePort; poster: SlackPoster; logger: Logger }): void {
  const links = slackLinks(app);
  app.event('app_home_opened', async ({ event }) => {
    if (event.tab !== 'home') return;
    const view = homeView(await deps.home.overview(), new Date(), await links());
    await deps.poster.publishHome(event.user, view).catch((error: unknown) => deps.logger.warn({ err: error }, 'could not publish the App Home'));
  });
}
