-- AlterTable
ALTER TABLE "mailbox_states" ADD COLUMN     "attempt_uid" INTEGER,
ADD COLUMN     "attempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "checked_at" TIMESTAMPTZ(3),
ADD COLUMN     "rescan_uids" INTEGER[] DEFAULT ARRAY[]::INTEGER[];

-- CreateTable
CREATE TABLE "mailbox_failures" (
    "id" UUID NOT NULL,
    "mailbox" TEXT NOT NULL,
    "uid_validity" BIGINT NOT NULL,
    "uid" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "subject" TEXT,
    "from_address" TEXT,
    "message_id" TEXT,
    "size" INTEGER,
    "raw" BYTEA,
    "raw_truncated" BOOLEAN NOT NULL DEFAULT false,
    "announced_at" TIMESTAMPTZ(3),
    "first_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "mailbox_failures_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "mailbox_failures_status_idx" ON "mailbox_failures"("status");

-- CreateIndex
CREATE UNIQUE INDEX "mailbox_failures_mailbox_uid_validity_uid_key" ON "mailbox_failures"("mailbox", "uid_validity", "uid");
