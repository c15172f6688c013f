"""Gray release decided by the server: GET /config/backend and `aiphotoctl gray`.

The hash of an openid must be the mini-program adapter's JavaScript `hashCode` to the bit,
so a client computing it and the server agree.  The table of openids and their hashes,
tests/unit/vectors/gray_hash.json, is checked by the C unit tests (lib/gray) and here,
where Node runs the adapter's own hashCode, taken at test time from the operator's plan
beside the project (../shared/seeds/000_*.txt; not copied into the project: it is the
operator's code), over the same table, and the server's decision for every openid at
several percentages is compared with Node's.  Without that folder or without node, the
comparison with Node is skipped with a message and the decisions are checked against the
table alone.

    /usr/bin/python3 tests/integration/test_gray.py --write-table

writes the table anew from Node (only needed when the openids below change).
"""

import concurrent.futures
import glob
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import wait_database_back

REPO = pathlib.Path(__file__).resolve().parents[2]
CTL = REPO / "build" / "aiphotoctl"
STACK = REPO / "scripts" / "stack"
TABLE = REPO / "tests" / "unit" / "vectors" / "gray_hash.json"
SEEDS = REPO.parent / "shared" / "seeds"
KEY = "backend_config"
PERCENTS = [0, 1, 5, 20, 50, 99, 100]


# --------------------------------------------------------------------------- the table


def table_openids():
    """The openids of the table: the cases that matter, then WeChat-shaped ones."""
    special = [
        "",  # hash 0
        "a", "Aa", "BB",  # Aa and BB collide
        "polygenelubricants", "GydZG_", "DESIGNING WORKHOUSES",  # -2^31: Math.abs keeps 2^31
        "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "oABCDEFGHIJKLMNOPQRSTUVWXYZ0",
        "x" * 128, "oWx" * 42 + "zz", "0123456789" * 12 + "abcdefgh",  # the longest allowed
        "张三", "用户_测试", "é", "ñandú", "Ω≈ç√", "中" * 128,  # BMP, up to 128 characters
        "😀", "o_用户😀", "𠀀𠀁", "a😀b😀c", "🎉" * 64,  # outside the BMP: two code units each
        "a b", "x&y=z", "100%", "o+/=", "#hash?q", "'\"\\",  # survive the query string
        "\u00a0", "\u2028", "\ufeffo", "\uffff",
    ]
    rng = random.Random(20250113)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    wechat = ["o" + "".join(rng.choice(alphabet) for _ in range(27)) for _ in range(200)]
    lengths = ["".join(rng.choice(alphabet) for _ in range(n)) for n in range(1, 40)]
    return special + wechat + lengths


def load_table():
    rows = json.loads(TABLE.read_text(encoding="utf-8"))
    return [(r["openid"], r["hash"]) for r in rows]


def seed_hashcode():
    """The text of the adapter's hashCode method, from the seed, or None."""
    for path in sorted(glob.glob(str(SEEDS / "000_*.txt"))):
        lines = pathlib.Path(path).read_text(encoding="utf-8").split("\n")
        for i, line in enumerate(lines):
            m = re.match(r"^(\s*)hashCode\(str\) \{\s*$", line)
            if not m:
                continue
            for j in range(i + 1, len(lines)):
                if lines[j] == m.group(1) + "}":
                    return "\n".join(lines[i:j + 1])
    return None


