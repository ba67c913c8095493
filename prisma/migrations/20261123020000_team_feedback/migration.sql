-- What teammates said about a draft: why they rejected it, what they changed before approving it,
-- what they asked a redraft to do. Later drafts to the same contact (counterparty) or of the same
-- kind (the email's triage category, or 'forward') read it back as guidance
-- (src/memory/feedback.ts).
CREATE TABLE "feedback" (
    "id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "draft_id" UUID NOT NULL,
    "email_id" UUID NOT NULL,
    "counterparty" TEXT,
    "category" TEXT,
    "text" TEXT NOT NULL,
    "given_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "feedback_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "feedback_kind_check" CHECK ("kind" IN ('rejected', 'edited', 'redraft')),
    CONSTRAINT "feedback_text_check" CHECK (char_length("text") BETWEEN 1 AND 2000)
);

ALTER TABLE "feedback" ADD CONSTRAINT "feedback_draft_id_fkey" FOREIGN KEY ("draft_id") REFERENCES "drafts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The two lookups: the newest feedback about a contact, and about a kind of email.
CREATE INDEX "feedback_counterparty_created_at_idx" ON "feedback"("counterparty", "created_at" DESC);
CREATE INDEX "feedback_category_created_at_idx" ON "feedback"("category", "created_at" DESC);

-- The same words about the same draft are kept once (a Slack retry, a double click). By a hash:
-- a btree entry cannot hold 2000 multi-byte characters. Also serves the foreign key's cascade.
CREATE UNIQUE INDEX "feedback_draft_id_kind_text_key" ON "feedback"("draft_id", "kind", md5("text"));
