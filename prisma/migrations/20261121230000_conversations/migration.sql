-- Every email belongs to a conversation: the one of the mail it refers to (References,
-- In-Reply-To), else of a recent email with the same subject and counterparty, else its own.
ALTER TABLE "emails" ADD COLUMN "conversation_id" UUID;
-- The subject without reply and forward prefixes, lower-cased: the fallback's match key.
ALTER TABLE "emails" ADD COLUMN "thread_subject" TEXT NOT NULL DEFAULT '';

-- Mail stored before this change: each its own conversation.
UPDATE "emails" SET "conversation_id" = "id",
  "thread_subject" = lower(btrim(regexp_replace(COALESCE("original_subject", "subject"), '^(\s*((re|fwd?|aw|wg|sv|vs|tr|rv|odp|pd|enc)\s*(\[\d+\])?\s*:\s*))+', '', 'i')));

CREATE INDEX "emails_conversation_id_idx" ON "emails"("conversation_id");
CREATE INDEX "emails_thread_subject_received_at_idx" ON "emails"("thread_subject", "received_at");
CREATE INDEX "emails_original_message_id_idx" ON "emails"("original_message_id");
CREATE INDEX "drafts_sent_message_id_idx" ON "drafts"("sent_message_id");
