-- Mail-in trust: whether the receiving server vouched for the sender (Authentication-Results),
-- who claimed to be a teammate without being verified, and forwards whose original sender was
-- not recovered.
ALTER TABLE "emails" ADD COLUMN "sender_verified" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN "sender_verification" TEXT,
ADD COLUMN "claimed_teammate" TEXT,
ADD COLUMN "original_from_missing" BOOLEAN NOT NULL DEFAULT false;

-- Forwards stored before this migration with no original sender were already unanswerable.
UPDATE "emails" SET "original_from_missing" = true WHERE "is_forward" AND "original_from" IS NULL;
