-- 0001_init.sql — the initial aiphoto schema (PostgreSQL 15).
--
-- Applied by `aiphotoctl migrate` inside one transaction, which also records the
-- file in schema_migrations; this file therefore holds no BEGIN/COMMIT and does
-- not create schema_migrations itself.
--
-- Conventions used throughout:
--   * ids are `bigint GENERATED ALWAYS AS IDENTITY`; explicit ids (demo seed,
--     imports) need `OVERRIDING SYSTEM VALUE`.
--   * money is integer fen (bigint), credits are bigint, times are timestamptz.
--     The business day (check-ins, "today" statistics) is the Asia/Shanghai
--     calendar day, computed by the application as
--     (now() AT TIME ZONE 'Asia/Shanghai')::date.
--   * every table with updated_at gets a trigger that bumps it on UPDATE unless
--     the statement sets it explicitly (imports keep their original times).
--   * rows that carry money are never deleted: users are disabled, packages and
--     scenes are deactivated, works are soft-deleted (deleted_at). Foreign keys
--     to them are therefore plain restricting keys.
--   * jsonb columns that hold a document are required to be JSON objects.

-- ---------------------------------------------------------------------------
-- Helper functions
-- ---------------------------------------------------------------------------

-- Bumps updated_at on UPDATE when the statement left it unchanged.
CREATE FUNCTION aiphoto_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

-- Eight characters from an alphabet without look-alikes (no 0/O, 1/I/L):
-- 31^8 ≈ 8.5e11 codes. Collisions are possible but astronomically rare; the
-- UNIQUE constraint on users.invite_code turns one into SQLSTATE 23505 and the
-- caller simply retries the INSERT.
CREATE FUNCTION aiphoto_invite_code() RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT string_agg(substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789',
                             1 + floor(random() * 31)::int, 1), '')
      FROM generate_series(1, 8)
$$;

-- ---------------------------------------------------------------------------
-- users — one row per person, whatever WeChat app they came from.
-- Invariants:
--   * credits >= 0 (CHECK) and credits = SUM(credit_ledger.delta) for the user:
--     the balance only changes in the transaction (ideally the same statement)
--     that inserts the matching ledger row.
--   * invite_code is unique; invited_by is set at most once, never to oneself
--     (the application also refuses cycles A→B→A).
--   * status 'disabled' makes every token of the user stop working at once
--     (the handler reads status together with the row it loads anyway).
--   * legacy_id is the document _id from the WeChat cloud database import.
-- ---------------------------------------------------------------------------
CREATE TABLE users (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    nickname     text NOT NULL DEFAULT '',
    avatar_url   text NOT NULL DEFAULT '',
    credits      bigint NOT NULL DEFAULT 0,
    invite_code  text NOT NULL DEFAULT aiphoto_invite_code(),
    invited_by   bigint NULL REFERENCES users (id),
    invited_at   timestamptz NULL,
    status       text NOT NULL DEFAULT 'active',
    legacy_id    text NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_credits_nonnegative CHECK (credits >= 0),
    CONSTRAINT users_status_check CHECK (status IN ('active', 'disabled')),
    CONSTRAINT users_invite_code_key UNIQUE (invite_code),
    CONSTRAINT users_invite_code_check CHECK (char_length(invite_code) BETWEEN 4 AND 32),
    CONSTRAINT users_not_self_invited CHECK (invited_by IS NULL OR invited_by <> id),
    CONSTRAINT users_legacy_id_key UNIQUE (legacy_id),
    CONSTRAINT users_nickname_len CHECK (char_length(nickname) <= 64),
    CONSTRAINT users_avatar_url_len CHECK (char_length(avatar_url) <= 1024)
);
CREATE INDEX users_invited_by_idx ON users (invited_by) WHERE invited_by IS NOT NULL;
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

