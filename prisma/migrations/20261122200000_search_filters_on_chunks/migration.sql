-- Search filters on the passages themselves: both halves of a search filter passages (by scope,
-- kind, date, person, current or superseded) before they group them into items, and looking each
-- passage's item up for that cost more than the rest of a search at 100k passages. The item stays
-- the source of truth: triggers copy its values onto its passages when either is written.
ALTER TABLE "memory_chunks"
    ADD COLUMN "scope" TEXT NOT NULL DEFAULT 'team',
    ADD COLUMN "kind" TEXT,
    ADD COLUMN "occurred_at" TIMESTAMPTZ(3),
    ADD COLUMN "counterparty" TEXT,
    ADD COLUMN "author" TEXT,
    ADD COLUMN "superseded" BOOLEAN NOT NULL DEFAULT false;

UPDATE "memory_chunks" c
SET "scope" = i."scope", "kind" = i."kind", "occurred_at" = i."occurred_at", "counterparty" = i."counterparty",
    "author" = lower(i."author"), "superseded" = i."superseded_by" IS NOT NULL
FROM "memory_items" i WHERE i."id" = c."item_id";

-- A passage inserted without its item's values (an edited source's new passages) gets them from
-- the item. An item and its passages written in one statement cannot see each other, so that
-- statement passes the values itself (src/memory/items.ts).
CREATE FUNCTION "memory_chunks_copy_item"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW."kind" IS NULL THEN
        SELECT i."scope", i."kind", i."occurred_at", i."counterparty", lower(i."author"), i."superseded_by" IS NOT NULL
        INTO NEW."scope", NEW."kind", NEW."occurred_at", NEW."counterparty", NEW."author", NEW."superseded"
        FROM "memory_items" i WHERE i."id" = NEW."item_id";
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER "memory_chunks_copy_item" BEFORE INSERT ON "memory_chunks"
    FOR EACH ROW EXECUTE FUNCTION "memory_chunks_copy_item"();

-- An item whose filtered values change (a fact superseded, say) passes them to its passages.
CREATE FUNCTION "memory_items_copy_to_chunks"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "memory_chunks"
    SET "scope" = NEW."scope", "kind" = NEW."kind", "occurred_at" = NEW."occurred_at", "counterparty" = NEW."counterparty",
        "author" = lower(NEW."author"), "superseded" = NEW."superseded_by" IS NOT NULL
    WHERE "item_id" = NEW."id";
    RETURN NULL;
END $$;
CREATE TRIGGER "memory_items_copy_to_chunks" AFTER UPDATE OF "scope", "kind", "occurred_at", "counterparty", "author", "superseded_by" ON "memory_items"
    FOR EACH ROW
    WHEN (OLD."scope" IS DISTINCT FROM NEW."scope" OR OLD."kind" IS DISTINCT FROM NEW."kind" OR OLD."occurred_at" IS DISTINCT FROM NEW."occurred_at"
          OR OLD."counterparty" IS DISTINCT FROM NEW."counterparty" OR OLD."author" IS DISTINCT FROM NEW."author"
          OR OLD."superseded_by" IS DISTINCT FROM NEW."superseded_by")
    EXECUTE FUNCTION "memory_items_copy_to_chunks"();

-- A person filter naming an address finds its passages directly (counterparty or author).
CREATE INDEX "memory_chunks_counterparty_idx" ON "memory_chunks"("counterparty");
CREATE INDEX "memory_chunks_author_idx" ON "memory_chunks"("author");
