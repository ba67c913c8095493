-- Slack events already handled, by event_id: Slack retries an event it thinks went unanswered
-- (x-slack-retry-num), and Socket Mode replays envelopes after a reconnect. The first delivery
-- inserts the row; later ones find it and are acknowledged without being processed
-- (src/channels/slack/event-dedupe.ts). Rows older than a week are pruned.
CREATE TABLE "slack_events" (
    "event_id" TEXT NOT NULL,
    "type" TEXT,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "slack_events_pkey" PRIMARY KEY ("event_id")
);

-- The pruning: DELETE … WHERE received_at < now() - interval '7 days'.
CREATE INDEX "slack_events_received_at_idx" ON "slack_events"("received_at");