-- ---------------------------------------------------------------------------
-- wechat_identities — how a user is known to each WeChat app: the Official
-- Account ('oa', H5 pages, OAuth, message push) or the mini program ('mp').
-- Invariants:
--   * an openid is unique per appid (UNIQUE (appid, openid)); openids are only
--     ever taken from WeChat's answers, never from the client.
--   * unionid (when the apps share an Open Platform account) links the
--     identities of one person; it is indexed to find the existing user.
--   * subscribed / subscribed_at track the Official Account follow state
--     (subscribe/unsubscribe events); meaningless for 'mp' rows.
-- ---------------------------------------------------------------------------
CREATE TABLE wechat_identities (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id),
    app_kind       text NOT NULL,
    appid          text NOT NULL,
    openid         text NOT NULL,
    unionid        text NULL,
    subscribed     boolean NOT NULL DEFAULT false,
    subscribed_at  timestamptz NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wechat_identities_app_kind_check CHECK (app_kind IN ('oa', 'mp')),
    CONSTRAINT wechat_identities_appid_openid_key UNIQUE (appid, openid),
    CONSTRAINT wechat_identities_appid_check CHECK (appid <> ''),
    CONSTRAINT wechat_identities_openid_check CHECK (openid <> '' AND char_length(openid) <= 128)
);
CREATE INDEX wechat_identities_user_idx ON wechat_identities (user_id);
CREATE INDEX wechat_identities_unionid_idx ON wechat_identities (unionid) WHERE unionid IS NOT NULL;
CREATE INDEX wechat_identities_openid_idx ON wechat_identities (openid);
CREATE TRIGGER wechat_identities_touch BEFORE UPDATE ON wechat_identities
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

-- ---------------------------------------------------------------------------
-- credit_ledger — append-only journal of every balance change.
-- Invariants:
--   * one row per change of users.credits, written in the same transaction;
--     balance_after is the user's balance right after this row, so the rows of
--     a user ordered by id form a chain and SUM(delta) = users.credits.
--   * idempotency_key is globally unique and names the external fact that
--     caused the change, so a retried effect inserts nothing the second time.
--     Key shapes used by the application:
--       recharge  'order:<out_trade_no>'
--       consume   'consume:<user_id>:<Idempotency-Key>' or 'task:<task_id>'
--       refund    'refund:work:<work_id>' (task items), 'refund:order:<out_trade_no>'
--       checkin   'checkin:<user_id>:<YYYY-MM-DD>'
--       invite    'invite:<invitee_id>' (invitee) and 'invite-reward:<invitee_id>' (inviter)
--       admin     'admin:<uuid or request id>'
--       migration 'migration:<legacy_id>'
--   * sign follows the kind: consume is negative; recharge, checkin and invite
--     are positive; refund is positive for task refunds and negative only when
--     a paid order is refunded (credits taken back); admin and migration may
--     go either way. delta is never 0.
--   * rows are never updated (a trigger refuses UPDATE); corrections are new rows.
-- reference is a free-form pointer for display/audit ('task:12', 'order:…').
-- ---------------------------------------------------------------------------
CREATE TABLE credit_ledger (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users (id),
    delta            bigint NOT NULL,
    balance_after    bigint NOT NULL,
    kind             text NOT NULL,
    reference        text NULL,
    memo             text NOT NULL DEFAULT '',
    idempotency_key  text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credit_ledger_delta_nonzero CHECK (delta <> 0),
    CONSTRAINT credit_ledger_balance_nonnegative CHECK (balance_after >= 0),
    CONSTRAINT credit_ledger_kind_check CHECK (kind IN
        ('recharge', 'consume', 'refund', 'checkin', 'invite', 'admin', 'migration')),
    CONSTRAINT credit_ledger_sign_check CHECK (
        (kind = 'consume' AND delta < 0)
        OR (kind IN ('recharge', 'checkin', 'invite') AND delta > 0)
        OR kind IN ('refund', 'admin', 'migration')),
    CONSTRAINT credit_ledger_idempotency_key_key UNIQUE (idempotency_key),
    CONSTRAINT credit_ledger_idempotency_key_len CHECK (char_length(idempotency_key) BETWEEN 1 AND 200),
    CONSTRAINT credit_ledger_memo_len CHECK (char_length(memo) <= 256)
);
CREATE INDEX credit_ledger_user_idx ON credit_ledger (user_id, id DESC);
CREATE INDEX credit_ledger_created_brin ON credit_ledger USING brin (created_at);

CREATE FUNCTION aiphoto_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credit_ledger is append-only (row % not updated)', OLD.id
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER credit_ledger_no_update BEFORE UPDATE ON credit_ledger
    FOR EACH ROW EXECUTE FUNCTION aiphoto_ledger_append_only();

