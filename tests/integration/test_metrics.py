"""GET /metrics, the health probes for orchestrators, and a real Prometheus.

- /metrics answers the Prometheus text format: per route pattern (never a raw path) and
  status class, request counts and a latency histogram; errors by API code; the pool; the
  database, Redis and queue gauges; the counts of a worker killed mid-run are kept.
- /health/live and /health/ready, and readiness while PostgreSQL is stopped.
- Debian's prometheus scrapes the stack for a few seconds (its own temporary directory,
  loopback only, scrape interval 1 s) and the series are read back through its HTTP API;
  every query of the Grafana dashboard is accepted by that Prometheus.
- promtool checks ops/prometheus/aiphoto.rules.yml and runs its unit tests.
- The dispatcher's node_exporter textfile and `aiphotoctl metrics`.
"""

import json
import math
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

from conftest import wait_database_back
import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
STACK = REPO / "scripts" / "stack"
RULES = REPO / "ops" / "prometheus" / "aiphoto.rules.yml"
RULES_TEST = REPO / "ops" / "prometheus" / "aiphoto.rules.test.yml"
DASHBOARD = REPO / "ops" / "grafana" / "aiphoto.json"
DISPATCH = REPO / os.environ.get("AIPHOTO_BUILD", "build") / "aiphoto-dispatch"
CTL = REPO / os.environ.get("AIPHOTO_BUILD", "build") / "aiphotoctl"


# --------------------------------------------------------------------------- helpers


def parse_text(text):
    """{(name, frozenset(labels.items())): value} of a Prometheus text exposition; checks that
    every sample line is well formed and every family has a TYPE before its samples."""
    out, typed = {}, set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            labels_text, value = rest.rsplit("} ", 1)
            labels = {}
            i = 0
            while i < len(labels_text):
                eq = labels_text.index("=", i)
                key = labels_text[i:eq]
                assert labels_text[eq + 1] == '"', line
                j, val = eq + 2, ""
                while labels_text[j] != '"':
                    if labels_text[j] == "\\":
                        j += 1
                    val += labels_text[j]
                    j += 1
                labels[key] = val
                i = j + 1
                if i < len(labels_text):
                    assert labels_text[i] == ",", line
                    i += 1
        else:
            name, value = line.split(" ", 1)
            labels = {}
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in typed:
                base = name[: -len(suffix)]
        assert base in typed, f"no TYPE before {name}"
        out[(name, frozenset(labels.items()))] = float(value)
    return out


def sample(series, name, **labels):
    return series.get((name, frozenset(labels.items())), 0.0)


def scrape(client):
    resp = client.get("/metrics")
    assert resp.status_code == 200, resp.text[:500]
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4"), resp.headers
    return resp.text, parse_text(resp.text)


