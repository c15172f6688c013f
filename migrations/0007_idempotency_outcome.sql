-- 0007: an Idempotency-Key stores what its first request came to, not an HTTP answer.
--
-- outcome is the API error code of that request ('OK', or a refusal kept for the key such as
-- 'INSUFFICIENT_CREDITS'); resource_id names what it made (the task, the ledger row of a
-- consumption, the order), so a replay renders the resource as it is now. A row with outcome
-- NULL belongs to a request still in flight: create-order commits its key with the order and
-- stores the outcome after the WeChat Pay call (a replay meanwhile answers the same order).
--
-- Keys stored before this migration keep their outcome but not their resource, and their
-- request_hash was computed another way: a replay of one (within its 24 h) answers 409
-- IDEMPOTENCY_MISMATCH, never a second effect.

ALTER TABLE idempotency_keys
    ADD COLUMN outcome text NULL,
    ADD COLUMN resource_id bigint NULL,
    ADD CONSTRAINT idempotency_keys_outcome_format CHECK (outcome IS NULL
        OR outcome ~ '^[A-Z_]{2,32}$');

UPDATE idempotency_keys SET outcome = CASE WHEN response_status < 300 THEN 'OK'
    WHEN response_status = 402 THEN 'INSUFFICIENT_CREDITS' ELSE 'INTERNAL' END
    WHERE response_status IS NOT NULL;

ALTER TABLE idempotency_keys
    DROP CONSTRAINT idempotency_keys_status_check,
    DROP COLUMN response_status,
    DROP COLUMN response_body;

COMMENT ON COLUMN idempotency_keys.outcome IS
    'API error code of the first request (OK, INSUFFICIENT_CREDITS, ...); NULL = in flight';
COMMENT ON COLUMN idempotency_keys.resource_id IS
    'what the first request made: tasks.id, credit_ledger.id or orders.id; NULL = nothing';