-- ---------------------------------------------------------------------------
-- packages — credit packages on sale (GET /credits/packages lists the active
-- ones by sort_order, id). Buying one grants credits + bonus_credits.
-- Packages are deactivated, not deleted, once an order refers to them.
-- ---------------------------------------------------------------------------
CREATE TABLE packages (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL,
    price_fen      bigint NOT NULL,
    credits        bigint NOT NULL,
    bonus_credits  bigint NOT NULL DEFAULT 0,
    active         boolean NOT NULL DEFAULT true,
    sort_order     integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT packages_name_check CHECK (btrim(name) <> '' AND char_length(name) <= 64),
    CONSTRAINT packages_price_positive CHECK (price_fen > 0),
    CONSTRAINT packages_credits_positive CHECK (credits > 0),
    CONSTRAINT packages_bonus_nonnegative CHECK (bonus_credits >= 0)
);
CREATE INDEX packages_active_idx ON packages (sort_order, id) WHERE active;
CREATE TRIGGER packages_touch BEFORE UPDATE ON packages
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

-- ---------------------------------------------------------------------------
-- orders — WeChat Pay v3 (JSAPI) orders for packages.
-- State machine: created → paid | closed; paid → refunded. Nothing else; a
-- trigger refuses any other status change, and the CHECKs keep each state's
-- columns coherent:
--   created   no transaction_id, no paid_at
--   paid      transaction_id and paid_at set
--   closed    closed_at set, never paid (a notify for a closed order is not
--             credited automatically; it is logged for manual refund)
--   refunded  was paid (transaction_id, paid_at) and refunded_at set
-- Settlement is one guarded transition
--   UPDATE orders SET status='paid', transaction_id=$, paid_at=$ …
--    WHERE out_trade_no=$ AND status='created' AND amount_fen=$ RETURNING …
-- with the 'recharge' ledger row (key 'order:<out_trade_no>') in the same
-- transaction; both the notify and the reconciliation poller use it.
-- Invariants: out_trade_no unique (6–32 of [0-9A-Za-z_|*-], WeChat's rule),
-- transaction_id unique; amount_fen and credits are snapshots taken from the
-- package when the order was created (credits = package credits + bonus).
-- last_queried_at records the last query-order call (reconciliation, and
-- GET /payment/orders/:out_trade_no on orders older than 10 s).
-- ---------------------------------------------------------------------------
CREATE TABLE orders (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    out_trade_no     text NOT NULL,
    user_id          bigint NOT NULL REFERENCES users (id),
    package_id       bigint NULL REFERENCES packages (id),
    description      text NOT NULL DEFAULT '',
    amount_fen       bigint NOT NULL,
    credits          bigint NOT NULL,
    currency         text NOT NULL DEFAULT 'CNY',
    status           text NOT NULL DEFAULT 'created',
    appid            text NOT NULL,
    mchid            text NOT NULL,
    payer_openid     text NULL,
    prepay_id        text NULL,
    transaction_id   text NULL,
    trade_state      text NULL,
    paid_at          timestamptz NULL,
    closed_at        timestamptz NULL,
    refunded_at      timestamptz NULL,
    last_queried_at  timestamptz NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_out_trade_no_key UNIQUE (out_trade_no),
    CONSTRAINT orders_transaction_id_key UNIQUE (transaction_id),
    CONSTRAINT orders_out_trade_no_format CHECK (out_trade_no ~ '^[0-9A-Za-z_|*-]{6,32}$'),
    CONSTRAINT orders_amount_positive CHECK (amount_fen > 0),
    CONSTRAINT orders_credits_positive CHECK (credits > 0),
    CONSTRAINT orders_currency_check CHECK (currency = 'CNY'),
    CONSTRAINT orders_status_check CHECK (status IN ('created', 'paid', 'closed', 'refunded')),
    CONSTRAINT orders_created_coherent CHECK (status <> 'created'
        OR (transaction_id IS NULL AND paid_at IS NULL)),
    CONSTRAINT orders_paid_coherent CHECK (status NOT IN ('paid', 'refunded')
        OR (transaction_id IS NOT NULL AND paid_at IS NOT NULL)),
    CONSTRAINT orders_closed_coherent CHECK (status <> 'closed'
        OR (closed_at IS NOT NULL AND paid_at IS NULL)),
    CONSTRAINT orders_refunded_coherent CHECK (status <> 'refunded' OR refunded_at IS NOT NULL)
);
CREATE INDEX orders_user_idx ON orders (user_id, id DESC);
CREATE INDEX orders_status_created_idx ON orders (status, created_at);
CREATE INDEX orders_package_idx ON orders (package_id);
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

CREATE FUNCTION aiphoto_orders_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'created' AND NEW.status IN ('paid', 'closed'))
        OR (OLD.status = 'paid' AND NEW.status = 'refunded')) THEN
        RAISE EXCEPTION 'order %: status % -> % is not allowed',
            OLD.out_trade_no, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER orders_transition BEFORE UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION aiphoto_orders_transition();