def stack(*args):
    proc = subprocess.run([str(STACK), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, f"scripts/stack {' '.join(args)}: {proc.stderr[-2000:]}"


def wait_for(pred, seconds, step=0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def need(tool):
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is missing: run scripts/deps (Debian package prometheus)",
                    pytrace=False)
    return path


# --------------------------------------------------------------------------- /metrics


def test_metrics_counts_by_route_pattern(client):
    _, before = scrape(client)
    junk = "/no-such-" + uuid.uuid4().hex
    for _ in range(3):
        assert client.get("/health/live").status_code == 200
    assert client.get(junk).status_code == 404
    assert client.get("/scenes/" + uuid.uuid4().hex[:8]).status_code in (400, 404)
    # a cloud-function call is counted under its action, as the access log names it
    resp = client.session.post(client.base.rsplit("/api/v1", 1)[0] + "/api/payment/getPackages",
                               json={"action": "getPackages"}, timeout=10,
                               headers={"Connection": "close"})
    assert resp.status_code == 200, resp.text
    text, after = scrape(client)

    assert sample(after, "aiphoto_http_requests_total", method="POST",
                  route="cloud payment.getPackages", code="2xx") >= 1, \
        [k for k in after if k[0] == "aiphoto_http_requests_total"]
    assert junk not in text and "no-such-" not in text, "a raw path became a label"
    live = dict(method="GET", route="/health/live", code="2xx")
    assert sample(after, "aiphoto_http_requests_total", **live) - \
        sample(before, "aiphoto_http_requests_total", **live) == 3
    unmatched = dict(method="GET", route="(unmatched)", code="4xx")
    assert sample(after, "aiphoto_http_requests_total", **unmatched) > \
        sample(before, "aiphoto_http_requests_total", **unmatched)
    # a matched route is counted under its pattern, captures and all
    assert any(k[0] == "aiphoto_http_requests_total" and ("route", "/scenes/:id") in k[1]
               for k in after), "no /scenes/:id series"
    assert sample(after, "aiphoto_api_errors_total", code="NOT_FOUND") > \
        sample(before, "aiphoto_api_errors_total", code="NOT_FOUND")

    # the histogram: cumulative buckets 1 ms … 10 s and +Inf, +Inf == _count
    lab = dict(method="GET", route="/health/live")
    les = sorted((float(dict(k[1])["le"]), v) for k, v in after.items()
                 if k[0] == "aiphoto_http_request_duration_seconds_bucket"
                 and dict(k[1]).get("route") == "/health/live")
    assert [le for le, _ in les][:1] == [0.001] and les[-2][0] == 10 and math.isinf(les[-1][0])
    assert all(a[1] <= b[1] for a, b in zip(les, les[1:])), les
    assert les[-1][1] == sample(after, "aiphoto_http_request_duration_seconds_count", **lab) >= 3
    assert sample(after, "aiphoto_http_request_duration_seconds_sum", **lab) > 0

    # the rest of the families the alert rules and the dashboard read
    assert sample(after, "aiphoto_db_up") == 1
    assert sample(after, "aiphoto_redis_up") == 1
    assert sample(after, "aiphoto_workers_alive") == sample(after, "aiphoto_workers_configured") >= 1
    assert sample(after, "aiphoto_scrape_db_ok") == 1
    assert ("aiphoto_queue_depth", frozenset({("status", "queued")})) in after
    assert ("aiphoto_queue_oldest_seconds", frozenset()) in after
    assert ("aiphoto_orders", frozenset({("status", "paid")})) in after
    assert any(k[0] == "aiphoto_worker_rss_bytes" and v > 1 << 20 for k, v in after.items())
    assert sample(after, "aiphoto_db_connects_total") >= 1


def fcgi_get(path, remote_addr, authorization=None):
    """GET path straight on the workers' FastCGI socket with the given REMOTE_ADDR, as
    lighttpd would pass a client's address; returns (status, body)."""
    from test_faults import fcgi_record, socket_path

    def length(n):  # FastCGI name-value lengths: 1 byte below 128, else 4 with the top bit
        return bytes([n]) if n < 128 else (n | 0x80000000).to_bytes(4, "big")

    def pair(name, value):
        n, v = name.encode(), value.encode()
        return length(len(n)) + length(len(v)) + n + v

    params = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/api/v1" + path,
              "SCRIPT_NAME": "/api", "SERVER_PROTOCOL": "HTTP/1.1",
              "REMOTE_ADDR": remote_addr}
    if authorization:
        params["HTTP_AUTHORIZATION"] = authorization
    body = b"".join(pair(k, v) for k, v in params.items())
    out = b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(socket_path()))
        s.sendall(fcgi_record(1, bytes([0, 1, 0, 0, 0, 0, 0, 0])) + fcgi_record(4, body) +
                  fcgi_record(4, b"") + fcgi_record(5, b""))
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        while len(buf) >= 8:
            rtype, clen, pad = buf[1], (buf[4] << 8) | buf[5], buf[6]
            if rtype == 6:  # STDOUT
                out += buf[8:8 + clen]
            buf = buf[8 + clen + pad:]
            if rtype == 3:  # END_REQUEST
                break
    head, _, rest = out.partition(b"\r\n\r\n")
    status = 200
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"status:"):
            status = int(line.split()[1])
    return status, rest


def test_metrics_only_for_allowed_addresses_or_an_admin(client, make_user, token_for):
    """METRICS_ALLOW (default loopback) or an admin token; a public address gets 403 whatever
    else it sends, and a user token is no admin token."""
    if os.geteuid() != 0:
        pytest.skip("needs root to open the private FastCGI socket")
    status, body = fcgi_get("/metrics", "127.0.0.1")
    assert status == 200 and b"aiphoto_http_requests_total" in body, body[:300]
    assert fcgi_get("/metrics", "::1")[0] == 200
    status, body = fcgi_get("/metrics", "203.0.113.7")
    assert status == 403 and b"FORBIDDEN" in body and b"aiphoto_" not in body, body[:300]
    assert fcgi_get("/metrics", "127.0.0.10")[0] == 403
    user = "Bearer " + token_for(make_user())
    assert fcgi_get("/metrics", "203.0.113.7", user)[0] == 403
    admin = "Bearer " + token_for(1, admin=True)
    status, body = fcgi_get("/metrics", "203.0.113.7", admin)
    assert status == 200 and b"aiphoto_db_up" in body
    # through lighttpd from loopback: allowed by address
    assert client.get("/metrics").status_code == 200


