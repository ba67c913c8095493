-- Calls our agents made to tools of external MCP servers that change something ("write" tools):
-- each waits for a teammate's decision in Slack. One row per (work, tool, arguments): the same
-- call asked for again, when the work runs again after the decision, finds its row and its result
-- instead of running twice.
CREATE TABLE "tool_calls" (
  "id" UUID NOT NULL,
  "served_kind" TEXT NOT NULL,
  "served_id" TEXT NOT NULL,
  "server" TEXT NOT NULL,
  "tool" TEXT NOT NULL,
  "arguments" JSONB NOT NULL,
  "arguments_key" TEXT NOT NULL,
  "status" TEXT NOT NULL DEFAULT 'pending',
  "result" TEXT,
  "is_error" BOOLEAN NOT NULL DEFAULT false,
  "resume" JSONB NOT NULL,
  "requested_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  "decided_by" TEXT,
  "decided_at" TIMESTAMPTZ(3),
  "finished_at" TIMESTAMPTZ(3),
  "slack_channel" TEXT,
  "slack_ts" TEXT,
  CONSTRAINT "tool_calls_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "tool_calls_status_check" CHECK ("status" IN ('pending', 'approved', 'running', 'succeeded', 'failed', 'rejected', 'interrupted'))
);
CREATE UNIQUE INDEX "tool_calls_served_call_key" ON "tool_calls"("served_kind", "served_id", "server", "tool", "arguments_key");
CREATE INDEX "tool_calls_status_idx" ON "tool_calls"("status");