-- ---------------------------------------------------------------------------
-- checkins — daily check-in, one per user per Asia/Shanghai day (primary key).
-- streak is the run of consecutive days ending at `day` (1 on a fresh start);
-- credits_awarded is what the matching 'checkin' ledger row granted (key
-- 'checkin:<user_id>:<day>'), inserted in the same transaction.
-- ---------------------------------------------------------------------------
CREATE TABLE checkins (
    user_id          bigint NOT NULL REFERENCES users (id),
    day              date NOT NULL,
    streak           integer NOT NULL,
    credits_awarded  bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT checkins_pkey PRIMARY KEY (user_id, day),
    CONSTRAINT checkins_streak_positive CHECK (streak >= 1),
    CONSTRAINT checkins_credits_nonnegative CHECK (credits_awarded >= 0)
);

-- Invites need no table of their own: users.invited_by is set once
-- (UPDATE … WHERE id=$invitee AND invited_by IS NULL) and the bonuses are
-- ledger rows keyed 'invite:<invitee_id>' / 'invite-reward:<invitee_id>', so
-- each invitee rewards at most once.

-- ---------------------------------------------------------------------------
-- assets — uploaded images (inputs of tasks).
-- The file store is content-addressed: one file per sha256 on disk, shared by
-- everyone who uploaded the same bytes. The rows are per owner: sha256 is
-- unique per user (UNIQUE (user_id, sha256)), not globally, so GET
-- /assets/:sha256 and every task input stay scoped to the caller, and a second
-- upload of the same bytes by the same user answers deduplicated=true.
-- storage_key is the path relative to MEDIA_DIR (e.g. 'u/ab/cd/<sha256>.jpg');
-- the public URL is derived from it. cloud_file_id keeps the WeChat cloud
-- storage fileID of imported/registered assets. Limits mirror POST /uploads:
-- JPEG/PNG/WebP, at most 10 MiB and 40 megapixels; width/height 0 means
-- "not measured" (a registered cloud file not inspected yet).
-- ---------------------------------------------------------------------------
CREATE TABLE assets (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id),
    sha256         text NOT NULL,
    mime           text NOT NULL,
    width          integer NOT NULL DEFAULT 0,
    height         integer NOT NULL DEFAULT 0,
    size_bytes     bigint NOT NULL,
    storage_key    text NOT NULL,
    cloud_file_id  text NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT assets_user_sha256_key UNIQUE (user_id, sha256),
    CONSTRAINT assets_sha256_format CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT assets_mime_check CHECK (mime IN ('image/jpeg', 'image/png', 'image/webp')),
    CONSTRAINT assets_dimensions_check CHECK (width >= 0 AND height >= 0
        AND width::bigint * height <= 40000000),
    CONSTRAINT assets_size_check CHECK (size_bytes > 0 AND size_bytes <= 10485760),
    CONSTRAINT assets_storage_key_check CHECK (storage_key <> '' AND storage_key !~ '(^/|\.\.)')
);
CREATE INDEX assets_user_idx ON assets (user_id, id DESC);
CREATE INDEX assets_sha256_idx ON assets (sha256);
CREATE INDEX assets_cloud_file_idx ON assets (cloud_file_id) WHERE cloud_file_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- scenes — the photography scenes users pick from (GET /scenes lists the
-- active ones, optionally by category, ordered by sort_order, id).
-- parameters is a JSON object describing the options the client may offer
-- (e.g. {"styles":[…],"aspect":"3:4"}); legacy_id is the cloud document _id.
-- Scenes are deactivated rather than deleted once tasks refer to them.
-- ---------------------------------------------------------------------------
CREATE TABLE scenes (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL,
    category       text NOT NULL DEFAULT '',
    description    text NOT NULL DEFAULT '',
    thumbnail_url  text NOT NULL DEFAULT '',
    parameters     jsonb NOT NULL DEFAULT '{}',
    active         boolean NOT NULL DEFAULT true,
    sort_order     integer NOT NULL DEFAULT 0,
    legacy_id      text NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT scenes_name_check CHECK (btrim(name) <> '' AND char_length(name) <= 64),
    CONSTRAINT scenes_category_len CHECK (char_length(category) <= 32),
    CONSTRAINT scenes_parameters_object CHECK (jsonb_typeof(parameters) = 'object'),
    CONSTRAINT scenes_legacy_id_key UNIQUE (legacy_id)
);
CREATE INDEX scenes_active_category_idx ON scenes (active, category, sort_order);
CREATE TRIGGER scenes_touch BEFORE UPDATE ON scenes
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

