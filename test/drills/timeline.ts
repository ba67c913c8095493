import type { ApprovalRecord } from './approver.ts';
import type { DatabaseSnapshot, Delivered } from './counting.ts';
import type { Journal } from './fakes.ts';
import type { KillRecord } from './report.ts';
import type { ServiceRun } from './service-process.ts';

/**
 * One message's story, merged from the drill's clock, the fakes' journal and the service's own
 * audit trail, with the kills and restarts around it: what a failing invariant needs to be
 * understood (which step the kill interrupted, what the restarted process did next).
 */
export interface TimelineInput {
  delivered: Delivered;
  emailId: string | null;
  draftId: string | null;
  database: DatabaseSnapshot;
  journal: Journal;
  approval: ApprovalRecord | undefined;
  kills: KillRecord[];
  runs: ServiceRun[];
  /** Date.now() when the drill's clock read 0. */
  startEpochMs: number;
}

export function messageTimeline(input: TimelineInput): string[] {
  const { delivered, journal, startEpochMs } = input;
  const index = delivered.index;
  const events: { t: number; text: string }[] = [{ t: delivered.deliveredAt, text: `delivered over LMTP (${delivered.format})` }];
  for (const entity of [input.emailId, input.draftId]) {
    if (!entity) continue;
    for (const entry of input.database.audit.get(entity) ?? []) {
      events.push({ t: entry.atEpochMs - startEpochMs, text: `audit ${entry.action} by ${entry.actor} ${entry.data === '{}' ? '' : entry.data}`.trimEnd() });
    }
  }
  const ownTs = new Set<string>();
  for (const card of journal.cards.filter((entry) => entry.index === index)) {
    ownTs.add(card.ts);
    events.push({ t: card.t, text: `Slack: card posted (ts ${card.ts})` });
  }
  for (const post of journal.draftPosts.filter((entry) => entry.index === index)) {
    ownTs.add(post.ts);
    events.push({ t: post.t, text: `Slack: draft message posted (ts ${post.ts}, thread ${post.threadTs ?? '-'})` });
  }
  for (const update of journal.updates.filter((entry) => ownTs.has(entry.ts))) {
    events.push({ t: update.t, text: `Slack: update of ${update.ts}: "${update.text}"${update.live ? ' (buttons live)' : ''}` });
  }
  for (const outcome of input.approval?.outcomes ?? []) {
    events.push({ t: outcome.at, text: `approver clicks Approve${outcome.double ? ' (double click)' : ''} → ${outcome.result}` });
  }
  for (const mail of journal.mails.filter((entry) => entry.index === index)) {
    events.push({ t: mail.t, text: `SMTP: reply received (Message-ID ${mail.messageId ?? '-'}, In-Reply-To ${mail.inReplyTo ?? '-'})` });
  }
  const first = Math.min(...events.map((event) => event.t));
  const last = Math.max(...events.map((event) => event.t));
  // Kills and restarts that happened while this message was in flight.
  for (const kill of input.kills) {
    if (kill.firedAt !== null && kill.firedAt >= first - 1000 && kill.firedAt <= last + 1000) {
      events.push({ t: kill.firedAt, text: `*** SIGKILL ${kill.number} of run ${kill.run ?? '?'} (${kill.mode}: ${kill.trigger})` });
    }
  }
  for (const run of input.runs) {
    if (run.readyAt !== null && run.number > 1 && run.readyAt >= first && run.readyAt <= last + 1000) events.push({ t: run.readyAt, text: `run ${run.number} ready (watching the mailbox)` });
  }
  return events.sort((a, b) => a.t - b.t).map((event) => `${(event.t / 1000).toFixed(3).padStart(9)} s  ${event.text}`);
}
