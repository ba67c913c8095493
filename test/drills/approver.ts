import { performance } from 'node:perf_hooks';
import { buttonClick, sendSignedInteraction } from '../fakes/slack-fake.ts';
import { APPROVALS_CHANNEL, APPROVER, SIGNING_SECRET, type Journal } from './fakes.ts';
import type { DrillPlan } from './plan.ts';

/**
 * The person in the approvals channel: when a planned draft shows up in Slack they read it for
 * a moment and click Approve & send, a signed block_actions request to the service's
 * /slack/events. When nothing happens (the service is down, the request fails) they click
 * again a second later, as people do, for up to two minutes.
 */
export interface ApprovalRecord {
  index: number;
  draftId: string;
  draftTs: string;
  /** ms since the drill started. */
  draftSeenAt: number;
  firstClickAt: number | null;
  /** When the click that got a 200 was sent. */
  acceptedAt: number | null;
  attempts: number;
  /** Status code, or the network error, of each attempt, with when it was sent (ms since the drill started). */
  outcomes: { at: number; result: string; double: boolean }[];
  doubleClicked: boolean;
  done: boolean;
}

const RECLICK_AFTER_MS = 1000;
const GIVE_UP_AFTER_MS = 120_000;

export interface Approver {
  records: Map<number, ApprovalRecord>;
  /** Planned approvals whose draft message has not been seen (yet). */
  waitingForDraft(): number[];
  /** Clicks not settled yet (scheduled, or retrying). */
  busy(): boolean;
  stop(): void;
}

export function startApprover(options: { plan: DrillPlan; journal: Journal; url: () => string; startedAt: number }): Approver {
  const { plan, journal, startedAt } = options;
  const now = () => performance.now() - startedAt;
  const records = new Map<number, ApprovalRecord>();
  const timers = new Set<NodeJS.Timeout>();
  let seen = 0;
  let inFlight = 0;
  let stopped = false;

  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!stopped) run();
    }, ms);
    timers.add(timer);
  };

  const attempt = async (record: ApprovalRecord, counts: boolean): Promise<boolean> => {
    const started = now();
    record.firstClickAt ??= started;
    record.attempts++;
    inFlight++;
    try {
      const click = buttonClick({ userId: APPROVER, channel: APPROVALS_CHANNEL, messageTs: record.draftTs, actionId: 'draft_approve', value: record.draftId });
      const response = await Promise.race([
        sendSignedInteraction(options.url(), SIGNING_SECRET, click),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref()),
      ]);
      record.outcomes.push({ at: started, result: String(response.status), double: !counts });
      if (response.status === 200 && counts) {
        record.acceptedAt ??= started;
        return true;
      }
      return response.status === 200;
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      record.outcomes.push({ at: started, result: cause ?? (error instanceof Error ? error.message : String(error)), double: !counts });
      return false;
    } finally {
      inFlight--;
    }
  };

  const clickUntilAnswered = (record: ApprovalRecord) => {
    void attempt(record, true).then((answered) => {
      if (answered) {
        record.done = true;
      } else if (record.firstClickAt !== null && now() - record.firstClickAt > GIVE_UP_AFTER_MS) {
        record.done = true;
      } else {
        later(RECLICK_AFTER_MS, () => clickUntilAnswered(record));
      }
    });
  };

  // Watch the journal for draft messages; only the first message for a message index is clicked
  // (a duplicate posted later is what a person would see below it, and ignore).
  const poll = setInterval(() => {
    while (seen < journal.draftPosts.length) {
      const post = journal.draftPosts[seen++];
      if (!post || post.index === null || !post.draftId || records.has(post.index)) continue;
      const planned = plan.approvals.get(post.index);
      if (!planned) continue;
      const record: ApprovalRecord = { index: post.index, draftId: post.draftId, draftTs: post.ts, draftSeenAt: post.t, firstClickAt: null, acceptedAt: null, attempts: 0, outcomes: [], doubleClicked: false, done: false };
      records.set(post.index, record);
      later(planned.thinkMs, () => {
        clickUntilAnswered(record);
        if (planned.doubleClickAfterMs !== null) {
          record.doubleClicked = true;
          later(planned.doubleClickAfterMs, () => void attempt(record, false));
        }
      });
    }
  }, 50);

  return {
    records,
    waitingForDraft: () => [...plan.approvals.keys()].filter((index) => !records.has(index)),
    busy: () => inFlight > 0 || timers.size > 0 || [...records.values()].some((record) => !record.done),
    stop() {
      stopped = true;
      clearInterval(poll);
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
