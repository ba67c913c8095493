-- Every model call names what it served (an email, a draft, a question, a briefing, a contact),
-- so spend and the local share can be traced to the work. Rows from before stay NULL.
ALTER TABLE "model_calls" ADD COLUMN "served_kind" TEXT, ADD COLUMN "served_id" TEXT;
CREATE INDEX "model_calls_served_kind_served_id_idx" ON "model_calls"("served_kind", "served_id");
