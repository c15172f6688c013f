-- 0008 — a notification when an account's status changes or the account is deleted.
--
-- Each API worker remembers, for a while, which users it has found active (model/users.c,
-- users_active), so that a user request costs one statement instead of two. The worker
-- LISTENs on the channel 'aiphoto_accounts' on its own connection and forgets everything it
-- remembers as soon as a notification arrives (or its connection is replaced): disabling or
-- deleting a user therefore takes effect at once, in every worker, whoever made the change
-- (the API, aiphotoctl or psql). The payload is the user's id.

CREATE FUNCTION users_account_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aiphoto_accounts', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_status_changed
    AFTER UPDATE OF status ON users
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION users_account_changed();

CREATE TRIGGER users_deleted
    AFTER DELETE ON users
    FOR EACH ROW
    EXECUTE FUNCTION users_account_changed();