-- ---------------------------------------------------------------------------
-- prompt_templates — text templates that turn a scene + user params into the
-- provider prompt (POST /prompts/generate and task submission).
-- Placeholders are written {name} ({scene}, {style}, {aspect}, {extra}, …)
-- and filled from the scene and the request params.
-- Selection rule for (type, scene): the active template of that scene if any,
-- else the active template with scene_id NULL; newest id wins a tie.
-- ---------------------------------------------------------------------------
CREATE TABLE prompt_templates (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL,
    type             text NOT NULL,
    scene_id         bigint NULL REFERENCES scenes (id),
    template         text NOT NULL,
    negative_prompt  text NOT NULL DEFAULT '',
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prompt_templates_name_check CHECK (btrim(name) <> ''),
    CONSTRAINT prompt_templates_type_check CHECK (type IN ('photography', 'fitting')),
    CONSTRAINT prompt_templates_template_check CHECK (btrim(template) <> '')
);
CREATE INDEX prompt_templates_lookup_idx ON prompt_templates (type, scene_id, id DESC) WHERE active;
CREATE TRIGGER prompt_templates_touch BEFORE UPDATE ON prompt_templates
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

-- ---------------------------------------------------------------------------
-- ai_models — the AI providers the dispatcher may call for a kind of work.
-- provider names the adapter ('openai' = OpenAI-compatible images/generations,
-- 'dashscope' = DashScope-style submit + poll, …); mode says whether one call
-- returns the image ('sync') or a job id to poll ('async').
-- endpoint is the base URL; api_key_env is the NAME of the environment
-- variable holding the key — keys are never stored in the database.
-- Choice: active rows of the kind, lowest priority number first, weighted
-- random (weight) inside one priority, failover to the next on 5xx/429/timeout.
-- timeout_ms bounds one HTTP call; poll_interval_ms paces async polling;
-- options holds provider-specific request fields (size, quality, …).
-- ---------------------------------------------------------------------------
CREATE TABLE ai_models (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text NOT NULL,
    provider          text NOT NULL,
    mode              text NOT NULL DEFAULT 'sync',
    kind              text NOT NULL,
    endpoint          text NOT NULL,
    api_key_env       text NOT NULL,
    model             text NOT NULL,
    priority          integer NOT NULL DEFAULT 100,
    weight            integer NOT NULL DEFAULT 1,
    timeout_ms        integer NOT NULL DEFAULT 60000,
    poll_interval_ms  integer NOT NULL DEFAULT 2000,
    options           jsonb NOT NULL DEFAULT '{}',
    active            boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ai_models_name_key UNIQUE (name),
    CONSTRAINT ai_models_name_check CHECK (btrim(name) <> ''),
    CONSTRAINT ai_models_provider_check CHECK (provider ~ '^[a-z][a-z0-9_]{0,31}$'),
    CONSTRAINT ai_models_mode_check CHECK (mode IN ('sync', 'async')),
    CONSTRAINT ai_models_kind_check CHECK (kind IN ('photography', 'fitting')),
    CONSTRAINT ai_models_endpoint_check CHECK (endpoint ~ '^https?://'),
    CONSTRAINT ai_models_api_key_env_check CHECK (api_key_env ~ '^[A-Z_][A-Z0-9_]{0,127}$'),
    CONSTRAINT ai_models_model_check CHECK (btrim(model) <> ''),
    CONSTRAINT ai_models_priority_check CHECK (priority >= 0),
    CONSTRAINT ai_models_weight_check CHECK (weight >= 1),
    CONSTRAINT ai_models_timeout_check CHECK (timeout_ms BETWEEN 1000 AND 600000),
    CONSTRAINT ai_models_poll_interval_check CHECK (poll_interval_ms BETWEEN 100 AND 60000),
    CONSTRAINT ai_models_options_object CHECK (jsonb_typeof(options) = 'object')
);
CREATE INDEX ai_models_choice_idx ON ai_models (kind, priority) WHERE active;
CREATE TRIGGER ai_models_touch BEFORE UPDATE ON ai_models
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

