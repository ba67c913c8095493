-- agenda's PostgreSQL backend keeps agenda_jobs.updated_at current with a trigger, which it used
-- to (re)create on every connect. Two processes connecting at once (replicas starting together,
-- `adjutant ingest` beside the service) then raced on the catalog ("tuple concurrently updated")
-- and one of them died of an unhandled rejection. The trigger is created here instead, once, under
-- the migration lock, and the backend no longer touches the schema. Idempotent: databases where the
-- backend already created it get the same definition.
CREATE OR REPLACE FUNCTION update_agenda_jobs_updated_at() RETURNS TRIGGER AS $$
BEGIN
  NEW.updated_at = NOW();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS "agenda_jobs_updated_at_trigger" ON "agenda_jobs";
CREATE TRIGGER "agenda_jobs_updated_at_trigger"
  BEFORE UPDATE ON "agenda_jobs"
  FOR EACH ROW
  EXECUTE FUNCTION update_agenda_jobs_updated_at();
