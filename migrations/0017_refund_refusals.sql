-- 0017 — a refund WeChat Pay refused outright (docs/payments.md "Refunds").
--
-- When creating a refund gets a definitive 4xx (not 429, not 5xx, not a timeout) and a query of
-- its out_refund_no answers that WeChat Pay does not know it, the refund never happened: it is
-- closed like a REFUND.CLOSED (the credits it took go back through the ledger, once) and keeps
-- WeChat Pay's error code and message here. NULL for every other refund.
ALTER TABLE order_refunds ADD COLUMN fail_code text NULL;
ALTER TABLE order_refunds ADD COLUMN fail_message text NULL;
ALTER TABLE order_refunds ADD CONSTRAINT order_refunds_fail_coherent CHECK (
    fail_code IS NULL OR status = 'closed');
COMMENT ON COLUMN order_refunds.fail_code IS
    'WeChat Pay''s error code when it refused to create the refund (the refund is closed)';
