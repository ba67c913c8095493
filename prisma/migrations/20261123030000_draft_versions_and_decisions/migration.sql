-- Drafts shaped by the team: an edit or a redraft makes a new version (the old one is kept,
-- superseded), a person can write the reply, and a rejection can say why.
ALTER TABLE "drafts"
  ADD COLUMN "decision_note" TEXT,
  ADD COLUMN "written_by" TEXT,
  ADD COLUMN "instruction" TEXT;