def test_metrics_count_notify_and_callback_verdicts(client):
    _, before = scrape(client)
    resp = client.post("/payment/notify", data=b'{"id":"x"}',
                       headers={"Content-Type": "application/json",
                                "Wechatpay-Timestamp": "1", "Wechatpay-Nonce": "n",
                                "Wechatpay-Signature": "AAAA", "Wechatpay-Serial": "s"})
    assert resp.status_code in (400, 401), resp.text
    resp = client.post("/auth/wechat/verify?signature=00&timestamp=1&nonce=n",
                       data=b"<xml></xml>", headers={"Content-Type": "text/xml"})
    assert resp.status_code in (400, 403), resp.text
    _, after = scrape(client)

    def total(name, verdicts):
        return sum(v for k, v in after.items() if k[0] == name
                   and dict(k[1]).get("verdict") in verdicts) - \
            sum(v for k, v in before.items() if k[0] == name
                and dict(k[1]).get("verdict") in verdicts)

    assert total("aiphoto_payment_notify_total", {"bad_signature", "malformed"}) == 1
    assert total("aiphoto_oa_callbacks_total", {"refused", "malformed"}) == 1


def test_metrics_count_rate_limit_refusals_by_class(client, make_user, token_for):
    tok = token_for(make_user())
    _, before = scrape(client)
    codes = [client.post("/payment/create-order", token=tok, json={"package_id": -1}).status_code
             for _ in range(14)]
    assert 429 in codes, codes
    _, after = scrape(client)
    key = {"class": "create-order"}  # "class" is a Python keyword
    assert sample(after, "aiphoto_rate_limited_total", **key) - \
        sample(before, "aiphoto_rate_limited_total", **key) == codes.count(429)
    assert sample(after, "aiphoto_api_errors_total", code="RATE_LIMITED") - \
        sample(before, "aiphoto_api_errors_total", code="RATE_LIMITED") == codes.count(429)


def test_metrics_keep_a_killed_workers_counts(client):
    from test_faults import supervisor_pid, workers  # the fault tests' process helpers

    for _ in range(20):
        client.get("/health/live")
    _, before = scrape(client)
    key = dict(method="GET", route="/health/live", code="2xx")
    n0 = sample(before, "aiphoto_http_requests_total", **key)
    gens0 = sum(v for k, v in before.items() if k[0] == "aiphoto_worker_generation")
    sup = supervisor_pid()
    pids = workers(sup)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: len(set(workers(sup)) - set(pids)) == len(pids), 10), \
        "the killed workers were not replaced"
    _, after = scrape(client)
    assert sample(after, "aiphoto_http_requests_total", **key) >= n0, \
        "the killed workers' counts were lost"
    assert sum(v for k, v in after.items() if k[0] == "aiphoto_worker_generation") >= \
        gens0 + len(pids)
    assert sample(after, "aiphoto_worker_restarts_total") >= len(pids)


# --------------------------------------------------------------------------- health probes


def test_health_live_and_ready(client):
    resp = client.get("/health/live")
    assert resp.status_code == 200 and resp.json()["data"] == {"status": "ok"}
    resp = client.get("/health/ready")
    assert resp.status_code == 200, resp.text
    d = resp.json()["data"]
    assert d["status"] == "ok" and d["db"] == "ok" and d["redis"] == "ok", d
    assert d["schema"] >= d["schema_wanted"] >= 1, d


def test_health_ready_wants_the_migrations_applied(client, psql):
    """A database behind the build's newest migration is not ready (a deploy whose
    `aiphotoctl migrate` has not run); live stays 200.  The newest row is moved aside and
    put back."""
    psql("CREATE TABLE IF NOT EXISTS metrics_test_mig AS SELECT * FROM schema_migrations "
         "WITH NO DATA")
    psql("WITH m AS (DELETE FROM schema_migrations WHERE version = "
         "(SELECT max(version) FROM schema_migrations) RETURNING *) "
         "INSERT INTO metrics_test_mig SELECT * FROM m")
    try:
        resp = client.get("/health/ready")
        assert resp.status_code == 503, resp.text
        d = resp.json()["data"]
        assert d["db"] == "ok" and d["schema"] < d["schema_wanted"], d
        assert client.get("/health/live").status_code == 200
    finally:
        psql("INSERT INTO schema_migrations SELECT * FROM metrics_test_mig")
        psql("DROP TABLE metrics_test_mig")
    assert client.get("/health/ready").status_code == 200


