-- One team memory that can be asked: provenance and filters on items, facts that supersede,
-- contacts, and embeddings that record their model so models of any dimension can coexist.

-- Items: where they may be shown (scope), whom they concern, where they link to, and facts' history.
ALTER TABLE "memory_items"
    ADD COLUMN "scope" TEXT NOT NULL DEFAULT 'team',
    ADD COLUMN "counterparty" TEXT,
    ADD COLUMN "url" TEXT,
    ADD COLUMN "subject_key" TEXT,
    ADD COLUMN "content_hash" TEXT,
    ADD COLUMN "superseded_at" TIMESTAMPTZ(3),
    ADD COLUMN "deleted_at" TIMESTAMPTZ(3),
    ADD COLUMN "updated_at" TIMESTAMPTZ(3);

ALTER TABLE "memory_items" ADD CONSTRAINT "memory_items_superseded_by_fkey" FOREIGN KEY ("superseded_by") REFERENCES "memory_items"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- One current fact per subject and scope: a second writer racing on the same subject fails
-- instead of leaving two "current" answers.
CREATE UNIQUE INDEX "memory_items_current_fact_key" ON "memory_items"("scope", "subject_key") WHERE "kind" = 'fact' AND "superseded_at" IS NULL AND "deleted_at" IS NULL;
CREATE INDEX "memory_items_subject_key_idx" ON "memory_items"("subject_key") WHERE "kind" = 'fact';
CREATE INDEX "memory_items_counterparty_idx" ON "memory_items"("counterparty", "occurred_at");
CREATE INDEX "memory_items_occurred_at_idx" ON "memory_items"("occurred_at");

-- Embeddings move to their own table, one row per chunk and model (below). A chunk waiting for
-- the current model's vector is flagged, so the backfill finds work without scanning everything.
ALTER TABLE "memory_chunks" ADD COLUMN "needs_embedding" BOOLEAN NOT NULL DEFAULT true;
CREATE INDEX "memory_chunks_needs_embedding_idx" ON "memory_chunks"("created_at") WHERE "needs_embedding";

-- The models vectors were made with. The current one is chosen by configuration (EMBEDDER); its
-- HNSW index is a partial expression index on memory_embeddings, created by the service when the
-- model is first used (its dimension is known only then), named in index_name.
CREATE TABLE "embedding_models" (
    "model" TEXT NOT NULL,
    "dimensions" INTEGER NOT NULL,
    "index_name" TEXT,
    "is_current" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "became_current_at" TIMESTAMPTZ(3),

    CONSTRAINT "embedding_models_pkey" PRIMARY KEY ("model"),
    CONSTRAINT "embedding_models_dimensions_check" CHECK ("dimensions" BETWEEN 1 AND 16000)
);
CREATE UNIQUE INDEX "embedding_models_one_current" ON "embedding_models"("is_current") WHERE "is_current";

CREATE TABLE "memory_embeddings" (
    "chunk_id" UUID NOT NULL,
    "model" TEXT NOT NULL,
    "embedding" vector NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "memory_embeddings_pkey" PRIMARY KEY ("chunk_id", "model")
);
ALTER TABLE "memory_embeddings" ADD CONSTRAINT "memory_embeddings_chunk_id_fkey" FOREIGN KEY ("chunk_id") REFERENCES "memory_chunks"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "memory_embeddings" ADD CONSTRAINT "memory_embeddings_model_fkey" FOREIGN KEY ("model") REFERENCES "embedding_models"("model") ON DELETE CASCADE ON UPDATE CASCADE;
CREATE INDEX "memory_embeddings_model_idx" ON "memory_embeddings"("model");

-- Vectors made before this migration keep their model; they are served again once that model is
-- current and its index exists.
INSERT INTO "embedding_models" ("model", "dimensions")
    SELECT DISTINCT "embedding_model", 768 FROM "memory_chunks" WHERE "embedding" IS NOT NULL AND "embedding_model" IS NOT NULL;
INSERT INTO "memory_embeddings" ("chunk_id", "model", "embedding")
    SELECT "id", "embedding_model", "embedding"::vector FROM "memory_chunks" WHERE "embedding" IS NOT NULL AND "embedding_model" IS NOT NULL;
DROP INDEX "memory_chunks_embedding_idx";
ALTER TABLE "memory_chunks" DROP COLUMN "embedding", DROP COLUMN "embedding_model";

-- A person or organisation we correspond with, by address, with a short rolling summary.
CREATE TABLE "contacts" (
    "id" UUID NOT NULL,
    "address" TEXT NOT NULL,
    "name" TEXT,
    "organisation" TEXT,
    "summary" TEXT,
    "summary_source" TEXT,
    "summary_updated_at" TIMESTAMPTZ(3),
    "email_count" INTEGER NOT NULL DEFAULT 0,
    "first_seen_at" TIMESTAMPTZ(3),
    "last_seen_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "contacts_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "contacts_address_key" ON "contacts"("address");

-- Emails remembered before this migration: the author is the counterparty they concern.
UPDATE "memory_items" SET "counterparty" = lower("author") WHERE "source_type" = 'email' AND "author" IS NOT NULL;
