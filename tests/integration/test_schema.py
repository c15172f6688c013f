"""Schema constraints, checked black-box against the stack's database.

Every statement runs through `psql "$DATABASE_URL"` inside BEGIN … ROLLBACK, so
nothing is left behind: a violation aborts the session (and with it the
transaction), a clean run ends in ROLLBACK. Values are random per run, so
concurrent runs and existing data cannot collide with them.

Each violation test has a positive twin that runs the same statements minus
the offending one and must succeed; otherwise an unrelated error (a typo, a
missing column) could make the violation test pass by accident.
"""

import os
import re
import shutil
import subprocess
import uuid


def _database_url():
    url = os.environ.get("DATABASE_URL", "")
    assert url, "DATABASE_URL is not set (source the output of `scripts/stack env`)"
    return url


def psql(sql, timeout=30):
    """Run SQL with psql; return (exit code, stdout, stderr).

    VERBOSITY=verbose makes psql print the SQLSTATE in front of the message
    ("ERROR:  23505: duplicate key value …").
    """
    exe = shutil.which("psql")
    assert exe, "psql not found on PATH"
    proc = subprocess.run(
        [exe, "-X", "-q", "-A", "-t",
         "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose",
         "-d", _database_url(), "-c", sql],
        capture_output=True, text=True, timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


def in_tx(*statements):
    return "BEGIN; " + " ".join(s.rstrip().rstrip(";") + ";" for s in statements) + " ROLLBACK;"


def assert_ok(*statements):
    rc, out, err = psql(in_tx(*statements))
    assert rc == 0, "expected success, got rc=%d: %s" % (rc, err.strip())
    return out


def assert_fails(sqlstate, constraint, *statements):
    rc, _, err = psql(in_tx(*statements))
    assert rc != 0, "statements unexpectedly succeeded"
    assert "ERROR:  %s:" % sqlstate in err, "wrong SQLSTATE, stderr: %s" % err.strip()
    if constraint:
        assert constraint in err, "constraint %s not named, stderr: %s" % (constraint, err.strip())


def tag():
    return uuid.uuid4().hex


def new_user(legacy):
    return "INSERT INTO users (nickname, legacy_id) VALUES ('schema-test', '%s')" % legacy


def uid(legacy):
    return "(SELECT id FROM users WHERE legacy_id = '%s')" % legacy


# --------------------------------------------------------------- migrations

def test_schema_migrations_has_version_1_with_sha256():
    rc, out, err = psql("SELECT version::text || '|' || checksum FROM schema_migrations ORDER BY version")
    assert rc == 0, err
    rows = [line.split("|") for line in out.split("\n") if line.strip()]
    versions = {int(v): c for v, c in rows}
    assert 1 in versions, "schema_migrations has no version 1: %r" % rows
    assert re.fullmatch(r"[0-9a-f]{64}", versions[1].strip()), versions[1]


def test_all_tables_exist():
    want = {"users", "wechat_identities", "credit_ledger", "packages", "orders",
            "checkins", "assets", "scenes", "prompt_templates", "ai_models",
            "tasks", "works", "system_config", "admins", "events",
            "idempotency_keys", "wechat_messages", "schema_migrations"}
    rc, out, err = psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert rc == 0, err
    have = {line.strip() for line in out.split("\n") if line.strip()}
    assert want <= have, "missing tables: %s" % sorted(want - have)


# --------------------------------------------------------------------- users

def test_user_credits_cannot_be_negative():
    t = tag()
    assert_ok("INSERT INTO users (nickname, credits, legacy_id) VALUES ('x', 0, '%s')" % t)
    assert_fails("23514", "users_credits_nonnegative",
                 "INSERT INTO users (nickname, credits, legacy_id) VALUES ('x', -1, '%s')" % t)


def test_user_debit_below_zero_fails():
    t = tag()
    assert_fails("23514", "users_credits_nonnegative",
                 "INSERT INTO users (credits, legacy_id) VALUES (5, '%s')" % t,
                 "UPDATE users SET credits = credits - 6 WHERE legacy_id = '%s'" % t)


def test_user_defaults_invite_code_and_status():
    t = tag()
    out = assert_ok(new_user(t),
                    "SELECT invite_code || '|' || status || '|' || credits FROM users "
                    "WHERE legacy_id = '%s'" % t)
    code, status, credits = out.strip().split("|")
    assert re.fullmatch(r"[A-Z0-9]{8}", code), code
    assert status == "active"
    assert credits == "0"


# ---------------------------------------------------------- wechat identity

def test_duplicate_openid_per_appid_fails():
    a, b, openid, appid = tag(), tag(), "o" + tag()[:27], "wx" + tag()[:16]
    ident = ("INSERT INTO wechat_identities (user_id, app_kind, appid, openid) "
             "VALUES (%s, 'oa', '%s', '%s')")
    # same openid under a different appid is fine
    assert_ok(new_user(a), new_user(b),
              ident % (uid(a), appid, openid),
              ident % (uid(b), appid + "x", openid))
    assert_fails("23505", "wechat_identities_appid_openid_key",
                 new_user(a), new_user(b),
                 ident % (uid(a), appid, openid),
                 ident % (uid(b), appid, openid))


# ------------------------------------------------------------------- ledger

def ledger(legacy, key, delta=5, balance=5, kind="admin"):
    return ("INSERT INTO credit_ledger (user_id, delta, balance_after, kind, idempotency_key) "
            "VALUES (%s, %d, %d, '%s', '%s')" % (uid(legacy), delta, balance, kind, key))


def test_duplicate_ledger_idempotency_key_fails():
    t, k = tag(), "test:" + tag()
    assert_ok(new_user(t), ledger(t, k), ledger(t, k + "-2", 5, 10))
    assert_fails("23505", "credit_ledger_idempotency_key_key",
                 new_user(t), ledger(t, k), ledger(t, k, 5, 10))


def test_ledger_rejects_zero_delta_and_negative_balance():
    t = tag()
    assert_fails("23514", "credit_ledger_delta_nonzero",
                 new_user(t), ledger(t, "test:" + tag(), 0, 0))
    assert_fails("23514", "credit_ledger_balance_nonnegative",
                 new_user(t), ledger(t, "test:" + tag(), -1, -1))


def test_ledger_is_append_only():
    t, k = tag(), "test:" + tag()
    assert_fails("23001", "append-only",
                 new_user(t), ledger(t, k),
                 "UPDATE credit_ledger SET memo = 'changed' WHERE idempotency_key = '%s'" % k)


# ------------------------------------------------------------------- orders

def order(legacy, out_trade_no):
    return ("INSERT INTO orders (out_trade_no, user_id, amount_fen, credits, appid, mchid) "
            "VALUES ('%s', %s, 600, 60, 'wxtestapp', '1900000001')" % (out_trade_no, uid(legacy)))


def test_duplicate_out_trade_no_fails():
    t, no = tag(), "T" + tag()[:24]
    assert_ok(new_user(t), order(t, no), order(t, no + "b"))
    assert_fails("23505", "orders_out_trade_no_key",
                 new_user(t), order(t, no), order(t, no))


def test_duplicate_transaction_id_fails():
    t, no, tx = tag(), "T" + tag()[:24], "42" + tag()[:26]
    pay = ("UPDATE orders SET status = 'paid', transaction_id = '%s', paid_at = now() "
           "WHERE out_trade_no = '%s' AND status = 'created'")
    assert_ok(new_user(t), order(t, no), pay % (tx, no))
    assert_fails("23505", "orders_transaction_id_key",
                 new_user(t), order(t, no), order(t, no + "b"),
                 pay % (tx, no), pay % (tx, no + "b"))


def test_order_state_machine():
    t, no, tx = tag(), "T" + tag()[:24], "42" + tag()[:26]
    paid = ("UPDATE orders SET status = 'paid', transaction_id = '%s', paid_at = now() "
            "WHERE out_trade_no = '%s'" % (tx, no))
    closed = "UPDATE orders SET status = 'closed', closed_at = now() WHERE out_trade_no = '%s'" % no
    refunded = "UPDATE orders SET status = 'refunded', refunded_at = now() WHERE out_trade_no = '%s'" % no
    assert_ok(new_user(t), order(t, no), paid, refunded)
    assert_ok(new_user(t), order(t, no), closed)
    # paid without a transaction id is incoherent
    assert_fails("23514", "orders_paid_coherent", new_user(t), order(t, no),
                 "UPDATE orders SET status = 'paid' WHERE out_trade_no = '%s'" % no)
    # paid → closed and closed → paid are not transitions of the machine
    assert_fails("23514", "not allowed", new_user(t), order(t, no), paid, closed)
    assert_fails("23514", "not allowed", new_user(t), order(t, no), closed, paid)


def test_a_new_order_names_its_app():
    """Migration 0013: an order made after it carries an appid of 1-32 characters (an older
    row without one counts as the Official Account's and may still change state)."""
    t, no = tag(), "T" + tag()[:24]
    app = ("INSERT INTO orders (out_trade_no, user_id, amount_fen, credits, appid, mchid) "
           "VALUES ('%s', %s, 600, 60, '%s', '1900000001')")
    assert_ok(new_user(t), app % (no, uid(t), "w" * 32))
    for appid in ("", "w" * 33):
        assert_fails("23514", "orders_appid_check", new_user(t), app % (no, uid(t), appid))


# ----------------------------------------------------------------- checkins

def checkin(legacy, day):
    return ("INSERT INTO checkins (user_id, day, streak, credits_awarded) "
            "VALUES (%s, DATE '%s', 1, 5)" % (uid(legacy), day))


def test_duplicate_checkin_per_day_fails():
    t = tag()
    assert_ok(new_user(t), checkin(t, "2024-05-01"), checkin(t, "2024-05-02"))
    assert_fails("23505", "checkins_pkey",
                 new_user(t), checkin(t, "2024-05-01"), checkin(t, "2024-05-01"))


# ------------------------------------------------------------ idempotency

def test_duplicate_idempotency_key_per_user_fails():
    t, k, h = tag(), tag()[:32], "0" * 64
    row = ("INSERT INTO idempotency_keys (user_id, key, route, request_hash) "
           "VALUES (%s, '%s', 'POST /credits/consume', '%s')")
    assert_ok(new_user(t), row % (uid(t), k, h), row % (uid(t), k + "x", h))
    assert_fails("23505", "idempotency_keys_pkey",
                 new_user(t), row % (uid(t), k, h), row % (uid(t), k, h))


# ------------------------------------------------------------------ events

def test_event_name_length_is_bounded():
    ev = "INSERT INTO events (name, props) VALUES ('%s', '{}')"
    assert_ok(ev % ("e" * 64))
    assert_fails("23514", "events_name_check", ev % ("e" * 65))
