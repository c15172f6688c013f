-- 0014 — telling users a task ended through the app they used, once; the one-time
-- subscriptions of the mini program; the content-safety verdicts of uploaded images.
--
-- tasks.channel: the app the task was created from ('oa' Official Account H5 pages, 'mp' the
-- mini program, 'web' QR login), as the token of the request said; tasks created before this
-- migration (and requests whose token names no channel) count as 'oa'. The dispatcher tells
-- a user of an 'mp' task with a mini-program subscribe message, of another task with an OA
-- template message, and falls back to the other app when the first cannot reach the user.
--
-- notify_outbox: the notice of an ended task, one row per (task, channel), written in the
-- transaction that marks the task notified (tasks.notified_at), so an ended task gets exactly
-- one row and no notice is lost between the two. Life of a row:
--   pending  → sending (claimed by one dispatcher run: FOR UPDATE SKIP LOCKED, attempt + 1,
--              lease_until, committed before the call to WeChat)
--   sending  → sent    (WeChat answered errcode 0)
--            → pending (a passing failure: 5xx, timeout, errcode -1 or 45009; run_after moves
--                       on with back-off) — fenced on (id, attempt, status 'sending')
--            → failed  (WeChat refused for good: 43101, 40037, 47003, …; or attempts spent)
--            → unknown (the lease expired: the run died between claiming and recording; the
--                       notice may or may not have reached the user and is NOT sent again)
--   skipped: nothing could be sent (no binding, no accepted subscription, no template); kept
--            so that the reason is on record.
-- At most once: a row is sent only by the run that claimed it, and a crash after WeChat's
-- answer but before our commit leaves it 'unknown' rather than sending it twice.
--
-- user_subscriptions: what the user accepted in wx.requestSubscribeMessage (POST
-- /user/subscriptions), per template. Mini-program subscriptions are one-time: each accept
-- allows one message, so remaining counts them; a subscribe message reserves one when its
-- outbox row is written, gives it back when WeChat refuses the message for a reason that
-- spent nothing (40037, 47003), and 43101 (the user refused or has none left) sets it to 0.
--
-- assets.check_*: WeChat's media_check_async verdict on an upload (where content checks are
-- enabled): check_status NULL = never checked, 'pending' (check_trace_id names the check),
-- then 'pass' | 'review' | 'risky' once the verdict push arrives (applied once: only a
-- pending row with that trace id changes), or 'error' (the check could not be made). A
-- 'risky' asset is refused as a task input.
--
-- media_checks: every verdict push, once per trace_id (a repeated push inserts nothing and
-- changes nothing). A verdict that arrives before its upload has recorded the trace (the
-- push can beat the upload's commit) waits here and is applied by the statement that
-- records the trace; both take the same advisory lock on the trace id.

ALTER TABLE tasks
    ADD COLUMN channel text NOT NULL DEFAULT 'oa',
    ADD CONSTRAINT tasks_channel_check CHECK (channel IN ('oa', 'mp', 'web'));

CREATE TABLE notify_outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id      bigint NOT NULL REFERENCES tasks (id),
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel      text NOT NULL,
    touser       text NULL,
    template_id  text NULL,
    status       text NOT NULL DEFAULT 'pending',
    attempt      integer NOT NULL DEFAULT 0,
    run_after    timestamptz NOT NULL DEFAULT now(),
    lease_until  timestamptz NULL,
    errcode      bigint NULL,
    error        text NULL,
    sent_at      timestamptz NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notify_outbox_task_channel_key UNIQUE (task_id, channel),
    CONSTRAINT notify_outbox_channel_check CHECK (channel IN ('oa', 'mp')),
    CONSTRAINT notify_outbox_status_check CHECK (status IN
        ('pending', 'sending', 'sent', 'failed', 'unknown', 'skipped')),
    CONSTRAINT notify_outbox_attempt_check CHECK (attempt >= 0),
    CONSTRAINT notify_outbox_sendable CHECK (status = 'skipped'
        OR (touser IS NOT NULL AND template_id IS NOT NULL)),
    CONSTRAINT notify_outbox_sending_has_lease CHECK (status <> 'sending'
        OR lease_until IS NOT NULL)
);
CREATE INDEX notify_outbox_due_idx ON notify_outbox (run_after, id) WHERE status = 'pending';
CREATE INDEX notify_outbox_lease_idx ON notify_outbox (lease_until) WHERE status = 'sending';
CREATE INDEX notify_outbox_user_idx ON notify_outbox (user_id);
CREATE TRIGGER notify_outbox_touch BEFORE UPDATE ON notify_outbox
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

CREATE TABLE user_subscriptions (
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    template_id  text NOT NULL,
    remaining    integer NOT NULL DEFAULT 0,
    accepted     bigint NOT NULL DEFAULT 0,
    rejected     bigint NOT NULL DEFAULT 0,
    last_result  text NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, template_id),
    CONSTRAINT user_subscriptions_template_check CHECK (template_id ~ '^[A-Za-z0-9_-]{1,128}$'),
    CONSTRAINT user_subscriptions_remaining_check CHECK (remaining BETWEEN 0 AND 100),
    CONSTRAINT user_subscriptions_result_check CHECK (last_result IS NULL
        OR last_result IN ('accept', 'reject', 'refused'))
);
CREATE TRIGGER user_subscriptions_touch BEFORE UPDATE ON user_subscriptions
    FOR EACH ROW EXECUTE FUNCTION aiphoto_touch_updated_at();

ALTER TABLE assets
    ADD COLUMN check_status text NULL,
    ADD COLUMN check_trace_id text NULL,
    ADD COLUMN check_label text NULL,
    ADD COLUMN checked_at timestamptz NULL,
    ADD CONSTRAINT assets_check_status_check CHECK (check_status IS NULL
        OR check_status IN ('pending', 'pass', 'review', 'risky', 'error')),
    ADD CONSTRAINT assets_check_pending_has_trace CHECK (check_status IS DISTINCT FROM 'pending'
        OR check_trace_id IS NOT NULL),
    ADD CONSTRAINT assets_check_trace_len CHECK (check_trace_id IS NULL
        OR char_length(check_trace_id) BETWEEN 1 AND 128);
CREATE UNIQUE INDEX assets_check_trace_idx ON assets (check_trace_id)
    WHERE check_trace_id IS NOT NULL;

CREATE TABLE media_checks (
    trace_id     text PRIMARY KEY,
    suggest      text NULL,
    label        text NULL,
    errcode      bigint NOT NULL DEFAULT 0,
    received_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT media_checks_trace_len CHECK (char_length(trace_id) BETWEEN 1 AND 128),
    CONSTRAINT media_checks_suggest_check CHECK (suggest IS NULL
        OR suggest IN ('pass', 'review', 'risky')),
    CONSTRAINT media_checks_label_len CHECK (label IS NULL OR char_length(label) <= 64),
    CONSTRAINT media_checks_verdict CHECK (suggest IS NOT NULL OR errcode <> 0)
);
