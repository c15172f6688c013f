-- 0005: indexes for the two questions asked about unpaid orders.
--
-- The reconciliation walks created orders least recently queried first (never queried
-- before all, then the oldest), a bounded batch per run that it marks as queried, so every
-- unpaid order is reached within a bounded number of runs however many are open.
-- Order creation counts a user's created orders (at most 10 may be open at once) in the
-- transaction that inserts the next one.

CREATE INDEX orders_reconcile_queue_idx ON orders (last_queried_at NULLS FIRST, created_at, id)
    WHERE status = 'created';

CREATE INDEX orders_user_open_idx ON orders (user_id) WHERE status = 'created';
