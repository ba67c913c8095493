-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "vector";

-- CreateTable
CREATE TABLE "emails" (
    "id" UUID NOT NULL,
    "message_id" TEXT NOT NULL,
    "mailbox" TEXT NOT NULL,
    "uid" INTEGER,
    "from_address" TEXT,
    "from_name" TEXT,
    "to_addresses" TEXT[],
    "subject" TEXT NOT NULL,
    "sent_at" TIMESTAMPTZ(3),
    "text" TEXT NOT NULL,
    "in_reply_to" TEXT,
    "references" TEXT[],
    "raw" BYTEA NOT NULL,
    "is_forward" BOOLEAN NOT NULL DEFAULT false,
    "forwarded_by" TEXT,
    "instruction" TEXT,
    "original_from" TEXT,
    "original_from_name" TEXT,
    "original_subject" TEXT,
    "original_sent_at" TIMESTAMPTZ(3),
    "original_message_id" TEXT,
    "original_references" TEXT[],
    "original_text" TEXT,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "emails_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "mailbox_states" (
    "mailbox" TEXT NOT NULL,
    "uid_validity" BIGINT NOT NULL,
    "last_uid" INTEGER NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "mailbox_states_pkey" PRIMARY KEY ("mailbox")
);

-- CreateTable
CREATE TABLE "memory_items" (
    "id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "content" TEXT NOT NULL,
    "source_type" TEXT NOT NULL,
    "source_ref" TEXT NOT NULL,
    "author" TEXT,
    "occurred_at" TIMESTAMPTZ(3),
    "email_id" UUID,
    "superseded_by" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "memory_items_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "memory_chunks" (
    "id" UUID NOT NULL,
    "item_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "text" TEXT NOT NULL,
    "search_vector" tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, "text")) STORED,
    "embedding" vector(768),
    "embedding_model" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "memory_chunks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "drafts" (
    "id" UUID NOT NULL,
    "email_id" UUID NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "to_address" TEXT NOT NULL,
    "to_name" TEXT,
    "subject" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "in_reply_to" TEXT,
    "references" TEXT[],
    "provider" TEXT,
    "model" TEXT,
    "slack_channel" TEXT,
    "slack_card_ts" TEXT,
    "slack_draft_ts" TEXT,
    "decided_by" TEXT,
    "decided_at" TIMESTAMPTZ(3),
    "sent_at" TIMESTAMPTZ(3),
    "sent_message_id" TEXT,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "drafts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_log" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "entity_type" TEXT NOT NULL,
    "entity_id" TEXT NOT NULL,
    "data" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "audit_log_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "model_calls" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "provider" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "tier" TEXT NOT NULL,
    "purpose" TEXT NOT NULL,
    "input_tokens" INTEGER NOT NULL,
    "output_tokens" INTEGER NOT NULL,
    "cost_usd" DECIMAL(12,6) NOT NULL,
    "latency_ms" INTEGER NOT NULL,
    "ok" BOOLEAN NOT NULL,
    "error" TEXT,

    CONSTRAINT "model_calls_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "agenda_jobs" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" VARCHAR(255) NOT NULL,
    "priority" INTEGER NOT NULL DEFAULT 0,
    "next_run_at" TIMESTAMPTZ(6),
    "type" VARCHAR(10) NOT NULL DEFAULT 'normal',
    "locked_at" TIMESTAMPTZ(6),
    "last_finished_at" TIMESTAMPTZ(6),
    "failed_at" TIMESTAMPTZ(6),
    "fail_count" INTEGER,
    "fail_reason" TEXT,
    "repeat_timezone" VARCHAR(100),
    "last_run_at" TIMESTAMPTZ(6),
    "repeat_interval" VARCHAR(255),
    "data" JSONB DEFAULT '{}',
    "repeat_at" VARCHAR(255),
    "disabled" BOOLEAN DEFAULT false,
    "progress" REAL,
    "fork" BOOLEAN DEFAULT false,
    "last_modified_by" VARCHAR(255),
    "debounce_started_at" TIMESTAMPTZ(6),
    "start_date" TIMESTAMPTZ(6),
    "end_date" TIMESTAMPTZ(6),
    "skip_days" JSONB,
    "created_at" TIMESTAMPTZ(6) DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "agenda_jobs_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "agenda_jobs_type_check" CHECK ("type" IN ('normal', 'single'))
);

