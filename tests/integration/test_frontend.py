"""The front end: what lighttpd itself does for the service (docs/security.md,
"Front end (lighttpd)").

- no secret of a query string (nor the login QR scene in its path) in any log of the stack;
- thousands of idle connections from one address do not lock out another address;
- lighttpd's own errors on /api/v1/ carry the JSON envelope, not an HTML page;
- /media/ is served inline, unsniffed and under a policy that runs nothing;
- the H5 pages, their scripts and styles and the API's JSON are compressed (brotli or gzip, as
  the client accepts), images never;
- Redis has a memory cap and an eviction policy.

Everything talks to the suite's stack on 127.0.0.1 only and puts back what it changes.
"""

import json
import os
import pathlib
import re
import resource
import signal
import socket
import struct
import subprocess
import time
import uuid
import zlib

import pytest
import requests

try:  # Debian's python3-brotli, when present, also checks the brotli bodies' content
    import brotli
except ImportError:
    pass

from mediastore import is_s3
from test_faults import wait_for
from test_ops import var_dir

REPO = pathlib.Path(__file__).resolve().parents[2]
STACK = REPO / "scripts" / "stack"


def port():
    return int(os.environ["PORT"])


def json_envelope(resp):
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == "application/json", \
        f"{resp.status_code} with Content-Type {ctype!r}: {resp.text[:200]!r}"
    body = resp.json()
    assert set(body) == {"success", "code", "message"}, body
    assert body["success"] is False and body["message"], body
    return body


# --------------------------------------------------------------------------- secrets in logs


