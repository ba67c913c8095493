-- Triage of mail sent straight to the mailbox: what it is, how urgent, a one-line summary, the
-- people, organisations and dates in it, and who decided (a rule or a model).
ALTER TABLE "emails"
  ADD COLUMN "triage_category" TEXT,
  ADD COLUMN "triage_urgency" TEXT,
  ADD COLUMN "triage_summary" TEXT,
  ADD COLUMN "triage_confidence" DOUBLE PRECISION,
  ADD COLUMN "triaged_by" TEXT,
  ADD COLUMN "triage_details" JSONB,
  ADD COLUMN "triaged_at" TIMESTAMPTZ(3);
-- The briefing counts mail by category since its last run.
CREATE INDEX "emails_triaged_at_idx" ON "emails"("triaged_at");

-- A draft grounded in memory says what it used, how sure it is and why it says what it says.
ALTER TABLE "drafts"
  ADD COLUMN "confidence" DOUBLE PRECISION,
  ADD COLUMN "rationale" TEXT,
  ADD COLUMN "sources" JSONB NOT NULL DEFAULT '[]';
