-- 0015 — admin roles, the admin audit log, admins' own idempotency keys, and the indexes
-- of the admin statistics (docs/admin.md).
--
-- admins.role ranks what an admin may do: viewer < support < operator < owner (lib/role.h;
-- every route of the admin API names the least role it takes). Admins created before roles
-- could do everything: they become owners. New ones are viewers unless told otherwise.
--
-- admins.session_version ends sessions: an admin token carries the version it was issued under
-- (its claim "sv") and is refused once the version moved on. Disabling an admin, changing
-- their role or their password moves it on by one.
--
-- Each API worker remembers the admins it has checked (model/admins.c, like the users of
-- migration 0008) and forgets them all when 'aiphoto_admins' is notified: a change made
-- anywhere (API, aiphotoctl, psql) is seen by the next request of every worker.

ALTER TABLE admins
    ADD COLUMN role text NOT NULL DEFAULT 'owner',
    ADD COLUMN session_version bigint NOT NULL DEFAULT 1,
    ADD CONSTRAINT admins_role_check CHECK (role IN ('owner', 'operator', 'support', 'viewer')),
    ADD CONSTRAINT admins_session_version_check CHECK (session_version >= 1);
ALTER TABLE admins ALTER COLUMN role SET DEFAULT 'viewer';

COMMENT ON COLUMN admins.role IS 'owner | operator | support | viewer (lib/role.h ranks them)';
COMMENT ON COLUMN admins.session_version IS
    'admin tokens carry it (claim sv); moved on by a disable, a role or a password change';

CREATE FUNCTION admins_account_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aiphoto_admins', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER admins_account_updated
    AFTER UPDATE OF disabled, role, session_version, password_hash ON admins
    FOR EACH ROW WHEN (OLD.disabled IS DISTINCT FROM NEW.disabled
        OR OLD.role IS DISTINCT FROM NEW.role
        OR OLD.session_version IS DISTINCT FROM NEW.session_version
        OR OLD.password_hash IS DISTINCT FROM NEW.password_hash)
    EXECUTE FUNCTION admins_account_changed();

CREATE TRIGGER admins_deleted
    AFTER DELETE ON admins
    FOR EACH ROW
    EXECUTE FUNCTION admins_account_changed();

-- ---------------------------------------------------------------------------
-- admin_audit — append-only: one row per admin write, inserted in the transaction of the
-- change itself (model/audit.c, audit_run), so a change and its row commit together or not
-- at all. admin_id is who (NULL for aiphotoctl, run by whoever holds the server); actor is
-- their username at the time. action names what was done ('user.credits', 'scene.update',
-- …), target_type and target_id on what; before and after are JSON snapshots of the target
-- (NULL before a creation, after a deletion); request_id and address come from the request.
-- Rows are never updated or deleted (a trigger refuses both, and TRUNCATE).
-- ---------------------------------------------------------------------------
CREATE TABLE admin_audit (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    admin_id     bigint NULL REFERENCES admins (id),
    actor        text NOT NULL,
    action       text NOT NULL,
    target_type  text NOT NULL,
    target_id    text NULL,
    before       jsonb NULL,
    after        jsonb NULL,
    request_id   text NULL,
    address      text NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT admin_audit_action_check CHECK (action ~ '^[a-z][a-z_-]*\.[a-z][a-z_-]*$'),
    CONSTRAINT admin_audit_target_type_check CHECK (target_type ~ '^[a-z][a-z_-]{0,31}$'),
    CONSTRAINT admin_audit_target_id_len CHECK (char_length(target_id) <= 128),
    CONSTRAINT admin_audit_actor_len CHECK (char_length(actor) BETWEEN 1 AND 64)
);
CREATE INDEX admin_audit_admin_idx ON admin_audit (admin_id, id DESC);
CREATE INDEX admin_audit_target_idx ON admin_audit (target_type, target_id, id DESC);
CREATE INDEX admin_audit_action_idx ON admin_audit (action, id DESC);
CREATE INDEX admin_audit_created_brin ON admin_audit USING brin (created_at);

CREATE FUNCTION aiphoto_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_audit is append-only'
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER admin_audit_no_change BEFORE UPDATE OR DELETE ON admin_audit
    FOR EACH ROW EXECUTE FUNCTION aiphoto_audit_append_only();
CREATE TRIGGER admin_audit_no_truncate BEFORE TRUNCATE ON admin_audit
    FOR EACH STATEMENT EXECUTE FUNCTION aiphoto_audit_append_only();

-- ---------------------------------------------------------------------------
-- admin_idempotency_keys — the Idempotency-Keys of admin requests (POST
-- /admin/users/:id/credits), as idempotency_keys holds users' (migration 0007): one row
-- per (admin, key), what the first request came to, and what it made (the ledger row).
-- ---------------------------------------------------------------------------
CREATE TABLE admin_idempotency_keys (
    admin_id      bigint NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    key           text NOT NULL,
    route         text NOT NULL DEFAULT '',
    request_hash  text NOT NULL,
    outcome       text NULL,
    resource_id   bigint NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz NULL,
    CONSTRAINT admin_idempotency_keys_pkey PRIMARY KEY (admin_id, key),
    CONSTRAINT admin_idempotency_keys_key_len CHECK (char_length(key) BETWEEN 1 AND 64),
    CONSTRAINT admin_idempotency_keys_hash_format CHECK (request_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT admin_idempotency_keys_outcome_format CHECK (outcome IS NULL
        OR outcome ~ '^[A-Z_]{2,32}$')
);
CREATE INDEX admin_idempotency_keys_created_idx ON admin_idempotency_keys (created_at);

-- ---------------------------------------------------------------------------
-- aiphoto_time — a time as the API writes it: RFC 3339 in the business time zone
-- (model/sql.h SQL_TIME says the same inline). The admin API's views are JSON objects
-- built by PostgreSQL (model/view.h), one call per time field.
-- ---------------------------------------------------------------------------
CREATE FUNCTION aiphoto_time(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS"+08:00"')
$$;

-- ---------------------------------------------------------------------------
-- GET /admin/stats reads days of orders, tasks and finished work items: each reads a
-- range of an index instead of its whole table.
-- ---------------------------------------------------------------------------
CREATE INDEX orders_paid_at_idx ON orders (paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX tasks_created_idx ON tasks (created_at);
CREATE INDEX works_finished_idx ON works (finished_at) WHERE finished_at IS NOT NULL;
