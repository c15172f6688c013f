-- 0004: when the provider job of a work item was submitted.
--
-- An async job (DashScope style) is polled across dispatcher runs: a run that ends while the
-- job is still pending gives the item back with its job id, and the next run polls it again.
-- How long a job may stay pending (DISPATCH_MAX_WAIT_SECONDS) is counted from this moment,
-- so a job that never finishes ends as a retry (or a refunded failure) instead of being
-- polled forever. Set with provider_job_id, cleared with it.

ALTER TABLE works ADD COLUMN provider_job_at timestamptz NULL;

COMMENT ON COLUMN works.provider_job_at IS
    'when provider_job_id was stored (the submit of an async job); NULL when there is none';