def node_hashes(openids):
    """Node's hashes of openids with the seed's own hashCode, or (None, why)."""
    method = seed_hashcode()
    if method is None:
        return None, f"no adapter hashCode in {SEEDS}/000_*.txt"
    node = shutil.which("node")
    if node is None:
        return None, "node is not installed"
    script = ("const adapter = {\n" + method + "\n};\n"
              "const ids = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
              "process.stdout.write(JSON.stringify(ids.map((s) => adapter.hashCode(s))));\n")
    proc = subprocess.run([node, "-e", script], input=json.dumps(openids), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, f"node failed: {proc.stderr}"
    return json.loads(proc.stdout), None


def write_table():
    openids = table_openids()
    hashes, why = node_hashes(openids)
    if hashes is None:
        sys.exit(f"cannot write {TABLE}: {why}")
    lines = [json.dumps({"openid": o, "hash": h}, ensure_ascii=False)
             for o, h in zip(openids, hashes)]
    TABLE.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    print(f"wrote {len(lines)} rows to {TABLE.relative_to(REPO)}")


# --------------------------------------------------------------------------- helpers


def ctl_run(*args, env=None):
    if not CTL.exists():
        pytest.fail(f"{CTL.relative_to(REPO)} is missing: run `make` first", pytrace=False)
    return subprocess.run([str(CTL), *args], capture_output=True, text=True, errors="replace",
                          timeout=30, cwd=REPO, env=env)


def gray_set(*args):
    """`aiphotoctl gray set ARGS` must succeed; returns the document it printed."""
    proc = ctl_run("gray", "set", *args)
    assert proc.returncode == 0, f"gray set {args}: {proc.returncode} {proc.stderr}"
    return json.loads(proc.stdout)


@pytest.fixture
def backend_config(psql):
    """Saves backend_config and puts it back (or removes it) after the test."""
    rows = psql(f"SELECT value::text FROM system_config WHERE key = '{KEY}'")
    yield
    if rows:
        saved = rows[0][0].replace("'", "''")
        psql(f"INSERT INTO system_config (key, value) VALUES ('{KEY}', '{saved}') "
             f"ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
    else:
        psql(f"DELETE FROM system_config WHERE key = '{KEY}'")


@pytest.fixture
def backend(client, expect_ok):
    """backend(openid=None) -> the data of GET /config/backend."""

    def get(openid=None):
        params = {} if openid is None else {"openid": openid}
        return expect_ok(client.get("/config/backend", params=params))

    return get


@pytest.fixture(scope="module")
def table():
    return load_table()


@pytest.fixture(scope="module")
def expected_hashes(table):
    """Node's hashes of the table's openids (the checked-in ones when Node cannot run)."""
    hashes, why = node_hashes([o for o, _ in table])
    if hashes is None:
        print(f"test_gray: {why}; decisions are checked against the checked-in table")
        return [h for _, h in table]
    return hashes


def neighbours(table, hashes):
    """Two openids of the table in adjacent buckets b and b + 1 (0 < b < 98)."""
    by_bucket = {}
    for (openid, _), h in zip(table, hashes):
        if openid:
            by_bucket.setdefault(h % 100, openid)
    b = next(b for b in range(1, 98) if b in by_bucket and b + 1 in by_bucket)
    return b, by_bucket[b], by_bucket[b + 1]


# --------------------------------------------------------------------------- the hash


def test_table_is_nodes_hashcode(table):
    # at least 200 openids, and few enough that one test's requests of each stay within
    # the route's rate-limit burst (300 per address; each test starts with it full)
    assert 200 <= len(table) < 300
    hashes, why = node_hashes([o for o, _ in table])
    if hashes is None:
        pytest.skip(why)
    mismatched = [(o, h, n) for (o, h), n in zip(table, hashes) if h != n]
    assert mismatched == [], mismatched[:5]
    # the table covers what it claims: 2^31 from Math.abs(-2^31), code units outside the BMP
    assert 2 ** 31 in hashes
    assert any(any(ord(c) > 0xFFFF for c in o) for o, _ in table)
    assert [o for o, _ in table] == table_openids(), "the openids changed: --write-table"


@pytest.mark.parametrize("percent", PERCENTS)
def test_decision_matches_node(percent, backend_config, backend, table, expected_hashes):
    doc = gray_set("--backend", "cloud", "--percent", str(percent), "--white-clear",
                   "--black-clear")
    assert doc["gray_release"] is True and doc["gray_percent"] == percent
    wrong, servers = [], 0
    for (openid, _), h in zip(table, expected_hashes):
        if openid == "":
            continue  # an empty openid is no openid (test_without_openid)
        want = "server" if h % 100 < percent else "cloud"
        data = backend(openid)
        servers += want == "server"
        if data["decision"] != want:
            wrong.append((openid, h, data["decision"]))
    assert wrong == [], f"{len(wrong)} decisions differ from Node's at {percent}%: {wrong[:5]}"
    if 0 < percent < 100:
        assert 0 < servers < len(table), "the table never splits at this percentage"


# --------------------------------------------------------------------------- the rule


def test_answer_shape_and_server_url(backend_config, backend):
    gray_set("--backend", "cloud", "--percent", "7", "--white", "o_white_shape")
    data = backend("o_white_shape")
    assert set(data) == {"backend_type", "server_url", "gray_release", "gray_percent",
                         "decision"}, data
    assert data == {"backend_type": "cloud", "server_url": os.environ["PUBLIC_BASE_URL"],
                    "gray_release": True, "gray_percent": 7, "decision": "server"}
    gray_set("--server-url", "https://api.example.com")
    assert backend()["server_url"] == "https://api.example.com"


def test_white_and_black_lists_win(backend_config, backend, table, expected_hashes):
    # two openids whose hash alone says cloud below 50% and server at or above 50%
    low = next(o for (o, _), h in zip(table, expected_hashes) if o and h % 100 < 50)
    high = next(o for (o, _), h in zip(table, expected_hashes) if o and h % 100 >= 50)
    gray_set("--backend", "cloud", "--percent", "50", "--white-clear", "--black-clear")
    assert backend(low)["decision"] == "server" and backend(high)["decision"] == "cloud"

    doc = gray_set("--white", high, "--black", low)
    assert doc["white_list"] == [high] and doc["black_list"] == [low]
    assert backend(high)["decision"] == "server"
    assert backend(low)["decision"] == "cloud"
    # at 0% and at 100% the lists still decide
    gray_set("--percent", "0")
    assert backend(high)["decision"] == "server"
    gray_set("--percent", "100")
    assert backend(low)["decision"] == "cloud"
    # on both lists: black wins
    doc = gray_set("--white", low)
    assert low in doc["white_list"] and low in doc["black_list"]
    assert backend(low)["decision"] == "cloud"
    # taken off again
    doc = gray_set("--unblack", low, "--unwhite", low, high, "--percent", "0")
    assert doc["white_list"] == [] and doc["black_list"] == []
    assert backend(low)["decision"] == "cloud" and backend(high)["decision"] == "cloud"


def test_lists_keep_order_without_repeats(backend_config):
    gray_set("--white-clear", "--black-clear")
    doc = gray_set("--white", "o1", "o2", "o1", "o3")
    assert doc["white_list"] == ["o1", "o2", "o3"]
    doc = gray_set("--white", "o2", "--unwhite", "o1")
    assert doc["white_list"] == ["o3", "o2"]
    doc = gray_set("--white-clear", "--white", "o9", 'q"\\{x},', "用户😀")
    assert doc["white_list"] == ["o9", 'q"\\{x},', "用户😀"]  # quoting survives the text[]
    assert doc["black_list"] == []
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$", doc["updated_at"]), doc


def test_gray_off_follows_backend_type(backend_config, backend):
    doc = gray_set("--backend", "server", "--black", "o_black_off", "--white-clear")
    assert doc["backend_type"] == "server" and doc["gray_release"] is False
    # with the gray release off, backend_type alone decides, lists included
    assert backend("o_black_off")["decision"] == "server"
    assert backend("o_anyone")["decision"] == "server"
    doc = gray_set("--backend", "cloud", "--white", "o_white_off")
    assert backend("o_white_off")["decision"] == "cloud"


def test_without_openid(backend_config, backend, client, expect_ok):
    gray_set("--backend", "cloud", "--percent", "100")
    assert backend()["decision"] == "cloud"
    assert expect_ok(client.get("/config/backend?openid="))["decision"] == "cloud"
    gray_set("--backend", "server")
    assert backend()["decision"] == "server"


def test_missing_config_reads_as_cloud(backend_config, backend, psql):
    psql(f"DELETE FROM system_config WHERE key = '{KEY}'")
    assert backend("o_missing") == {
        "backend_type": "cloud", "server_url": os.environ["PUBLIC_BASE_URL"],
        "gray_release": False, "gray_percent": 0, "decision": "cloud"}
    proc = ctl_run("gray", "show")
    assert proc.returncode == 0 and "not set" in proc.stderr
    assert json.loads(proc.stdout)["backend_type"] == "cloud"
    # the first change creates it from those defaults
    doc = gray_set("--percent", "10")
    assert doc["backend_type"] == "cloud" and doc["gray_percent"] == 10
    assert doc["white_list"] == [] and doc["black_list"] == []


def test_hand_edited_values_read_as_the_adapter_reads_them(backend_config, backend, psql,
                                                          table, expected_hashes):
    """Fields of other types, as someone may write them by hand, read as the adapter's
    JavaScript reads them: truthiness, a fractional percent compared as a number; a list
    that is not an array lists nobody."""
    b, low, high = neighbours(table, expected_hashes)
    psql(f"UPDATE system_config SET value = '{{\"backend_type\":\"auto\",\"gray_release\":1,"
         f"\"gray_percent\":{b}.5,\"white_list\":\"{high}\",\"black_list\":null}}' "
         f"WHERE key = '{KEY}'")
    data = backend(low)
    assert data["backend_type"] == "auto" and data["gray_release"] is True
    assert data["gray_percent"] == b + 0.5 and data["decision"] == "server"
    assert backend(high)["decision"] == "cloud"
    psql(f"UPDATE system_config SET value = '[1,2]' WHERE key = '{KEY}'")
    assert backend(low) == backend() == {
        "backend_type": "cloud", "server_url": os.environ["PUBLIC_BASE_URL"],
        "gray_release": False, "gray_percent": 0, "decision": "cloud"}


# --------------------------------------------------------------------------- visible at once


def test_change_is_visible_on_the_next_request(backend_config, backend, table,
                                               expected_hashes):
    b, openid, _ = neighbours(table, expected_hashes)
    gray_set("--backend", "cloud", "--percent", str(b), "--white-clear", "--black-clear")
    # every worker has answered with the old document before each change
    for step in range(6):
        want = "cloud" if step % 2 == 0 else "server"
        gray_set("--percent", str(b) if want == "cloud" else str(b + 1))
        got = [backend(openid)["decision"] for _ in range(12)]
        assert got == [want] * 12, f"step {step}: {got}"
    # rollback is one command, and so is the way forward again
    gray_set("--percent", "100")
    assert backend(openid)["decision"] == "server"
    doc = gray_set("--backend", "cloud")
    assert doc["gray_release"] is False
    assert [backend(openid)["decision"] for _ in range(12)] == ["cloud"] * 12
    gray_set("--backend", "server")
    assert [backend(openid)["decision"] for _ in range(12)] == ["server"] * 12


def test_concurrent_changes_lose_nothing(backend_config):
    gray_set("--white-clear")
    ids = [f"o_race_{i}" for i in range(12)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        procs = list(pool.map(lambda o: ctl_run("gray", "set", "--white", o), ids))
    assert [p.returncode for p in procs] == [0] * len(ids), [p.stderr for p in procs]
    proc = ctl_run("gray", "show")
    assert sorted(json.loads(proc.stdout)["white_list"]) == sorted(ids)


# --------------------------------------------------------------------------- refusals


def test_bad_openid_is_400(backend_config, backend, client, expect_error):
    assert backend("x" * 128)["decision"] in ("server", "cloud")
    assert backend("中" * 128)["decision"] in ("server", "cloud")
    expect_error(client.get("/config/backend", params={"openid": "x" * 129}), 400,
                 "BAD_REQUEST")
    expect_error(client.get("/config/backend", params={"openid": "中" * 129}), 400,
                 "BAD_REQUEST")
    # lighttpd itself refuses a query that is not UTF-8 (400 before any worker); the
    # worker's own check (lib/gray, unit-tested) stands behind a front that would not
    for query in ("openid=%FF%FE", "openid=%ED%A0%80"):
        assert client.get("/config/backend?" + query).status_code == 400, query


def test_rate_limited_per_address(backend, redis_cli):
    backend("o_limit")
    assert redis_cli("--scan", "--pattern", "rl:config:ip:*").strip(), \
        "GET /config/backend spent no rate-limit budget"


@pytest.mark.parametrize("args", [
    ["--percent", "101"], ["--percent", "-1"], ["--percent", "5.5"], ["--percent", "abc"],
    ["--percent"], ["--backend", "auto"], ["--backend", "Server"],
    ["--server-url", "ftp://api.example.com"], ["--server-url", "https://"],
    ["--server-url", "https://api.example.com/"], ["--server-url", "https://a b"],
    ["--server-url", "https://" + "a" * 600], ["--white"], ["--white", "--black", "o1"],
    ["--black", "x" * 129], ["--unwhite", "\udcff"], ["--colour", "red"], [],
])
def test_ctl_refuses_with_exit_2(args, backend_config, psql):
    before = psql(f"SELECT value::text FROM system_config WHERE key = '{KEY}'")
    proc = ctl_run("gray", "set", *[a.encode("utf-8", "surrogateescape") for a in args])
    assert proc.returncode == 2, (args, proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.strip(), "a refusal says why"
    assert psql(f"SELECT value::text FROM system_config WHERE key = '{KEY}'") == before


def test_ctl_usage_and_production_url(backend_config):
    assert ctl_run("gray").returncode == 2
    assert ctl_run("gray", "show", "extra").returncode == 2
    assert ctl_run("gray", "unset").returncode == 2
    env = dict(os.environ, AIPHOTO_ENV="production")
    proc = ctl_run("gray", "set", "--server-url", "http://api.example.com", env=env)
    assert proc.returncode == 2 and "https://" in proc.stderr, proc.stderr
    proc = ctl_run("gray", "set", "--server-url", "http://127.0.0.1:9", "--percent", "3")
    assert proc.returncode == 0, proc.stderr  # development: http:// is allowed


# --------------------------------------------------------------------------- database down


def stack(*args):
    proc = subprocess.run([str(STACK), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, f"scripts/stack {' '.join(args)}: {proc.stderr[-2000:]}"


def test_database_down_is_503(client, expect_error, backend):
    backend("o_before_down")
    try:
        stack("pg-stop")
        expect_error(client.get("/config/backend", params={"openid": "o_down"}), 503,
                     "UNAVAILABLE")
        expect_error(client.get("/config/backend"), 503, "UNAVAILABLE")
        proc = ctl_run("gray", "show")
        assert proc.returncode == 1 and "UNAVAILABLE" in proc.stderr, proc.stderr
        proc = ctl_run("gray", "set", "--percent", "5")
        assert proc.returncode == 1, proc.stderr
    finally:
        stack("pg-start")
        wait_database_back()
    deadline = time.monotonic() + 10
    while client.get("/config/backend").status_code != 200:
        assert time.monotonic() < deadline, "/config/backend is not 200 within 10 s of pg-start"
        time.sleep(0.2)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-table"]:
        sys.exit(__doc__)
    write_table()
