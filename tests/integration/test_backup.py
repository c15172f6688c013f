"""Backups that restore: `aiphotoctl backup` of the running stack (users, ledger, orders,
works, uploads, admins and their audit), restored with `aiphotoctl restore` into a fresh
PostgreSQL cluster of its own, compared table by table; retention; a damaged dump and a
database that is down (docs/backup.md)."""

import json
import os
import pathlib
import shutil
import struct
import subprocess
import tempfile
import uuid
import zlib

import pytest

from adminkit import admin_token, new_admin
from conftest import CTL, REPO, require_env

NAME_LEN = len("20261205T001014.123Z")


def ctl_env(**override):
    env = dict(os.environ)
    env.update(override)
    return env


def run_ctl(*args, env=None, timeout=120):
    return subprocess.run([str(CTL), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env or os.environ.copy())


def png(seed):
    """A small valid PNG of its own colour (so its hash, and media file, is new)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    w = h = 8
    raw = b"".join(b"\x00" + bytes(seed[:3]) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def backups_in(d):
    return sorted(p.name for p in pathlib.Path(d).iterdir()
                  if len(p.name) == NAME_LEN and p.name[8] == "T")


class Cluster:
    """A throwaway PostgreSQL cluster: unix socket only, in a directory of its own (the
    cluster owner is `postgres` when the tests run as root, as in scripts/stack)."""

    def __init__(self):
        bins = sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not bins:
            pytest.skip("no PostgreSQL server binaries (scripts/deps installs them)")
        self.bin = bins[-1].parent
        # /var/tmp: `postgres` must reach it when we are root
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="aiphoto-restore-", dir="/var/tmp"))
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.pg(str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-A", "trust",
                "-U", "postgres", "--no-locale", "-E", "UTF8")
        with open(self.dir / "data" / "postgresql.conf", "a") as f:
            f.write(f"\nlisten_addresses = ''\nunix_socket_directories = '{self.dir}'\n")
        self.pg(str(self.bin / "pg_ctl"), "start", "-D", str(self.dir / "data"), "-l",
                str(self.dir / "server.log"), "-w", "-t", "30", "-s")
        self.url = f"postgresql:///aiphoto?host={self.dir}&user=postgres"
        self.psql_raw("postgres", "CREATE DATABASE aiphoto")

    def pg(self, *args):
        cmd = ["runuser", "-u", "postgres", "--", *args] if self.root else list(args)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd="/")
        assert proc.returncode == 0, f"{args[0]}: {proc.stdout}{proc.stderr}"

    def psql_raw(self, db, sql):
        proc = subprocess.run(["psql", f"postgresql:///{db}?host={self.dir}&user=postgres",
                               "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def stop(self):
        subprocess.run((["runuser", "-u", "postgres", "--"] if self.root else []) +
                       [str(self.bin / "pg_ctl"), "stop", "-D", str(self.dir / "data"),
                        "-m", "immediate", "-w", "-s"], capture_output=True, timeout=60,
                       cwd="/")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster():
    c = Cluster()
    yield c
    c.stop()


def dump_tables(url):
    """{table or sequence: sorted rows as COPY text} of every relation of schema public."""
    def psql(sql):
        proc = subprocess.run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    rels = psql("SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
                "AND c.relkind IN ('r', 'p', 'S') ORDER BY 1").split()
    out = {}
    for item in rels:
        name, kind = item.split("|")
        if kind == "S":
            out[name] = psql(f'SELECT last_value, is_called FROM "{name}"')
        else:
            out[name] = sorted(psql(f'COPY (SELECT * FROM "{name}") TO STDOUT').splitlines())
    return out


@pytest.fixture
def filled(client, expect_ok, make_user, token_for, psql):
    """Rows in every table the money and the work live in: users with ledger entries, a paid
    order, an upload (a media file) and a task with its works, admins and their audit."""
    uid = make_user(nickname="备份-" + uuid.uuid4().hex[:6], credits=120)
    tok = token_for(uid)
    expect_ok(client.post("/credits/consume", token=tok, json={"amount": 7},
                          headers={"Idempotency-Key": str(uuid.uuid4())}))
    # a paid order and one still open, as the Pay notify and create-order leave them
    tag = uuid.uuid4().hex[:16]
    psql("INSERT INTO orders (out_trade_no, user_id, amount_fen, credits, appid, mchid, status, "
         "transaction_id, trade_state, paid_at) SELECT 'BK' || s || '" + tag + "', " +
         str(uid) + ", 600 * s, 60 * s, 'wxbk', '1900000109', "
         "CASE s WHEN 1 THEN 'paid' ELSE 'created' END, "
         "CASE s WHEN 1 THEN 'T" + tag + "' END, CASE s WHEN 1 THEN 'SUCCESS' END, "
         "CASE s WHEN 1 THEN now() END FROM generate_series(1, 2) s")
    seed = uuid.uuid4().bytes
    asset = expect_ok(client.request("POST", "/uploads", token=tok,
                                     headers={"Content-Type": "image/png"}, data=png(seed)), 201)
    expect_ok(client.post("/tasks/photography", token=tok,
                          json={"scene_id": 1, "asset_ids": [asset["asset_id"]], "count": 1}),
              202)
    owner = new_admin("owner", prefix="bk")
    expect_ok(client.post(f"/admin/users/{uid}/credits", token=admin_token(owner["id"]),
                          json={"delta": 5, "memo": "backup test"},
                          headers={"Idempotency-Key": str(uuid.uuid4())}))
    for table in ("users", "credit_ledger", "orders", "works", "assets", "admin_audit"):
        assert int(psql(f"SELECT count(*) FROM {table}")[0][0]) > 0, table
    return uid


def test_backup_restores_every_table_into_a_fresh_cluster(filled, cluster, tmp_path):
    src = require_env("DATABASE_URL")
    media = pathlib.Path(require_env("MEDIA_DIR"))
    before = dump_tables(src)
    proc = run_ctl("backup", "--dir", str(tmp_path / "b"), "--with-media")
    assert proc.returncode == 0, proc.stderr
    names = backups_in(tmp_path / "b")
    assert len(names) == 1 and proc.stdout.strip().startswith(f"backup {tmp_path}/b/{names[0]}")
    bdir = tmp_path / "b" / names[0]
    assert sorted(p.name for p in bdir.iterdir()) == \
        ["db.dump", "manifest.json", "media", "media-manifest.tsv"]
    assert dump_tables(src) == before, "the stack changed during the test"

    # the manifest: the schema level, sizes and checksums of what it names
    m = json.loads((bdir / "manifest.json").read_text())
    level = int(run_psql_value(src, "SELECT max(version) FROM schema_migrations"))
    assert m["format"] == 1 and m["migration_level"] == level
    assert m["database"]["bytes"] == (bdir / "db.dump").stat().st_size
    # the media list is every file of the store, with its size and hash
    lines = (bdir / "media-manifest.tsv").read_text().splitlines()
    files = sorted(str(p.relative_to(media)) for p in media.rglob("*")
                   if p.is_file() and not p.name.startswith("."))
    assert [ln.split("\t")[0] for ln in lines] == files and files
    for ln in lines:
        rel, size, sha = ln.split("\t")
        assert int(size) == (media / rel).stat().st_size
        if len(pathlib.Path(rel).name) == 64 + 4 and rel.endswith(".png"):
            assert pathlib.Path(rel).name.startswith(sha)  # content-addressed
    assert m["media"]["files"] == len(files)

    proc = run_ctl("backup", "--verify", str(bdir))
    assert proc.returncode == 0, proc.stderr

    restored_media = tmp_path / "media"
    env = ctl_env(DATABASE_URL=cluster.url, MEDIA_DIR=str(restored_media))
    proc = run_ctl("restore", str(bdir), env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"migration level {level}" in proc.stdout
    after = dump_tables(cluster.url)
    assert sorted(after) == sorted(before) and len(before) > 20
    for name in before:
        assert after[name] == before[name], f"{name} differs after the restore"
    # the ledger invariant holds on the restored database
    proc = run_ctl("audit", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for rel in files:
        assert (restored_media / rel).read_bytes() == (media / rel).read_bytes()

    # a second restore into the same, now full, database is refused and changes nothing
    proc = run_ctl("restore", str(bdir), env=env)
    assert proc.returncode == 1 and "not empty" in proc.stderr
    assert dump_tables(cluster.url) == after
    # unless asked to clean first
    proc = run_ctl("restore", str(bdir), "--clean", env=env)
    assert proc.returncode == 0, proc.stderr
    assert dump_tables(cluster.url) == after


def run_psql_value(url, sql):
    proc = subprocess.run(["psql", url, "-XAtq", "-c", sql], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_restore_refuses_a_damaged_backup(cluster, tmp_path):
    proc = run_ctl("backup", "--dir", str(tmp_path / "b"))
    assert proc.returncode == 0, proc.stderr
    bdir = tmp_path / "b" / backups_in(tmp_path / "b")[0]
    good = tmp_path / "good"
    shutil.copytree(bdir, good)
    dump = bytearray((bdir / "db.dump").read_bytes())
    dump[len(dump) // 2] ^= 0xFF
    (bdir / "db.dump").write_bytes(bytes(dump))
    env = ctl_env(DATABASE_URL=cluster.url, MEDIA_DIR=str(tmp_path / "media"))
    proc = run_ctl("restore", str(bdir), env=env)
    assert proc.returncode == 1
    assert "db.dump is damaged" in proc.stderr and "refused" in proc.stderr
    assert run_ctl("backup", "--verify", str(bdir)).returncode == 1
    # nothing was restored
    assert run_psql_value(cluster.url, "SELECT count(*) FROM pg_tables "
                          "WHERE schemaname = 'public'") == "0"
    # a backup without its manifest is no backup
    (bdir / "manifest.json").unlink()
    proc = run_ctl("restore", str(bdir), env=env)
    assert proc.returncode == 1 and "not a complete backup" in proc.stderr
    # a manifest naming another schema level than the dump holds: said, exit 1
    m = json.loads((good / "manifest.json").read_text())
    m["migration_level"] += 1
    (good / "manifest.json").write_text(json.dumps(m))
    proc = run_ctl("restore", str(good), env=env)
    assert proc.returncode == 1 and "the backup's is" in proc.stderr, proc.stderr


def test_restore_refuses_a_database_that_is_not_empty(tmp_path, psql):
    proc = run_ctl("backup", "--dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    users = psql("SELECT count(*) FROM users")
    proc = run_ctl("restore", str(tmp_path / backups_in(tmp_path)[0]))
    assert proc.returncode == 1 and "not empty" in proc.stderr
    assert psql("SELECT count(*) FROM users") == users


def test_retention_keeps_the_newest_complete_backups(tmp_path):
    (tmp_path / ".partial-20000101T000000.000Z").mkdir()  # a run that died
    (tmp_path / "notes.txt").write_text("not a backup\n")
    made = []
    for _ in range(3):
        proc = run_ctl("backup", "--dir", str(tmp_path), "--keep", "2")
        assert proc.returncode == 0, proc.stderr
        made.append(backups_in(tmp_path)[-1])
    assert backups_in(tmp_path) == made[1:]
    assert "removed old backup" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        made[1:] + [".lock", "notes.txt"])
    for bad in ("0", "-1", "x"):
        proc = run_ctl("backup", "--dir", str(tmp_path), "--keep", bad)
        assert proc.returncode == 2, bad
    assert backups_in(tmp_path) == made[1:]


def test_backup_with_the_database_down_writes_nothing(tmp_path):
    env = ctl_env(DATABASE_URL=f"postgresql:///aiphoto?host={tmp_path}/nowhere&user=postgres")
    proc = run_ctl("backup", "--dir", str(tmp_path / "b"), env=env)
    assert proc.returncode == 1
    assert "cannot read the database" in proc.stderr and "no backup was written" in proc.stderr
    assert not (tmp_path / "b").exists()


def test_a_failing_pg_dump_leaves_no_partial_backup(tmp_path):
    # a pg_dump that writes half a file and fails, as when the server goes away mid-dump
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pg_dump").write_text("#!/bin/sh\nfor a; do f=$a; done\necho half > \"$f\"\n"
                                  "echo 'pg_dump: error: connection lost' >&2\nexit 1\n")
    (fake / "pg_dump").chmod(0o755)
    env = ctl_env(PATH=f"{fake}:{os.environ['PATH']}")
    proc = run_ctl("backup", "--dir", str(tmp_path / "b"), env=env)
    assert proc.returncode == 1
    assert "pg_dump failed" in proc.stderr and "no backup was written" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [".lock"]


def test_pg_dump_gets_no_password_on_its_command_line(tmp_path):
    # the connection reaches pg_dump through libpq's environment, never its arguments (which
    # anyone on the host sees in ps); trust authentication lets the check pass with any password
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pg_dump").write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\n"
                                  f"env | grep '^PG' | sort > {tmp_path}/env\nexit 1\n")
    (fake / "pg_dump").chmod(0o755)
    url = require_env("DATABASE_URL") + "&password=s3cret-pw-" + uuid.uuid4().hex
    env = ctl_env(PATH=f"{fake}:{os.environ['PATH']}", DATABASE_URL=url)
    proc = run_ctl("backup", "--dir", str(tmp_path / "b"), env=env)
    assert proc.returncode == 1 and "pg_dump failed" in proc.stderr
    args = (tmp_path / "args").read_text()
    assert "s3cret-pw" not in args and "postgres" not in args and "--format=custom" in args
    child = dict(ln.split("=", 1) for ln in (tmp_path / "env").read_text().splitlines())
    assert child["PGPASSWORD"] == url.rsplit("=", 1)[1]
    assert child["PGDATABASE"] == "aiphoto" and child["PGUSER"] == "postgres"
    assert "s3cret-pw" not in proc.stderr + proc.stdout


def test_usage_errors():
    for args in (["backup", "--bogus"], ["backup", "--keep"], ["restore"],
                 ["restore", "a", "b"], ["restore", "--clean"]):
        assert run_ctl(*args).returncode == 2, args


def test_systemd_units_and_cron_line(tmp_path):
    unit = REPO / "systemd" / "aiphoto-backup.service"
    timer = REPO / "systemd" / "aiphoto-backup.timer"
    cron = REPO / "systemd" / "aiphoto-backup.cron"
    settings = dict(ln.split("=", 1) for ln in unit.read_text().splitlines()
                    if "=" in ln and not ln.startswith("#"))
    command = "/usr/bin/aiphotoctl backup --dir /var/backups/aiphoto --keep 14"
    assert settings["ExecStart"] == command and settings["Type"] == "oneshot"
    assert settings["ReadWritePaths"] == "/var/backups/aiphoto"
    assert settings["UMask"] == "0077" and settings["ProtectSystem"] == "strict"
    assert "OnCalendar=" in timer.read_text() and "Persistent=true" in timer.read_text()
    jobs = [ln for ln in cron.read_text().splitlines() if ln and not ln.startswith(("#", "S", "P"))]
    assert len(jobs) == 1 and f"exec {command}'" in jobs[0] and jobs[0].split()[5] == "aiphoto"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # the settings above are checked; verify needs systemd (scripts/deps: optional)
    # as test_ops does: the programs this host lacks become /bin/true
    for f in (unit, timer):
        text = f.read_text().replace("/usr/bin/aiphotoctl", "/bin/true")
        (tmp_path / f.name).write_text(text)
    proc = subprocess.run([analyze, "verify", str(tmp_path / timer.name),
                           str(tmp_path / unit.name)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    mentions = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "aiphoto-backup" in ln]
    assert proc.returncode == 0 and not mentions, proc.stdout + proc.stderr


def test_one_backup_at_a_time_per_directory(tmp_path):
    import fcntl
    tmp_path.chmod(0o700)
    with open(tmp_path / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a run in progress holds it
        proc = run_ctl("backup", "--dir", str(tmp_path), "--keep", "1")
        assert proc.returncode == 1 and "another backup" in proc.stderr
        assert backups_in(tmp_path) == []
    proc = run_ctl("backup", "--dir", str(tmp_path), "--keep", "1")
    assert proc.returncode == 0, proc.stderr
    assert len(backups_in(tmp_path)) == 1
