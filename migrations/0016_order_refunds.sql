-- 0016 — refunds of paid orders through WeChat Pay v3 (docs/payments.md "Refunds").
--
-- An operator refunds a paid order in full or in part (POST /admin/orders/:no/refunds). Each
-- refund is one row of order_refunds, named by its out_refund_no: WeChat Pay treats a request
-- repeated with the same number as the same refund, so every retry (a repeated
-- Idempotency-Key, the dispatcher's reconciliation) reuses it. Life of a row:
--   processing → success  (WeChat Pay confirmed: REFUND.SUCCESS or a query answering SUCCESS)
--              → abnormal (REFUND.ABNORMAL: the money could not reach the payer; the
--                          merchant finishes it by hand, WeChat Pay then reports SUCCESS)
--              → closed   (REFUND.CLOSED: no money moved; the credits go back to the user)
--   abnormal   → success | closed
-- A row is written 'processing' in the transaction that takes the order's credits back
-- (ledger kind 'refund_order', key 'refund_order:<out_refund_no>'), before WeChat Pay is
-- asked; a closed refund gives them back (key 'refund_order:<out_refund_no>:closed').
-- credits_due is the share of the order's credits the refunded amount stands for (the shares
-- of all refunds of an order add up to its credits); credits what was taken back: credits_due,
-- or less when the user had already spent them and the operator chose 'take_remaining'.
--
-- orders.refunded_fen sums the order's successful refunds, added in the statement that marks a
-- refund success; the order becomes partially_refunded, then refunded when it reaches
-- amount_fen, and only then (WeChat Pay's word, never our request).

ALTER TABLE credit_ledger DROP CONSTRAINT credit_ledger_kind_check;
ALTER TABLE credit_ledger ADD CONSTRAINT credit_ledger_kind_check CHECK (kind IN
    ('recharge', 'consume', 'refund', 'checkin', 'invite', 'admin', 'migration',
     'refund_order'));
ALTER TABLE credit_ledger DROP CONSTRAINT credit_ledger_sign_check;
-- refund_order: negative when credits are taken back, positive when a closed refund gives
-- them back
ALTER TABLE credit_ledger ADD CONSTRAINT credit_ledger_sign_check CHECK (
    (kind = 'consume' AND delta < 0)
    OR (kind IN ('recharge', 'checkin', 'invite') AND delta > 0)
    OR kind IN ('refund', 'admin', 'migration', 'refund_order'));

ALTER TABLE orders ADD COLUMN refunded_fen bigint NOT NULL DEFAULT 0;
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN
    ('created', 'paid', 'closed', 'partially_refunded', 'refunded'));
ALTER TABLE orders DROP CONSTRAINT orders_paid_coherent;
ALTER TABLE orders ADD CONSTRAINT orders_paid_coherent CHECK (
    status NOT IN ('paid', 'partially_refunded', 'refunded')
    OR (transaction_id IS NOT NULL AND paid_at IS NOT NULL));
ALTER TABLE orders ADD CONSTRAINT orders_refunded_fen_range CHECK (
    refunded_fen >= 0 AND refunded_fen <= amount_fen);
ALTER TABLE orders ADD CONSTRAINT orders_partially_refunded_coherent CHECK (
    status <> 'partially_refunded' OR (refunded_at IS NOT NULL AND refunded_fen > 0));
COMMENT ON COLUMN orders.refunded_fen IS
    'sum of the order''s refunds WeChat Pay confirmed (order_refunds status success)';

CREATE OR REPLACE FUNCTION aiphoto_orders_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'created' AND NEW.status IN ('paid', 'closed'))
        OR (OLD.status = 'paid' AND NEW.status IN ('partially_refunded', 'refunded'))
        OR (OLD.status = 'partially_refunded' AND NEW.status = 'refunded')) THEN
        RAISE EXCEPTION 'order %: status % -> % is not allowed',
            OLD.out_trade_no, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TABLE order_refunds (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    out_refund_no    text NOT NULL,
    order_id         bigint NOT NULL REFERENCES orders (id),
    user_id          bigint NOT NULL REFERENCES users (id),
    amount_fen       bigint NOT NULL,
    credits_due      bigint NOT NULL,
    credits          bigint NOT NULL,
    status           text NOT NULL DEFAULT 'processing',
    reason           text NOT NULL,
    if_spent         text NOT NULL,
    admin_id         bigint NULL REFERENCES admins (id),
    refund_id        text NULL,
    succeeded_at     timestamptz NULL,
    closed_at        timestamptz NULL,
    last_queried_at  timestamptz NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT order_refunds_out_refund_no_key UNIQUE (out_refund_no),
    CONSTRAINT order_refunds_out_refund_no_format CHECK (out_refund_no ~ '^[0-9A-Za-z_|*@-]{1,64}$'),
    CONSTRAINT order_refunds_amount_positive CHECK (amount_fen > 0),
    CONSTRAINT order_refunds_credits_range CHECK (credits >= 0 AND credits <= credits_due),
    CONSTRAINT order_refunds_status_check CHECK (status IN
        ('processing', 'success', 'abnormal', 'closed')),
    CONSTRAINT order_refunds_success_coherent CHECK (status <> 'success' OR succeeded_at IS NOT NULL),
    CONSTRAINT order_refunds_closed_coherent CHECK (status <> 'closed' OR closed_at IS NOT NULL),
    CONSTRAINT order_refunds_reason_len CHECK (char_length(reason) BETWEEN 1 AND 80),
    CONSTRAINT order_refunds_if_spent_check CHECK (if_spent IN ('refuse', 'take_remaining'))
);
CREATE INDEX order_refunds_order_idx ON order_refunds (order_id, id);
CREATE INDEX order_refunds_open_idx ON order_refunds (last_queried_at NULLS FIRST, id)
    WHERE status IN ('processing', 'abnormal');
CREATE TRIGGER order_refunds_touch BEFORE UPDATE ON order_refunds
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

CREATE FUNCTION aiphoto_order_refunds_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'processing' AND NEW.status IN ('success', 'abnormal', 'closed'))
        OR (OLD.status = 'abnormal' AND NEW.status IN ('success', 'closed'))) THEN
        RAISE EXCEPTION 'refund %: status % -> % is not allowed',
            OLD.out_refund_no, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER order_refunds_transition BEFORE UPDATE OF status ON order_refunds
    FOR EACH ROW EXECUTE FUNCTION aiphoto_order_refunds_transition();
