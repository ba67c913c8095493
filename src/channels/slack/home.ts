/**
 * The App Home tab: what waits on the team (drafts, sends that need a person), the mailbox, jobs,
 * and this week's model spend, published fresh whenever someone opens it.
 */
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { Logger } from '../../logger.ts';
import { ACTION_RETRY_JOB, homeView, slackLinks, type Overview } from './overview-view.ts';
import type { SlackPoster } from './slack-poster.ts';

export interface HomePort {
  overview(): Promise<Overview>;
  /** Run a job that gave up again, for an approver; the refusal is audited by the port. */
  retryJob(input: { jobId: string; userId: string }): Promise<'retried' | 'not-allowed' | 'not-dead'>;
}

export function registerHome(app: App, deps: { home: HomePort; poster: SlackPoster; logger: Logger }): void {
  const links = slackLinks(app);
  const publish = async (user: string) => {
    const view = homeView(await deps.home.overview(), new Date(), await links());
    await deps.poster.publishHome(user, view).catch((error: unknown) => deps.logger.warn({ err: error }, 'could not publish the App Home'));
  };
  // Slack's HTTP answer to an event goes out when its listener returns, and a rate-limited
  // views.publish waits out Slack's Retry-After: so the listener starts the publish and returns.
  app.event('app_home_opened', async ({ event }) => {
    if (event.tab !== 'home') return;
    void publish(event.user).catch((error: unknown) => deps.logger.warn({ err: error }, 'could not publish the App Home'));
  });
  app.action<BlockAction<ButtonAction>>(new RegExp(`^${ACTION_RETRY_JOB}:`), async ({ ack, body, action }) => {
    await ack();
    const jobId = action.value;
    if (!jobId) return;
    void (async () => {
      const outcome = await deps.home.retryJob({ jobId, userId: body.user.id });
      deps.logger.info({ jobId, outcome, user: body.user.id }, 'retry of a job that gave up, from the App Home');
      await publish(body.user.id);
    })().catch((error: unknown) => deps.logger.warn({ err: error }, 'could not retry the job'));
  });
}
