-- 0009: what the WeChat cloud database import keeps (aiphotoctl import, POST
-- /admin/migrate/:collection; model/legacy.c, docs/migration.md).
--
-- legacy_doc is the cloud document as last imported, without its _id (which is legacy_id).
-- It keeps everything the columns do not hold (a work's every image and its parameters,
-- fields of the cloud app we do not know), so aiphotoctl export can write the document back
-- with nothing lost. It also decides idempotency: a document equal to legacy_doc (or to what
-- the export writes for the row now) is skipped, and a user's credits in it are the cloud
-- balance the 'migration' ledger rows have accounted for so far.
--
-- legacy_orders holds the cloud database's orders: history only. Their credits are already
-- in the user's imported balance, so nothing here ever touches credits or the ledger, and
-- they never enter the orders table (whose rows are WeChat Pay v3 orders with their own
-- state machine). amount_fen is the cloud's amount (yuan) in fen.

ALTER TABLE users ADD COLUMN legacy_doc jsonb NULL,
    ADD CONSTRAINT users_legacy_doc_object CHECK (legacy_doc IS NULL
        OR (jsonb_typeof(legacy_doc) = 'object' AND legacy_id IS NOT NULL));
ALTER TABLE works ADD COLUMN legacy_doc jsonb NULL,
    ADD CONSTRAINT works_legacy_doc_object CHECK (legacy_doc IS NULL
        OR (jsonb_typeof(legacy_doc) = 'object' AND legacy_id IS NOT NULL));
ALTER TABLE scenes ADD COLUMN legacy_doc jsonb NULL,
    ADD CONSTRAINT scenes_legacy_doc_object CHECK (legacy_doc IS NULL
        OR (jsonb_typeof(legacy_doc) = 'object' AND legacy_id IS NOT NULL));

-- A user's identity in one app, oldest first (the export's and the import's owner openid,
-- model/identities' openid for payments): one index probe, even while the statistics still
-- describe the table before a large import. It covers what the index on user_id alone did.
CREATE INDEX wechat_identities_user_appid_idx ON wechat_identities (user_id, appid, id);
DROP INDEX wechat_identities_user_idx;

-- a scene imported after the works that name it links them (seed 000 posts works first)
CREATE INDEX works_legacy_scene_idx ON works ((legacy_doc->>'scene_id'))
    WHERE scene_id IS NULL AND legacy_doc IS NOT NULL;

COMMENT ON COLUMN users.legacy_doc IS
    'cloud users document as last imported (without _id); its credits = the cloud balance accounted for';
COMMENT ON COLUMN works.legacy_doc IS
    'cloud works document as last imported (without _id): every image, parameters, unknown fields';
COMMENT ON COLUMN scenes.legacy_doc IS 'cloud scenes document as last imported (without _id)';

CREATE TABLE legacy_orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    legacy_id   text NOT NULL,
    user_id     bigint NOT NULL REFERENCES users (id),
    type        text NOT NULL DEFAULT '',
    amount_fen  bigint NOT NULL DEFAULT 0,
    credits     bigint NOT NULL DEFAULT 0,
    status      text NOT NULL DEFAULT '',
    legacy_doc  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT legacy_orders_legacy_id_key UNIQUE (legacy_id),
    CONSTRAINT legacy_orders_amount_check CHECK (amount_fen >= 0),
    CONSTRAINT legacy_orders_credits_check CHECK (credits >= 0),
    CONSTRAINT legacy_orders_doc_object CHECK (jsonb_typeof(legacy_doc) = 'object')
);
CREATE INDEX legacy_orders_user_idx ON legacy_orders (user_id, id DESC);
CREATE TRIGGER legacy_orders_touch BEFORE UPDATE ON legacy_orders
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();
