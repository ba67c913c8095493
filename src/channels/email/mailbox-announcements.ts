/**
 * What the mailbox watcher tells the team (the lead wires `announce` to the approvals channel).
 * Each text says what happened, to which message, and what a person can do about it. Subjects
 * and errors come from strangers' mail, so they are shortened and escaped for Slack, which
 * would otherwise read `<!channel>` in a subject as a mention.
 */

function quote(value: string | null | undefined, max = 200): string {
  if (!value) return '(none)';
  const flat = value.replace(/\s+/g, ' ').trim();
  const short = flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
  return short.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function mebibytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function minutes(ms: number): string {
  const total = Math.round(ms / 60_000);
  return total < 1 ? 'less than a minute' : total === 1 ? '1 minute' : `${total} minutes`;
}

export interface MessageFacts {
  mailbox: string;
  uid: number;
  subject: string | null;
  from: string | null;
  failureId: string;
}

export function givenUpText(facts: MessageFacts & { attempts: number; error: string }): string {
  return [
    `Adjutant could not process a message in ${quote(facts.mailbox)} and has moved on to later mail.`,
    `Message: UID ${facts.uid}, subject "${quote(facts.subject)}", from ${quote(facts.from)}.`,
    `Error after ${facts.attempts} attempt${facts.attempts === 1 ? '' : 's'}: ${quote(facts.error, 500)}`,
    `The message is still in the mailbox, and its raw source is kept in the mailbox_failures table (id ${facts.failureId}).`,
    'To try again once the cause is fixed, copy the message into the watched folder again (it gets a new UID and is picked up), or handle it by hand.',
  ].join('\n');
}

export function oversizedText(facts: MessageFacts & { size: number; limit: number; keptBytes: number }): string {
  return [
    `A message in ${quote(facts.mailbox)} is ${mebibytes(facts.size)}, over the ${mebibytes(facts.limit)} Adjutant reads, so it was not processed.`,
    `Message: UID ${facts.uid}, subject "${quote(facts.subject)}", from ${quote(facts.from)}.`,
    `Its first ${mebibytes(facts.keptBytes)} (the headers and the start of the body) are kept in the mailbox_failures table (id ${facts.failureId}).`,
    'The message is still in the mailbox: please handle it there.',
  ].join('\n');
}

export function uidResetText(facts: {
  mailbox: string;
  was: bigint;
  now: bigint;
  checkedAt: Date | null;
  rescanned: number;
  dropped: number;
  tooOld: boolean;
}): string {
  const lines = [
    `The server reset the message numbering of ${quote(facts.mailbox)} (UIDVALIDITY ${facts.was} → ${facts.now}). Adjutant carries on from the current end of the mailbox and does not replay older mail.`,
  ];
  const last = facts.checkedAt ? facts.checkedAt.toISOString() : 'an unknown time';
  if (facts.tooOld) {
    lines.push(`It last saw the mailbox at ${last}, too long ago to look for mail it missed: check by hand for mail that arrived since then.`);
  } else {
    lines.push(`It looked again at ${facts.rescanned} message${facts.rescanned === 1 ? '' : 's'} that arrived since it last saw the mailbox (${last}); mail already stored is not stored twice.`);
    if (facts.dropped > 0) lines.push(`${facts.dropped} more arrived in that time and were not looked at: check them by hand.`);
  }
  return lines.join('\n');
}

export function stalledText(facts: { mailbox: string; lastContactAt: Date; thresholdMs: number; lastError: string | null }): string {
  return [
    `Adjutant has had no contact with the mail server for ${quote(facts.mailbox)} since ${facts.lastContactAt.toISOString()} (over ${minutes(facts.thresholdMs)}), so new mail is not being read.`,
    `Last error: ${quote(facts.lastError ?? 'none reported (the server does not answer)', 500)}`,
    'It keeps trying and will say so here when it is back. Check the IMAP server and the IMAP_* settings (`npm run doctor`).',
  ].join('\n');
}

export function recoveredText(facts: { mailbox: string; afterMs: number }): string {
  return `Adjutant is in contact with the mail server for ${quote(facts.mailbox)} again, after ${minutes(facts.afterMs)}; mail that arrived meanwhile is being read now.`;
}

export function handedOffWhileStalledText(facts: { mailbox: string; reason: string }): string {
  return `This Adjutant replica stopped watching ${quote(facts.mailbox)} while it had no contact with the mail server (${quote(facts.reason)}); another replica may take over and reports for itself.`;
}
