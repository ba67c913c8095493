/**
 * A select-list expression that lets the commit of the statement holding it return before the
 * WAL reaches the disk when `relaxed` (a boolean SQL expression) is true; the setting lasts until
 * that commit. Otherwise the session's own setting stands.
 *
 * Safe for what a watched mailbox hands over, and only for it: the mailbox keeps the message, and
 * the server writes its WAL in order, so a server crash can lose such a commit only together with
 * every later one, the saved mailbox position included; the message is then fetched and stored
 * again (once, by Message-ID). Every effect of the mail (a job's claim, a card) starts with an
 * ordinary commit, which flushes the WAL before it. The row is visible to other sessions at once,
 * and a crash of this process loses nothing. A state there is no earlier state to fall back to
 * from (a mailbox's first position, the one after a UIDVALIDITY reset) and imported files keep
 * ordinary commits.
 */
export function relaxedCommit(relaxed: string): string {
  return `set_config('synchronous_commit', CASE WHEN ${relaxed} THEN 'off' ELSE current_setting('synchronous_commit') END, true)`;
}
