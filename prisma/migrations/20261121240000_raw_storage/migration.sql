-- The raw source of each email is kept out of line without compression: it is written for every
-- incoming message and read rarely, and much of it (base64 attachments) does not compress, so
-- compressing it cost the ingest path time for little space.
ALTER TABLE "emails" ALTER COLUMN "raw" SET STORAGE EXTERNAL;