def test_no_secret_of_a_request_reaches_any_log(client, unique):
    """The WeChat callback's signature and openid, the login QR scene, OAuth codes and a
    notify's query are in no file under the stack's log directory."""
    secrets = {name: f"{name}{unique}" for name in
               ("SECRETSIG", "NONCEX", "OPENIDX", "ECHOX", "SCENEX", "CODEX", "STATEX",
                "PAYX", "JSSDKX", "PAGECODEX")}
    s = secrets
    calls = [
        ("GET", f"/auth/wechat/verify?signature={s['SECRETSIG']}&timestamp=1"
                f"&nonce={s['NONCEX']}&openid={s['OPENIDX']}&echostr={s['ECHOX']}"),
        ("POST", f"/auth/wechat/verify?signature={s['SECRETSIG']}&timestamp=1"
                 f"&nonce={s['NONCEX']}&openid={s['OPENIDX']}"),
        ("GET", f"/auth/wechat/qrcode/{s['SCENEX']}"),
        ("GET", f"/auth/wechat/oauth?code={s['CODEX']}&state={s['STATEX']}"),
        ("POST", f"/auth/wechat/oauth?code={s['CODEX']}&state={s['STATEX']}"),
        ("GET", f"/auth/wechat/jssdk?url=http%3A%2F%2F127.0.0.1%2F%3F{s['JSSDKX']}"),
        ("POST", f"/payment/notify?x={s['PAYX']}"),
    ]
    for method, path in calls:
        # whatever the answer (403, 405, 401, ...): only what gets logged matters here
        client.request(method, path, data=b"<xml></xml>" if method == "POST" else None)
    # the page WeChat's OAuth sends the user back to, with its code in the query
    page = requests.get(client.base.rsplit("/api/v1", 1)[0] +
                        f"/wechat/member.html?code={s['PAGECODEX']}&state={s['STATEX']}",
                        headers={"Referer": f"http://127.0.0.1/x?code={s['PAGECODEX']}"},
                        timeout=10)
    assert page.status_code == 200

    # mod_accesslog writes in batches: a last request whose id shows up means all before it
    # are on disk too.
    marker = client.get("/health").headers["X-Request-Id"]
    logs = var_dir() / "log"
    access = logs / "lighttpd-access.log"
    assert wait_for(lambda: access.exists() and marker in access.read_text(errors="replace"),
                    15, 0.2), f"{marker} never reached {access}"
    text = access.read_text(errors="replace")
    assert "/api/v1/auth/* " in text and "/api/v1/payment/notify " in text

    found = []
    for path in sorted(logs.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for name, value in secrets.items():
            if value.encode() in data:
                found.append((path.name, name))
    assert not found, f"secrets in the logs: {found}"


# --------------------------------------------------------------------------- connections


def running_lighttpd_conf():
    return (var_dir() / "lighttpd.conf").read_text()


def test_connection_limits_are_configured():
    text = re.sub(r"#.*", "", running_lighttpd_conf())
    settings = dict(re.findall(r"^\s*(server\.[\w-]+)\s*=\s*(\d+)\s*$", text, re.M))
    assert int(settings["server.max-fds"]) >= 8192, settings
    assert int(settings["server.max-connections"]) >= 4096, settings
    assert int(settings["server.max-connections"]) * 2 <= int(settings["server.max-fds"])
    assert int(settings["server.max-keep-alive-idle"]) <= 10
    assert int(settings["server.max-read-idle"]) <= 30
    assert int(settings["server.max-write-idle"]) <= 360
    pid = int((var_dir() / "run" / "lighttpd.pid").read_text().strip())
    limits = pathlib.Path(f"/proc/{pid}/limits").read_text()
    soft = int(re.search(r"^Max open files\s+(\d+)", limits, re.M).group(1))
    assert soft >= int(settings["server.max-fds"]), limits


def health_from_another_address(timeout):
    """Status code of GET /api/v1/health sent from 127.0.0.2, or None."""
    with socket.socket() as c:
        c.settimeout(timeout)
        c.bind(("127.0.0.2", 0))
        try:
            c.connect(("127.0.0.1", port()))
            c.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Connection: close\r\n\r\n")
            head = c.recv(64)
        except OSError:
            return None
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return int(m.group(1)) if m else None


IDLE_CONNECTIONS = 3000


def test_idle_connections_from_one_address_do_not_lock_out_another():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE_CONNECTIONS + 256
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"the hard open-files limit {hard} is below {want}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    idle = []
    try:
        deadline = time.monotonic() + 60
        for _ in range(IDLE_CONNECTIONS):
            s = socket.socket()
            idle.append(s)
            s.settimeout(5)
            s.connect(("127.0.0.1", port()))
            assert time.monotonic() < deadline, "opening the idle connections took over 60 s"
        # lighttpd has taken them all (none waits in the backlog any more) ...
        time.sleep(0.5)
        t0 = time.monotonic()
        status = health_from_another_address(2.0)
        elapsed = time.monotonic() - t0
        assert status == 200 and elapsed < 2.0, (status, elapsed)
        # ... and the idle ones are still open, not refused: the point is that they are
        # tolerated, not that they were dropped to make room.
        alive = 0
        for s in idle[:50]:
            s.setblocking(False)
            try:
                s.recv(1)  # b"": closed by lighttpd; anything else would be a surprise
            except BlockingIOError:
                alive += 1  # nothing to read: still open
            except OSError:
                pass
        assert alive == 50, f"only {alive} of 50 idle connections are still open"
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert wait_for(lambda: health_from_another_address(3.0) == 200, 10), \
        "health not 200 after the idle connections were closed"


# --------------------------------------------------------------------------- lighttpd's own errors


def supervisor_pid():
    return int((var_dir() / "run" / "fcgi.pid").read_text().strip())


def test_workers_gone_gives_the_json_envelope_then_recovers(client, expect_ok):
    expect_ok(client.get("/health"))
    try:
        os.kill(supervisor_pid(), signal.SIGTERM)  # the supervisor takes its workers along

        def unavailable():
            try:
                resp = client.get("/health", timeout=3)
            except requests.RequestException:
                return None
            return resp if resp.status_code in (502, 503) else None

        resp = wait_for(unavailable, 10)
        assert resp is not None, "the API kept answering with the workers stopped"
        body = json_envelope(resp)
        assert body["code"] == "UNAVAILABLE", body
        assert "<html" not in resp.text.lower()
        for path in ("/user/me", "/credits/packages?x=1", "/payment/notify"):
            r = client.get(path, timeout=5)
            assert r.status_code in (502, 503), (path, r.status_code)
            assert json_envelope(r)["code"] == "UNAVAILABLE"
        # outside the API lighttpd's own pages stay as they were
        other = requests.get(client.base.rsplit("/api/v1", 1)[0] + "/wechat/nothing-here.html",
                             timeout=5)
        assert other.status_code == 404
        assert not other.headers.get("Content-Type", "").startswith("application/json")
    finally:
        proc = subprocess.run([str(STACK), "up"], cwd=REPO, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert wait_for(lambda: client.get("/health").status_code == 200, 10), \
        "no 200 after the workers came back"
    expect_ok(client.get("/health"))


def test_oversize_body_gets_the_json_envelope(client):
    """lighttpd refuses the body itself (no worker saw it) but answers like the API."""
    head = (b"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 5000000\r\n"
            b"Connection: close\r\n\r\n")
    data = b""
    with socket.create_connection(("127.0.0.1", port()), timeout=10) as s:
        s.sendall(head)  # no body: lighttpd answers from the Content-Length alone
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert int(status_line.split()[1]) == 413, data[:300]
    assert b"x-request-id" not in headers.lower()
    assert re.search(rb"(?im)^content-type: application/json", headers), headers
    env = json.loads(body)
    assert env["success"] is False and env["code"] == "PAYLOAD_TOO_LARGE", env


# --------------------------------------------------------------------------- media


def tiny_png(tag):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + bytes([x * 40 % 256, 7, 9] * 2) for x in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"tEXt", b"c\x00" + tag.encode())
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_media_headers_never_let_a_file_be_a_page(client, expect_ok, make_user, token_for,
                                                  base_url):
    token = token_for(make_user(nickname="media-headers"))
    # an image that also carries markup, as a polyglot would
    data = tiny_png(f"<html><script>alert({uuid.uuid4().hex!r})</script></html>")
    asset = expect_ok(client.post("/uploads", token=token, data=data,
                                  headers={"Content-Type": "image/png"}), 201)
    path = "/" + asset["url"].split("/", 3)[3]
    # s3: the files come from the bucket or its CDN, on a domain of their own, whose headers
    # are that service's configuration (docs/storage.md); lighttpd's are checked here
    assert is_s3() or path.startswith("/media/"), asset["url"]
    for method in ("GET", "HEAD"):
        resp = requests.request(method, asset["url"] if is_s3() else base_url + path,
                                timeout=10)
        assert resp.status_code == 200, (method, resp.status_code)
        h = resp.headers
        # stored normalised (an RGB PNG becomes a JPEG), and served with the stored type
        assert h["Content-Type"].split(";")[0] == asset["mime"] == "image/jpeg"
        if method == "GET":
            # the markup rode in a text chunk: metadata is not stored, so it is gone
            assert resp.content != data and b"<script>" not in resp.content
        if is_s3():
            continue
        assert h.get("X-Content-Type-Options") == "nosniff"
        assert h.get("Content-Disposition", "").split(";")[0].strip() in ("inline", "attachment")
        csp = [d.strip() for d in h.get("Content-Security-Policy", "").split(";")]
        assert "default-src 'none'" in csp and "sandbox" in csp, h


def test_console_is_served_under_a_policy_without_inline_code(base_url):
    """/admin/ (admin-console/): the console's files under a policy that lets only this host's
    scripts, styles, images and API calls run, never framed nor cached; /api/v1/admin/ stays
    the API."""
    for path, kind in (("/admin/", "text/html"), ("/admin/console.js", "text/javascript"),
                       ("/admin/console.css", "text/css")):
        resp = requests.get(base_url + path, timeout=10)
        assert resp.status_code == 200, (path, resp.status_code)
        h = resp.headers
        assert h["Content-Type"].split(";")[0] == kind, (path, h["Content-Type"])
        csp = [d.strip() for d in h.get("Content-Security-Policy", "").split(";")]
        for d in ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                  "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"):
            assert d in csp, (path, d, csp)
        assert "unsafe-inline" not in h["Content-Security-Policy"]
        assert h.get("X-Frame-Options") == "DENY"
        assert h.get("X-Content-Type-Options") == "nosniff"
        assert h.get("Referrer-Policy") == "no-referrer"
        assert h.get("Cache-Control") == "no-store"
    assert requests.get(base_url + "/admin/nothing-here.js", timeout=10).status_code == 404
    api = requests.get(base_url + "/api/v1/admin/me", timeout=10)
    assert api.status_code == 401 and json_envelope(api)["success"] is False