-- ---------------------------------------------------------------------------
-- tasks — a user's batch request: `count` images of one type.
-- Submission is one transaction: debit count × price (ledger kind 'consume',
-- key 'task:<id>' or the client key), insert the task and its `count` works.
-- Inputs: photography needs scene_id and at most 10 asset_ids (the API asks
-- for 1–10; the table also admits 0 for cloud-compatible callers); fitting
-- needs person_asset_id and garment_asset_id. prompt / negative_prompt are the
-- rendered template, frozen at submission.
-- Invariants: 0 <= credits_refunded <= credits_charged; done + failed +
-- canceled <= count (the counters are bumped when a work item ends, and the
-- task ends — completed | partial | failed | canceled — when they reach count);
-- notified_at is set once, by the compare-and-set that sends the WeChat
-- template message. idempotency_key (the client's Idempotency-Key) is unique
-- per user, request_hash lets a replay with a different body answer 409.
-- ---------------------------------------------------------------------------
CREATE TABLE tasks (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           bigint NOT NULL REFERENCES users (id),
    type              text NOT NULL,
    status            text NOT NULL DEFAULT 'queued',
    count             integer NOT NULL,
    price             bigint NOT NULL,
    credits_charged   bigint NOT NULL DEFAULT 0,
    credits_refunded  bigint NOT NULL DEFAULT 0,
    done              integer NOT NULL DEFAULT 0,
    failed            integer NOT NULL DEFAULT 0,
    canceled          integer NOT NULL DEFAULT 0,
    scene_id          bigint NULL REFERENCES scenes (id),
    asset_ids         bigint[] NOT NULL DEFAULT '{}',
    person_asset_id   bigint NULL REFERENCES assets (id),
    garment_asset_id  bigint NULL REFERENCES assets (id),
    params            jsonb NOT NULL DEFAULT '{}',
    prompt            text NOT NULL DEFAULT '',
    negative_prompt   text NOT NULL DEFAULT '',
    idempotency_key   text NULL,
    request_hash      text NULL,
    notified_at       timestamptz NULL,
    finished_at       timestamptz NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tasks_type_check CHECK (type IN ('photography', 'fitting')),
    CONSTRAINT tasks_status_check CHECK (status IN
        ('queued', 'running', 'completed', 'partial', 'failed', 'canceled')),
    CONSTRAINT tasks_count_check CHECK (count BETWEEN 1 AND 50),
    CONSTRAINT tasks_price_check CHECK (price >= 0),
    CONSTRAINT tasks_credits_check CHECK (credits_charged >= 0
        AND credits_refunded >= 0 AND credits_refunded <= credits_charged),
    CONSTRAINT tasks_counters_check CHECK (done >= 0 AND failed >= 0 AND canceled >= 0
        AND done + failed + canceled <= count),
    CONSTRAINT tasks_photography_inputs CHECK (type <> 'photography'
        OR (scene_id IS NOT NULL AND cardinality(asset_ids) <= 10)),
    CONSTRAINT tasks_fitting_inputs CHECK (type <> 'fitting'
        OR (person_asset_id IS NOT NULL AND garment_asset_id IS NOT NULL)),
    CONSTRAINT tasks_params_object CHECK (jsonb_typeof(params) = 'object'),
    CONSTRAINT tasks_idempotency_key_len CHECK (idempotency_key IS NULL
        OR char_length(idempotency_key) BETWEEN 1 AND 64),
    CONSTRAINT tasks_user_idempotency_key UNIQUE (user_id, idempotency_key)
);
CREATE INDEX tasks_user_idx ON tasks (user_id, id DESC);
CREATE INDEX tasks_user_status_idx ON tasks (user_id, status, id DESC);
CREATE INDEX tasks_status_idx ON tasks (status, id DESC);
CREATE TRIGGER tasks_touch BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

-- ---------------------------------------------------------------------------
-- works — one image of a task; the unit the dispatcher claims.
-- Life: queued → running (claim: attempt+1, lease_until set) → succeeded |
-- failed | back to queued (retry with run_after in the future, or rescue of an
-- expired lease by compare-and-set on attempt); queued → canceled by the user.
-- Claim:  … WHERE status='queued' AND run_after <= now()
--           ORDER BY priority, id FOR UPDATE SKIP LOCKED LIMIT n
--         (backed by works_claim_idx).
-- Fencing: every write after the claim is
--         … WHERE id=$1 AND attempt=$claimed AND status='running'.
-- provider_job_id (async providers) is stored before polling so a rescued
-- item re-polls instead of submitting (and paying) twice; ai_model_id is the
-- model that holds that job. provider_result_url is the provider's
-- (expiring) result URL until the image is copied into the media store;
-- image_url / thumb_url are our own URLs. A failed item is refunded exactly
-- once, in the transaction that marks it failed (ledger key
-- 'refund:work:<id>'; refunded_at mirrors it).
-- user_id and type are copies of the task's, so the owner-scoped lists
-- (GET /works?tab=…) need no join. task_id is NULL only for works imported
-- from the cloud database (legacy_id set). Soft delete: deleted_at.
-- No CHECK ties attempt to max_attempts: the dispatcher enforces the limit,
-- and a CHECK would let one bad row abort a whole batch claim.
-- ---------------------------------------------------------------------------
CREATE TABLE works (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id              bigint NULL REFERENCES tasks (id),
    user_id              bigint NOT NULL REFERENCES users (id),
    type                 text NOT NULL,
    status               text NOT NULL DEFAULT 'queued',
    scene_id             bigint NULL REFERENCES scenes (id),
    priority             integer NOT NULL DEFAULT 100,
    attempt              integer NOT NULL DEFAULT 0,
    max_attempts         integer NOT NULL DEFAULT 3,
    run_after            timestamptz NOT NULL DEFAULT now(),
    lease_until          timestamptz NULL,
    locked_by            text NULL,
    ai_model_id          bigint NULL REFERENCES ai_models (id) ON DELETE SET NULL,
    provider_job_id      text NULL,
    provider_result_url  text NULL,
    image_url            text NULL,
    thumb_url            text NULL,
    error_code           text NULL,
    error                text NULL,
    is_favorite          boolean NOT NULL DEFAULT false,
    started_at           timestamptz NULL,
    finished_at          timestamptz NULL,
    refunded_at          timestamptz NULL,
    deleted_at           timestamptz NULL,
    legacy_id            text NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT works_type_check CHECK (type IN ('photography', 'fitting')),
    CONSTRAINT works_status_check CHECK (status IN
        ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    CONSTRAINT works_attempt_check CHECK (attempt >= 0),
    CONSTRAINT works_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 100),
    CONSTRAINT works_running_has_lease CHECK (status <> 'running' OR lease_until IS NOT NULL),
    CONSTRAINT works_succeeded_has_image CHECK (status <> 'succeeded' OR image_url IS NOT NULL),
    CONSTRAINT works_task_or_legacy CHECK (task_id IS NOT NULL OR legacy_id IS NOT NULL),
    CONSTRAINT works_legacy_id_key UNIQUE (legacy_id)
);
-- dispatcher: claim due items in priority order; rescue expired leases
CREATE INDEX works_claim_idx ON works (priority, id) WHERE status = 'queued';
CREATE INDEX works_lease_idx ON works (lease_until) WHERE status = 'running';
-- owner lists (tabs all / photography / fitting / favorite), newest first
CREATE INDEX works_user_idx ON works (user_id, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX works_user_type_idx ON works (user_id, type, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX works_user_favorite_idx ON works (user_id, id DESC)
    WHERE is_favorite AND deleted_at IS NULL;
-- a task's items (progress, cancel, completion)
CREATE INDEX works_task_idx ON works (task_id, id);
CREATE TRIGGER works_touch BEFORE UPDATE ON works
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

-- ---------------------------------------------------------------------------
-- system_config — runtime settings editable by admins (GET/PUT
-- /admin/config/:key): 'pricing' (credits per image by type), 'checkin',
-- 'invite', 'backend_config' (gray release), … Keys are lower snake case.
-- ---------------------------------------------------------------------------
CREATE TABLE system_config (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    updated_by  bigint NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT system_config_key_check CHECK (key ~ '^[a-z][a-z0-9_]{0,63}$')
);
CREATE TRIGGER system_config_touch BEFORE UPDATE ON system_config
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

-- ---------------------------------------------------------------------------
-- admins — operator accounts for /admin/*.
-- password_hash is a self-describing KDF string (scrypt or argon2id with its
-- parameters and salt); never a plain or fast hash. failed_logins counts
-- consecutive failures and is reset on success; locked_until, when in the
-- future, refuses logins (429). Usernames are unique case-insensitively.
-- ---------------------------------------------------------------------------
CREATE TABLE admins (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       text NOT NULL,
    password_hash  text NOT NULL,
    disabled       boolean NOT NULL DEFAULT false,
    failed_logins  integer NOT NULL DEFAULT 0,
    locked_until   timestamptz NULL,
    last_login_at  timestamptz NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT admins_username_key UNIQUE (username),
    CONSTRAINT admins_username_check CHECK (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    CONSTRAINT admins_password_hash_check CHECK (char_length(password_hash) >= 20),
    CONSTRAINT admins_failed_logins_check CHECK (failed_logins >= 0)
);
CREATE UNIQUE INDEX admins_username_lower_key ON admins (lower(username));
CREATE TRIGGER admins_touch BEFORE UPDATE ON admins
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

ALTER TABLE system_config
    ADD CONSTRAINT system_config_updated_by_fkey
    FOREIGN KEY (updated_by) REFERENCES admins (id) ON DELETE SET NULL;

-- ---------------------------------------------------------------------------
-- events — client analytics (POST /events). user_id is set when the request
-- carried a valid user token. name is 1–64 characters, props a JSON object.
-- Write-mostly; the BRIN index serves time-range reads and pruning.
-- ---------------------------------------------------------------------------
CREATE TABLE events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NULL REFERENCES users (id) ON DELETE SET NULL,
    name        text NOT NULL,
    props       jsonb NOT NULL DEFAULT '{}',
    ip          text NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_name_check CHECK (char_length(name) BETWEEN 1 AND 64),
    CONSTRAINT events_props_object CHECK (jsonb_typeof(props) = 'object')
);
CREATE INDEX events_created_brin ON events USING brin (created_at);
CREATE INDEX events_user_idx ON events (user_id, id DESC) WHERE user_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- idempotency_keys — stored answers for client Idempotency-Key headers
-- (POST /tasks/*, /credits/consume, /payment/create-order).
-- One row per (user_id, key). request_hash is the sha256 hex of route + body:
-- a replay with the same hash gets response_status/response_body back
-- verbatim, a different hash answers 409 IDEMPOTENCY_MISMATCH.
-- Preferably the row, answer included, is written in the same transaction as
-- the effect, so a committed effect always has its stored answer; a concurrent
-- repeat then waits on the primary key and reads that answer. A row with
-- response_status NULL (for flows that store the answer in a later step)
-- means the first request is still in flight or died before answering.
-- completed_at is informative (when the answer was stored).
-- Rows older than 24 h may be pruned (created_at index).
-- ---------------------------------------------------------------------------
CREATE TABLE idempotency_keys (
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key              text NOT NULL,
    route            text NOT NULL DEFAULT '',
    request_hash     text NOT NULL,
    response_status  integer NULL,
    response_body    text NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, key),
    CONSTRAINT idempotency_keys_key_len CHECK (char_length(key) BETWEEN 1 AND 64),
    CONSTRAINT idempotency_keys_hash_format CHECK (request_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT idempotency_keys_status_check CHECK (response_status IS NULL
        OR response_status BETWEEN 100 AND 599)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- ---------------------------------------------------------------------------
-- wechat_messages — Official Account pushes already processed, so WeChat's
-- retries (it re-sends after 5 s, three times) are handled once.
-- msg_key is '<appid>:<MsgId>' for messages, or
-- '<appid>:<FromUserName>:<CreateTime>:<Event>' for events without MsgId;
-- INSERT … ON CONFLICT DO NOTHING tells a first delivery from a retry.
-- Rows older than a day may be pruned (created_at index).
-- ---------------------------------------------------------------------------
CREATE TABLE wechat_messages (
    msg_key     text PRIMARY KEY,
    msg_type    text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wechat_messages_msg_key_len CHECK (char_length(msg_key) BETWEEN 1 AND 300)
);
CREATE INDEX wechat_messages_created_idx ON wechat_messages (created_at);
