"""aiphotoctl migrate against a scratch database of the running stack's PostgreSQL:
ordered application, idempotence, refusal of edited or missing applied files, and
all-or-nothing application of a broken file."""
import os
import pathlib
import shutil
import subprocess
import uuid

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
CTL = REPO / os.environ.get("AIPHOTO_BUILD", "build") / "aiphotoctl"


def _psql(url, sql):
    proc = subprocess.run(["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture
def scratch_db():
    """A fresh empty database on the stack's server; its URL; dropped afterwards."""
    base = os.environ["DATABASE_URL"]
    name = "mig_" + uuid.uuid4().hex[:10]
    _psql(base, f"CREATE DATABASE {name}")
    # the stack's URL is postgresql:///aiphoto?host=…: swap the database name
    url = base.replace("/aiphoto?", f"/{name}?", 1)
    assert url != base, f"cannot derive a scratch URL from {base}"
    yield url
    _psql(base, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def migrate(url, directory):
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.run([str(CTL), "migrate", "--dir", str(directory)], env=env,
                          capture_output=True, text=True, timeout=60)


def test_migrate_applies_in_order_then_is_a_no_op(scratch_db, tmp_path):
    mig = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", mig)
    files = sorted(p.name for p in mig.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    first = migrate(scratch_db, mig)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == [w for f in files for w in ("applied", f)]
    rows = _psql(scratch_db, "SELECT version || ':' || name || ':' || length(checksum) "
                             "FROM schema_migrations ORDER BY version").split()
    assert rows == [f"{int(f[:4])}:{f}:64" for f in files]
    again = migrate(scratch_db, mig)
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout


def test_migrate_refuses_an_edited_or_missing_applied_file(scratch_db, tmp_path):
    mig = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", mig)
    assert migrate(scratch_db, mig).returncode == 0
    last = sorted(mig.glob("[0-9][0-9][0-9][0-9]_*.sql"))[-1]
    original = last.read_text()
    last.write_text(original + "\n-- an innocent-looking edit\n")
    edited = migrate(scratch_db, mig)
    assert edited.returncode == 1
    assert "edited" in edited.stderr and last.name in edited.stderr
    # CRLF line endings alone are not an edit
    last.write_text(original.replace("\n", "\r\n"))
    assert migrate(scratch_db, mig).returncode == 0
    last.unlink()
    missing = migrate(scratch_db, mig)
    assert missing.returncode == 1
    assert "has no file" in missing.stderr


def test_a_broken_migration_leaves_nothing_behind(scratch_db, tmp_path):
    mig = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", mig)
    assert migrate(scratch_db, mig).returncode == 0
    (mig / "9998_half_done.sql").write_text(
        "CREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES (1);\nSELECT 1/0;\n")
    broken = migrate(scratch_db, mig)
    assert broken.returncode == 1
    assert "9998_half_done.sql" in broken.stderr and "rolled back" in broken.stderr
    assert _psql(scratch_db, "SELECT to_regclass('half_done') IS NULL") == "t"
    assert _psql(scratch_db, "SELECT count(*) FROM schema_migrations WHERE version = 9998") == "0"
    # fixed forward, it applies
    (mig / "9998_half_done.sql").write_text("CREATE TABLE half_done (id int);\n")
    assert migrate(scratch_db, mig).returncode == 0
    assert _psql(scratch_db, "SELECT to_regclass('half_done') IS NOT NULL") == "t"


def test_two_files_with_one_version_are_refused(scratch_db, tmp_path):
    mig = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", mig)
    (mig / "0001_duplicate.sql").write_text("SELECT 1;\n")
    dup = migrate(scratch_db, mig)
    assert dup.returncode == 1
    assert "two files with version 0001" in dup.stderr


def test_seed_says_why_when_no_transaction_begins(tmp_path):
    """With the database unreachable, `seed` names the failure (it used to print a buffer
    nothing had written)."""
    script = tmp_path / "seed.sql"
    script.write_text("SELECT 1;\n")
    env = dict(os.environ, DATABASE_URL="postgresql://127.0.0.1:1/none?connect_timeout=2")
    proc = subprocess.run([str(CTL), "seed", str(script)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert "rolled back: cannot begin a transaction (UNAVAILABLE)" in proc.stderr


def test_0013_keeps_the_orders_made_before_it(scratch_db, tmp_path):
    """Orders made before 0013 may lack an appid (they count as the Official Account's) and
    still change state; the ones made after it must name their app."""
    mig = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", mig)
    later = [p for p in mig.glob("[0-9][0-9][0-9][0-9]_*.sql") if int(p.name[:4]) >= 13]
    held = tmp_path / "held"
    held.mkdir()
    for p in later:
        p.rename(held / p.name)
    assert migrate(scratch_db, mig).returncode == 0
    order = ("INSERT INTO orders (out_trade_no, user_id, amount_fen, credits, appid, mchid) "
             "VALUES ('{}', (SELECT id FROM users LIMIT 1), 600, 60, '', '1900000001')")
    _psql(scratch_db, "INSERT INTO users (nickname) VALUES ('old')")
    _psql(scratch_db, order.format("APOLD000000001"))
    for p in later:
        (held / p.name).rename(p)
    assert migrate(scratch_db, mig).returncode == 0
    _psql(scratch_db, "UPDATE orders SET status = 'closed', closed_at = now() "
                      "WHERE out_trade_no = 'APOLD000000001'")
    proc = subprocess.run(["psql", scratch_db, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                           order.format("APNEW000000001")], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode != 0 and "orders_appid_check" in proc.stderr, proc.stderr