# --------------------------------------------------------------------------- compression


def get_raw(url, encoding):
    """GET without any decoding: (status, headers, body as sent). encoding None: the client
    accepts no compression (requests would otherwise ask for gzip)."""
    resp = requests.get(url, headers={"Accept-Encoding": encoding or "identity"}, timeout=10,
                        stream=True)
    body = resp.raw.read(decode_content=False)
    return resp.status_code, resp.headers, body


# what WeChat's browser on a phone sends; gzip alone, as an older client does
PHONE = "gzip, deflate, br"


@pytest.mark.parametrize("path,mime", [
    ("/wechat/studio.html", "text/html"),
    ("/wechat/app.js", "text/javascript"),
    ("/wechat/vendor/weui/weui.min.css", "text/css"),
    ("/wechat/vendor/jweixin/jweixin.js", "text/javascript"),
    ("/api/v1/credits/packages", "application/json"),
])
def test_text_answers_are_compressed_as_the_client_accepts(base_url, path, mime):
    status, h, plain = get_raw(base_url + path, None)
    assert status == 200 and h["Content-Type"].startswith(mime), (status, h)
    assert "Content-Encoding" not in h, "compressed for a client that did not ask"
    for accept, want in ((PHONE, "br"), ("gzip", "gzip")):
        status, h, body = get_raw(base_url + path, accept)
        assert status == 200, (accept, status)
        assert h.get("Content-Encoding") == want, (accept, h)
        assert "accept-encoding" in h.get("Vary", "").lower(), h
        assert len(body) < len(plain), (accept, len(body), len(plain))
        if want == "gzip":
            assert zlib.decompress(body, 16 + zlib.MAX_WBITS) == plain
        if "brotli" in globals():
            assert brotli.decompress(body) == plain


def test_images_are_never_compressed_again(client, expect_ok, make_user, token_for, base_url):
    token = token_for(make_user(nickname="media-deflate"))
    asset = expect_ok(client.post("/uploads", token=token, data=tiny_png(uuid.uuid4().hex),
                                  headers={"Content-Type": "image/png"}), 201)
    path = "/" + asset["url"].split("/", 3)[3]
    status, h, body = get_raw(base_url + path, PHONE)
    assert status == 200 and h["Content-Type"] == "image/jpeg", (status, h)
    assert "Content-Encoding" not in h, h
    assert body[:3] == b"\xff\xd8\xff"


# --------------------------------------------------------------------------- Redis


def test_redis_has_a_memory_cap_and_evicts_only_keys_with_a_ttl(redis_cli):
    got = redis_cli("config", "get", "maxmemory").split("\n")
    assert got[0] == "maxmemory" and 0 < int(got[1]) <= 1024 ** 3, got
    got = redis_cli("config", "get", "maxmemory-policy").split("\n")
    assert got == ["maxmemory-policy", "volatile-lru"], got
