-- Follow-ups: a draft waiting long for approval is reminded once; a sent reply left unanswered
-- is raised once in its card's thread.
ALTER TABLE "drafts"
  ADD COLUMN "reminded_at" TIMESTAMPTZ(3),
  ADD COLUMN "follow_up_raised_at" TIMESTAMPTZ(3);
-- Dates promised in a conversation are raised once, on their day.
ALTER TABLE "emails" ADD COLUMN "dates_raised" TEXT[] NOT NULL DEFAULT '{}';
