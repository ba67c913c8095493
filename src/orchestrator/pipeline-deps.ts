import type { ModelRouter } from '../brains/router.ts';
import type { SlackPoster } from '../channels/slack/slack-poster.ts';
import type { SentFolder } from '../channels/email/sent-folder.ts';
import type { MailSender } from '../channels/email/smtp-sender.ts';
import type { Logger } from '../logger.ts';
import type { AuditLog } from '../memory/audit.ts';
import type { DraftStore } from './draft-store.ts';
import type { EmailStore } from '../memory/email-store.ts';
import type { Memory } from '../memory/memory.ts';
import type { JobQueue } from './job-queue.ts';
import type { ToolGate } from './tool-calls.ts';

/** Everything the pipeline jobs use, built in main.ts. Parts that are not configured are null. */
export interface PipelineDeps {
  queue: JobQueue;
  emails: EmailStore;
  drafts: DraftStore;
  memory: Memory;
  audit: AuditLog;
  router: ModelRouter | null;
  slack: { poster: SlackPoster; approvalsChannel: string } | null;
  /** `sentFolder`: where a copy of each sent reply goes (the watched account's Sent folder), when IMAP is configured. */
  mail: { sender: MailSender; sentFolder: SentFolder | null } | null;
  /** The team's other systems (external MCP servers), when MCP_SERVERS_FILE names any. */
  tools?: ToolGate | null;
  teamName: string;
  now(): Date;
  newMessageId(): string;
  logger: Logger;
}