-- CreateTable
CREATE TABLE "agenda_logs" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "timestamp" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "level" VARCHAR(10) NOT NULL,
    "event" VARCHAR(30) NOT NULL,
    "job_id" VARCHAR(255),
    "job_name" VARCHAR(255) NOT NULL,
    "message" TEXT NOT NULL,
    "duration" INTEGER,
    "error" TEXT,
    "fail_count" INTEGER,
    "retry_delay" INTEGER,
    "retry_attempt" INTEGER,
    "agenda_name" VARCHAR(255),
    "meta" JSONB,

    CONSTRAINT "agenda_logs_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "emails_message_id_key" ON "emails"("message_id");

-- CreateIndex
CREATE UNIQUE INDEX "memory_items_source_type_source_ref_key" ON "memory_items"("source_type", "source_ref");

-- CreateIndex
CREATE UNIQUE INDEX "memory_chunks_item_id_position_key" ON "memory_chunks"("item_id", "position");

-- CreateIndex
CREATE INDEX "drafts_status_idx" ON "drafts"("status");

-- CreateIndex
CREATE UNIQUE INDEX "drafts_email_id_version_key" ON "drafts"("email_id", "version");

-- CreateIndex
CREATE INDEX "audit_log_entity_type_entity_id_idx" ON "audit_log"("entity_type", "entity_id");

-- CreateIndex
CREATE INDEX "model_calls_at_idx" ON "model_calls"("at");

-- AddForeignKey
ALTER TABLE "memory_items" ADD CONSTRAINT "memory_items_email_id_fkey" FOREIGN KEY ("email_id") REFERENCES "emails"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "memory_chunks" ADD CONSTRAINT "memory_chunks_item_id_fkey" FOREIGN KEY ("item_id") REFERENCES "memory_items"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "drafts" ADD CONSTRAINT "drafts_email_id_fkey" FOREIGN KEY ("email_id") REFERENCES "emails"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Hand-written below: what the schema language cannot express.

-- Full-text and vector search over memory chunks.
CREATE INDEX "memory_chunks_search_vector_idx" ON "memory_chunks" USING GIN ("search_vector");
CREATE INDEX "memory_chunks_embedding_idx" ON "memory_chunks" USING hnsw ("embedding" vector_cosine_ops);

-- agenda's own indexes (its backend creates the same with IF NOT EXISTS).
CREATE INDEX "agenda_jobs_find_and_lock_idx" ON "agenda_jobs" ("name", "next_run_at", "priority" DESC, "locked_at", "disabled") WHERE "disabled" = false;
CREATE UNIQUE INDEX "agenda_jobs_single_job_idx" ON "agenda_jobs" ("name") WHERE "type" = 'single';
CREATE INDEX "agenda_jobs_locked_at_idx" ON "agenda_jobs" ("locked_at") WHERE "locked_at" IS NOT NULL;
CREATE INDEX "agenda_jobs_next_run_at_idx" ON "agenda_jobs" ("next_run_at") WHERE "next_run_at" IS NOT NULL;
CREATE INDEX "agenda_logs_timestamp_idx" ON "agenda_logs" ("timestamp" DESC);
CREATE INDEX "agenda_logs_job_id_idx" ON "agenda_logs" ("job_id", "timestamp" DESC);
CREATE INDEX "agenda_logs_job_name_idx" ON "agenda_logs" ("job_name", "timestamp" DESC);

-- The audit log is append-only: history cannot be rewritten through the application role.
CREATE FUNCTION "audit_log_is_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER "audit_log_no_update_or_delete"
  BEFORE UPDATE OR DELETE ON "audit_log"
  FOR EACH ROW EXECUTE FUNCTION "audit_log_is_append_only"();
CREATE TRIGGER "audit_log_no_truncate"
  BEFORE TRUNCATE ON "audit_log"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_log_is_append_only"();