def test_health_ready_during_a_database_stop(client):
    try:
        stack("pg-stop")
        assert wait_for(lambda: client.get("/health/ready").status_code == 503, 4), \
            "/health/ready did not turn 503 with the database stopped"
        body = client.get("/health/ready").json()
        assert body["success"] is False and body["code"] == "UNAVAILABLE", body
        assert body["data"]["db"] == "down" and body["data"]["status"] == "unavailable", body
        # liveness does not depend on the database: the worker is not to be restarted
        assert [client.get("/health/live").status_code for _ in range(4)] == [200] * 4
        # a worker that reached the database within its probe period may still vouch for it
        # once; every scrape past that period says it is down
        def db_down():
            _, s = scrape(client)
            return sample(s, "aiphoto_db_up") == 0 and sample(s, "aiphoto_scrape_db_ok") == 0
        assert wait_for(db_down, 4), "the scrape still says the database is up"
    finally:
        stack("pg-start")
        wait_database_back()
    assert wait_for(lambda: client.get("/health/ready").status_code == 200, 10, 0.2), \
        "/health/ready is not 200 within 10 s of pg-start"


# --------------------------------------------------------------------------- the dispatcher


def test_dispatcher_textfile_and_ctl_metrics(tmp_path, client, expect_ok, make_user, token_for,
                                             psql):
    from test_dispatch import Ai, png, submit  # the dispatcher tests' helpers

    ai = Ai(os.environ["AIPHOTO_SIM_URL"])
    ai.call("POST", "/__sim/ai/reset", {})
    ai.config(latency_ms=50, poll_after_ms=100)
    psql("UPDATE ai_models SET active = true, timeout_ms = 30000 WHERE name LIKE 'sim-%'")
    uid = make_user(credits=10000)
    tok = token_for(uid)
    asset = expect_ok(client.request("POST", "/uploads", token=tok,
                                     headers={"Content-Type": "image/png"},
                                     data=png(rgb=(uid % 256, 3, 5))), 201)
    submit(client, expect_ok, {"token": tok, "asset": asset["asset_id"]}, 2)

    out = tmp_path / "dispatch.prom"
    env = dict(os.environ, DISPATCH_METRICS_FILE=str(out), DISPATCH_BUDGET_SECONDS="20",
               DISPATCH_RETRY_BASE_MS="100")
    proc = subprocess.run([str(DISPATCH), "--until-idle"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    first = parse_text(out.read_text())
    assert sample(first, "aiphoto_dispatch_runs_total") == 1
    assert sample(first, "aiphoto_dispatch_claims_total") >= 2
    done = {dict(k[1])["model"]: v for k, v in first.items()
            if k[0] == "aiphoto_dispatch_outcomes_total"
            and dict(k[1])["outcome"] == "succeeded"}
    assert sum(done.values()) >= 2 and all(m.startswith("sim-") for m in done), first
    model = next(iter(done))
    assert sample(first, "aiphoto_dispatch_item_duration_seconds_count", model=model) == \
        sum(v for k, v in first.items() if k[0] == "aiphoto_dispatch_outcomes_total"
            and dict(k[1])["model"] == model)
    assert sample(first, "aiphoto_dispatch_item_duration_seconds_bucket", model=model,
                  le="+Inf") == sample(first, "aiphoto_dispatch_item_duration_seconds_count",
                                       model=model)
    assert time.time() - sample(first, "aiphoto_dispatch_last_run_timestamp_seconds") < 120
    proc = subprocess.run([str(DISPATCH), "--until-idle"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    second = parse_text(out.read_text())
    assert sample(second, "aiphoto_dispatch_runs_total") == 2, "runs are not accumulated"
    assert list(tmp_path.iterdir()) == [out], "a temporary file was left behind"

    proc = subprocess.run([str(CTL), "metrics"], env=env, capture_output=True, text=True,
                          timeout=30, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    dump = parse_text(proc.stdout)
    assert sample(dump, "aiphoto_dispatch_runs_total") == 2
    assert any(k[0] == "aiphoto_http_requests_total" for k in dump), "no worker counters"


# --------------------------------------------------------------------------- Prometheus


@pytest.fixture(scope="module")
def prometheus(base_url, tmp_path_factory):
    """A Prometheus of its own (temporary directory, loopback, 1 s scrapes) for this module."""
    binary = need("prometheus")
    d = tmp_path_factory.mktemp("prometheus")
    target = base_url.split("://", 1)[1].split("/", 1)[0]
    (d / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {RULES}\n"
        "scrape_configs:\n  - job_name: aiphoto\n    metrics_path: /api/v1/metrics\n"
        f"    static_configs:\n      - targets: ['{target}']\n")
    port = free_port()
    log = open(d / "prometheus.log", "w")
    proc = subprocess.Popen([binary, f"--config.file={d / 'prometheus.yml'}",
                             f"--storage.tsdb.path={d / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}",
                             "--storage.tsdb.retention.time=1h"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=d)
    url = f"http://127.0.0.1:{port}"
    try:
        ok = wait_for(lambda: _ready(url), 20, 0.2)
        assert ok, "prometheus did not become ready: " + (d / "prometheus.log").read_text()[-2000:]
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _ready(url):
    try:
        return requests.get(url + "/-/ready", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def prom_query(url, expr):
    resp = requests.get(url + "/api/v1/query", params={"query": expr}, timeout=5)
    return resp.status_code, resp.json()


def test_prometheus_scrapes_the_stack(client, prometheus):
    def up():
        _, body = prom_query(prometheus, 'up{job="aiphoto"}')
        res = body.get("data", {}).get("result", [])
        return bool(res) and res[0]["value"][1] == "1"

    assert wait_for(up, 15, 0.5), "Prometheus never scraped the stack successfully"
    for _ in range(5):
        client.get("/health/live")

    def has_requests():
        _, body = prom_query(prometheus,
                             'aiphoto_http_requests_total{route="/health/live",code="2xx"}')
        return bool(body.get("data", {}).get("result"))

    assert wait_for(has_requests, 10, 0.5), "no request series in Prometheus"
    for expr in ("aiphoto_db_up", "aiphoto_workers_alive", "aiphoto_queue_oldest_seconds",
                 'histogram_quantile(0.99, sum by (le) '
                 '(rate(aiphoto_http_request_duration_seconds_bucket[1m])))'):
        status, body = prom_query(prometheus, expr)
        assert status == 200 and body["status"] == "success", (expr, body)
    status, body = prom_query(prometheus, "aiphoto_db_up")
    assert body["data"]["result"][0]["value"][1] == "1"
    # the rules file loaded into this Prometheus too
    rules = requests.get(prometheus + "/api/v1/rules", timeout=5).json()
    names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert {"AiphotoDatabaseDown", "AiphotoNoDispatcherRun"} <= names, names


def test_grafana_dashboard_queries_parse(client, prometheus):
    dash = json.loads(DASHBOARD.read_text())
    assert dash.get("title") and dash.get("panels"), "not a dashboard"
    exprs = []
    for panel in dash["panels"]:
        assert panel.get("title") and panel.get("type"), panel
        for t in panel.get("targets", []):
            exprs.append(t["expr"])
    assert len(exprs) >= 8, exprs
    for expr in exprs:
        # Grafana's range variables, as Grafana would substitute them
        expr = expr.replace("$__rate_interval", "1m").replace("$__range", "5m")
        status, body = prom_query(prometheus, expr)
        assert status == 200 and body.get("status") == "success", (expr, body)
    # every series the dashboard reads is a family the service or the dispatcher exports
    families = {line.split()[2] for line in client.get("/metrics").text.splitlines()
                if line.startswith("# TYPE ")}
    families |= {"aiphoto_dispatch_outcomes_total", "aiphoto_dispatch_refunds_total",
                 "aiphoto_dispatch_item_duration_seconds",
                 "aiphoto_dispatch_last_run_timestamp_seconds"}
    for expr in exprs:
        for word in re.findall(r"aiphoto_[a-z0-9_]+", expr):
            assert word in families or re.sub(r"_(bucket|sum|count)$", "", word) in families, \
                f"the dashboard reads {word}, which nothing exports"


def test_alert_rules_check_and_unit_tests():
    promtool = need("promtool")
    proc = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([promtool, "test", "rules", str(RULES_TEST)], capture_output=True,
                          text=True, timeout=120, cwd=RULES_TEST.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
