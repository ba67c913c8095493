-- The Slack threads the bot has answered in (an @mention answered there). A plain reply in one
-- of them is a follow-up to the conversation (src/channels/slack/asking.ts), and its messages
-- are remembered even in channels SLACK_MEMORY_CHANNELS leaves out (channel-memory.ts). Kept in
-- the database, not in memory: events after a restart must find the threads answered before it.
-- Looked up by its key for each threaded message, so no other index.
CREATE TABLE "slack_bot_threads" (
    "channel" TEXT NOT NULL,
    "thread_ts" TEXT NOT NULL,
    "answered_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "slack_bot_threads_pkey" PRIMARY KEY ("channel", "thread_ts")
);
