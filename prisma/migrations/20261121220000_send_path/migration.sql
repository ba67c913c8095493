-- Exactly-once sends and jobs that cannot be duplicated.

-- A draft's send attempts: the Message-ID (sent_message_id) is fixed when the first attempt
-- claims the draft, so every attempt carries the same one and a receiver can drop duplicates.
ALTER TABLE "drafts" ADD COLUMN "send_attempts" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "drafts" ADD COLUMN "sending_started_at" TIMESTAMPTZ(3);
-- Set just before the message data leaves: a crash before it means nothing was sent.
ALTER TABLE "drafts" ADD COLUMN "data_started_at" TIMESTAMPTZ(3);

-- "Enqueue once per key" was check-then-insert in agenda's backend: two callers racing made two
-- jobs. One job per (name, data.key), enforced by the database. Duplicates made before this
-- index existed are dropped first, keeping the oldest (a job row is work to do, not memory).
DELETE FROM "agenda_jobs" AS a
  USING "agenda_jobs" AS b
  WHERE a."data" ? 'key' AND b."data" ? 'key'
    AND a."name" = b."name" AND a."data"->>'key' = b."data"->>'key'
    AND (a."created_at", a."id") > (b."created_at", b."id");
CREATE UNIQUE INDEX "agenda_jobs_name_key_unique" ON "agenda_jobs" ("name", ("data"->>'key')) WHERE "data" ? 'key';

-- Set before the first chat.postMessage for a draft: a run that finds it set while no ts was
-- saved knows an earlier run may have posted, and looks for that card (by its metadata) first.
ALTER TABLE "drafts" ADD COLUMN "slack_post_started_at" TIMESTAMPTZ(3);
