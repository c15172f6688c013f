"""Logs: the shipped logrotate configuration (ops/logrotate/aiphoto) rotates the stack's logs
while requests keep coming, and no line is lost, doubled or cut (the workers and lighttpd
open their files again on SIGHUP); the search for secrets that ends every run finds what it
looks for (conftest.pytest_sessionfinish).

The file sorts after the tests that read the current log files (test_cloud, test_frontend):
rotation moves earlier lines into the rotated files."""

import concurrent.futures
import gzip
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest
import requests

from conftest import HTTP_TIMEOUT, REPO, log_leaks, product_log_files, stack_secrets
from test_faults import wait_for

SHIPPED = REPO / "ops" / "logrotate" / "aiphoto"
LOGROTATE = shutil.which("logrotate") or "/usr/sbin/logrotate"
ROTATED = ("fcgi.log", "lighttpd-access.log", "lighttpd-error.log")
REQUESTS = 2000
ROTATIONS = 4
# lighttpd's access line (lighttpd/dev.conf.in: accesslog.format), ending in the request id
ACCESS_LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]+\] ".*" \d{3} \S+ \d+ ".*" [0-9A-Za-z_-]+$')


def need_logrotate():
    if not os.path.exists(LOGROTATE):
        pytest.fail("logrotate is missing: run scripts/deps", pytrace=False)


def var():
    return pathlib.Path(os.environ["AIPHOTO_VAR"])


def test_shipped_config_passes_logrotate_debug(tmp_path):
    need_logrotate()
    proc = subprocess.run([LOGROTATE, "-d", "-s", str(tmp_path / "state"), str(SHIPPED)],
                          capture_output=True, text=True, timeout=30)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "error" not in out.lower(), out
    text = "\n".join(ln for ln in SHIPPED.read_text().splitlines()
                     if not ln.lstrip().startswith("#"))
    # rename + create + SIGHUP, never copytruncate (which loses what comes between its steps)
    assert "copytruncate" not in text and "delaycompress" in text
    assert "--signal=HUP aiphoto-fcgi.service" in text


def stack_config(tmp_path):
    """The shipped configuration for this stack's files: its paths and, for the reload, the
    signals systemctl would send (the supervisor of the workers, and lighttpd)."""
    logs, run = var() / "log", var() / "run"
    text = SHIPPED.read_text()
    assert "/var/log/aiphoto/*.log {" in text
    text = text.replace("/var/log/aiphoto/*.log", " ".join(str(logs / n) for n in ROTATED))
    text, n = re.subn(r"(postrotate\n).*?(\n\s*endscript)",
                      rf"\1\t\tkill -HUP $(cat {run}/fcgi.pid) $(cat {run}/lighttpd.pid)\2",
                      text, flags=re.S)
    assert n == 1
    conf = tmp_path / "aiphoto.logrotate"
    conf.write_text(text)
    return conf


def read_all(name):
    """Every line of a log and its rotated files, oldest first; each must end whole."""
    logs = var() / "log"
    lines = []
    for path in sorted(logs.glob(name + "*"), key=lambda p: -int(
            (p.name[len(name) + 1:].split(".")[0] or "0") if p.name != name else 0)):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        assert data == b"" or data.endswith(b"\n"), f"{path.name} ends in a cut line"
        lines += data.decode("utf-8", "replace").splitlines()
    return lines


def test_rotation_under_load_loses_no_line(api, tmp_path):
    need_logrotate()
    conf = stack_config(tmp_path)
    state = tmp_path / "state"
    url = api + "/credits/packages"
    ids = []

    def one(_):
        r = requests.get(url, timeout=HTTP_TIMEOUT, headers={"Connection": "close"})
        return r.headers.get("X-Request-Id")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(one, i) for i in range(REQUESTS)]
        # rotate while the requests are in flight: after each quarter of them
        for k in range(1, ROTATIONS + 1):
            assert wait_for(lambda: sum(f.done() for f in futures) >= k * REQUESTS // 5, 60)
            proc = subprocess.run([LOGROTATE, "-f", "-s", str(state), str(conf)],
                                  capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        ids = [f.result() for f in futures]
    assert all(ids) and len(set(ids)) == REQUESTS
    logs = var() / "log"
    assert (logs / "fcgi.log.1").exists() and (logs / f"fcgi.log.{ROTATIONS}.gz").exists()

    want = set(ids)

    def access_ids():
        seen = {}
        for line in read_all("lighttpd-access.log"):
            assert ACCESS_LINE.match(line), f"not a whole access line: {line!r}"
            rid = line.rsplit(" ", 1)[-1]
            if rid in want:
                seen[rid] = seen.get(rid, 0) + 1
        return seen

    def worker_ids():
        seen = {}
        for line in read_all("fcgi.log"):
            if not line.startswith("{"):
                # another program's message on the workers' stderr, never a line's tail
                assert not line.endswith("}"), f"the tail of a cut line: {line!r}"
                continue
            entry = json.loads(line)  # a cut line would not parse
            if entry.get("access") and entry.get("req") in want:
                seen[entry["req"]] = seen.get(entry["req"], 0) + 1
        return seen

    # lighttpd writes its access log in batches (at least once a second)
    assert wait_for(lambda: len(access_ids()) == REQUESTS, 20, 0.2), \
        f"lighttpd logged {len(access_ids())} of {REQUESTS} requests"
    assert wait_for(lambda: len(worker_ids()) == REQUESTS, 20, 0.2), \
        f"the workers logged {len(worker_ids())} of {REQUESTS} requests"
    assert set(access_ids().values()) == {1} and set(worker_ids().values()) == {1}
    # the service kept its workers (SIGHUP reopens, it never ends them) and the files are new
    assert requests.get(api + "/health", timeout=HTTP_TIMEOUT).status_code == 200
    errors = read_all("lighttpd-error.log")
    assert any("logfiles cycled" in line for line in errors)
    assert not any('"worker' in line and "died" in line for line in read_all("fcgi.log"))


def test_secret_search_finds_what_it_looks_for(tmp_path):
    clean = tmp_path / "clean.log"
    clean.write_text('{"msg":"nothing to see"}\n')
    leaky = tmp_path / "fcgi.log.2.gz"
    leaky.write_bytes(gzip.compress(b'{"msg":"key s3cr3t-value-1234"}\n'))
    jwt = tmp_path / "lighttpd-access.log"
    jwt.write_text('127.0.0.1 "GET /x?t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.abcdefghijkl"\n')
    found = log_leaks([clean, leaky, jwt], {"TEST_SECRET": "s3cr3t-value-1234"})
    assert found == [("fcgi.log.2.gz", "TEST_SECRET"), ("lighttpd-access.log",
                                                        "a JWT-shaped token")]
    assert log_leaks([clean], {"unknown": None}) == [("-", "unknown")]


def test_the_stack_secrets_are_known(tmp_path):
    secrets = stack_secrets()
    names = set(secrets)
    for name in ("JWT_SECRET", "WECHAT_SECRET", "WXPAY_APIV3_KEY", "MEDIA_URL_KEY",
                 "dev-credentials ADMIN_DEMO_PASSWORD"):
        assert name in names, name
    assert any(n.startswith("merchant private key line") for n in names)
    assert any(n.startswith("simulator credential") for n in names)
    assert None not in secrets.values()
    # the product's logs are the ones searched, whatever their rotation
    files = [p.name for p in product_log_files(var())]
    assert "fcgi.log" in files and "lighttpd-access.log" in files
    assert "sim.log" not in files and "redis.log" not in files
