-- Morning briefings: one row per scheduled time (unique, so two workers or a restart in the
-- same minute cannot post it twice), and the on-demand ones; the last one posted is where the
-- next briefing's "mail since" starts.
CREATE TABLE "briefings" (
  "id" UUID NOT NULL,
  "kind" TEXT NOT NULL,
  "scheduled_for" TIMESTAMPTZ(3),
  "channel" TEXT,
  "ts" TEXT,
  "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  "posted_at" TIMESTAMPTZ(3),
  CONSTRAINT "briefings_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "briefings_kind_check" CHECK ("kind" IN ('scheduled', 'on-demand'))
);
CREATE UNIQUE INDEX "briefings_scheduled_for_key" ON "briefings"("scheduled_for");
CREATE INDEX "briefings_posted_at_idx" ON "briefings"("posted_at");
