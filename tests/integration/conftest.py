"""Fixtures for the black-box integration suite.

The suite talks HTTP to a stack that is already running (lighttpd in front of
the FastCGI workers, PostgreSQL, Redis), as `scripts/test-integration` or
`scripts/stack up` leave it.  The environment describes that stack:

  AIPHOTO_BASE_URL  http://127.0.0.1:PORT (the API lives under /api/v1)
  AIPHOTO_VAR       the stack's state directory (run/fcgi.pid is read by the
                    fault tests)
  DATABASE_URL      used with psql to look at and arrange rows
  JWT_SECRET, JWT_ISSUER (default "aiphoto")
                    used to forge tokens, good and bad

Users and tokens come from `build/aiphotoctl`, which reads the same variables.
Only loopback addresses are ever contacted.
"""

import base64
import gzip
import hashlib
import hmac
import json
import os
import pathlib
import re
import subprocess
import time
import uuid

import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
CTL = REPO / "build" / "aiphotoctl"
HTTP_TIMEOUT = 10


def require_env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the suite through scripts/test-integration "
                    f"or after `eval \"$(scripts/stack env)\"`", pytrace=False)
    return value


# --------------------------------------------------------------------------- HTTP


class Client:
    """A thin wrapper over requests with the API prefix and a bearer token."""

    def __init__(self, base):
        self.base = base
        self.session = requests.Session()

    def url(self, path):
        return self.base + path

    def request(self, method, path, token=None, headers=None, **kwargs):
        hdrs = dict(headers or {})
        # One connection per request: a kept-alive connection that lighttpd closes after
        # its idle timeout would make a POST fail in the client, not in the service.
        hdrs.setdefault("Connection", "close")
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        kwargs.setdefault("allow_redirects", False)
        return self.session.request(method, self.url(path), headers=hdrs, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)


@pytest.fixture(scope="session")
def base_url():
    return require_env("AIPHOTO_BASE_URL").rstrip("/")


@pytest.fixture(scope="session")
def api(base_url):
    """The API root, e.g. http://127.0.0.1:8080/api/v1."""
    return base_url + "/api/v1"


@pytest.fixture(scope="session")
def client(api):
    c = Client(api)
    yield c
    c.session.close()


def _check_request_id(resp):
    rid = resp.headers.get("X-Request-Id")
    assert rid, f"no X-Request-Id on {resp.request.method} {resp.url} -> {resp.status_code}"
    return rid


def _json_body(resp):
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip().lower() == "application/json", \
        f"Content-Type {ctype!r} for {resp.status_code}: {resp.text[:200]!r}"
    try:
        return resp.json()
    except ValueError:
        pytest.fail(f"body is not JSON ({resp.status_code}): {resp.text[:200]!r}")


def _expect_ok(resp, status=200):
    """Assert a success envelope with exactly the keys success and data; return data."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:300]}"
    _check_request_id(resp)
    body = _json_body(resp)
    assert isinstance(body, dict) and set(body) == {"success", "data"}, body
    assert body["success"] is True, body
    return body["data"]


def _expect_error(resp, status, code):
    """Assert a failure envelope {success:false, code, message}; return the message."""
    assert resp.status_code == status, \
        f"expected {status} {code}, got {resp.status_code}: {resp.text[:300]}"
    _check_request_id(resp)
    body = _json_body(resp)
    assert isinstance(body, dict) and set(body) == {"success", "code", "message"}, body
    assert body["success"] is False, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    return body["message"]


@pytest.fixture(scope="session")
def expect_ok():
    return _expect_ok


@pytest.fixture(scope="session")
def expect_error():
    return _expect_error


@pytest.fixture(scope="session")
def request_id_of():
    return _check_request_id


# --------------------------------------------------------------------------- database


def _psql(sql):
    """Run one SQL string with psql; return rows as lists of strings (NULL -> None)."""
    url = require_env("DATABASE_URL")
    proc = subprocess.run(
        ["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
         "-F", "\x1f", "-P", "null=\x1e", "-c", sql],
        capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        pytest.fail(f"psql failed ({proc.returncode}): {proc.stderr.strip()}\nSQL: {sql}",
                    pytrace=False)
    rows = []
    for line in proc.stdout.split("\n"):  # not splitlines(): it splits on \x1e too
        if line == "":
            continue
        rows.append([None if f == "\x1e" else f for f in line.split("\x1f")])
    return rows


@pytest.fixture(scope="session")
def psql():
    """psql(sql) -> list of rows (lists of str or None). Build SQL only from trusted values."""
    return _psql


# --------------------------------------------------------------------------- users and tokens


def _ctl(*args):
    if not CTL.exists():
        pytest.fail(f"{CTL.relative_to(REPO)} is missing: run `make` first", pytrace=False)
    proc = subprocess.run([str(CTL), *args], capture_output=True, text=True, timeout=30,
                          cwd=REPO)
    if proc.returncode != 0:
        pytest.fail(f"aiphotoctl {' '.join(args)} failed ({proc.returncode}): "
                    f"{proc.stderr.strip()}", pytrace=False)
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def ctl():
    return _ctl


@pytest.fixture(scope="session")
def make_user():
    """make_user(nickname=None, credits=None) -> new user id (int)."""

    def make(nickname=None, credits=None):
        args = ["user", "add"]
        if nickname is not None:
            args += ["--nickname", nickname]
        if credits is not None:
            args += ["--credits", str(credits)]
        out = _ctl(*args)
        last = out.splitlines()[-1].strip() if out else ""
        assert last.isdigit(), f"`aiphotoctl user add` printed {out!r}, expected an id"
        return int(last)

    return make


@pytest.fixture(scope="session")
def token_for():
    """token_for(user_id, admin=False, ttl=None, channel=None) -> JWT from `aiphotoctl token`
    (a user token of channel "oa", "mp" or "web"; "oa" when not given)."""

    def token(user_id, admin=False, ttl=None, channel=None):
        args = ["token", "--user", str(user_id)]
        if admin:
            args.append("--admin")
        if ttl is not None:
            args += ["--ttl", str(ttl)]
        if channel is not None:
            args += ["--channel", channel]
        out = _ctl(*args)
        tok = out.splitlines()[-1].strip() if out else ""
        assert tok.count(".") == 2, f"`aiphotoctl token` printed {out!r}"
        return tok

    return token


@pytest.fixture
def unique():
    """A short random suffix for names that must not collide between runs."""
    return uuid.uuid4().hex[:10]


# --------------------------------------------------------------------------- JWT forging


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JwtForge:
    """Builds compact JWS tokens by hand, so each test can break exactly one thing.

    `claims_like(token)` returns the claims of a token the service issued;
    `sign(claims, ...)` re-encodes them with a chosen algorithm and key.
    """

    HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}

    def __init__(self, secret, issuer):
        self.secret = secret.encode("utf-8")
        self.issuer = issuer

    @staticmethod
    def segments(token):
        head, payload, sig = token.split(".")
        return (json.loads(b64url_decode(head)), json.loads(b64url_decode(payload)), sig)

    def claims_like(self, token):
        return dict(self.segments(token)[1])

    def default_claims(self, user_id, audience="user", role="user"):
        now = int(time.time())
        return {"iss": self.issuer, "aud": audience, "sub": str(user_id), "iat": now,
                "nbf": now, "exp": now + 3600, "role": role}

    def sign(self, claims, alg="HS256", secret=None, header=None):
        hdr = {"alg": alg, "typ": "JWT"} if header is None else header
        signing_input = (b64url(json.dumps(hdr, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        key = self.secret if secret is None else secret
        digest = self.HASHES.get(alg.upper() if isinstance(alg, str) else "")
        if digest is None:  # "none" and anything unknown: no signature
            return signing_input + "."
        mac = hmac.new(key, signing_input.encode("ascii"), digest).digest()
        return signing_input + "." + b64url(mac)

    @staticmethod
    def with_payload(token, claims):
        """Swap the payload of a signed token, keeping its header and signature."""
        head, _, sig = token.split(".")
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        return head + "." + body + "." + sig


@pytest.fixture(scope="session")
def jwt_forge():
    return JwtForge(require_env("JWT_SECRET"), os.environ.get("JWT_ISSUER") or "aiphoto")


# --------------------------------------------------------------------------- WeChat simulator and Redis


class Sim:
    """The control API of the WeChat simulator (tests/sim/sim.py) plus raw access to its
    WeChat-shaped endpoints.  Every control call must answer 200 with JSON."""

    def __init__(self, base):
        self.base = base.rstrip("/")
        self.session = requests.Session()

    def call(self, method, path, body=None, params=None):
        resp = self.session.request(method, self.base + path, json=body, params=params,
                                    timeout=HTTP_TIMEOUT, allow_redirects=False)
        assert resp.status_code == 200, \
            f"simulator {method} {path} -> {resp.status_code}: {resp.text[:300]}"
        try:
            return resp.json()
        except ValueError:
            pytest.fail(f"simulator {method} {path} answered non-JSON: {resp.text[:200]!r}")

    def reset(self):
        return self.call("POST", "/__sim/reset", {})

    def stats(self):
        return self.call("GET", "/__sim/stats")

    def rotate_token(self):
        return self.call("POST", "/__sim/token/rotate", {})

    def oauth_code(self, **fields):
        """fields: openid, unionid, nickname, scope -> {"code","openid"}"""
        return self.call("POST", "/__sim/oauth/code", fields)

    def mp_code(self, **fields):
        """fields: openid, unionid -> {"code","openid"}"""
        return self.call("POST", "/__sim/mp/code", fields)

    def know_openid(self, openid, app="oa"):
        """Make openid a user of the OA ("oa") or the mini program ("mp") at the simulator,
        as a login would (WeChat Pay refuses a payer openid of another app or none)."""
        return self.call("POST", "/__sim/openids", {"openid": openid, "app": app})

    def templates(self):
        return self.call("GET", "/__sim/templates")

    def menu(self):
        return self.call("GET", "/__sim/menu")

    def qrcodes(self):
        return self.call("GET", "/__sim/qrcodes")

    def push(self, sender, event=None, xml=None, mode="plain", signature="good",
             create_time=None):
        """Deliver one Official Account push to the service's callback URL; returns
        {"status","body","reply","reply_signature_ok"}."""
        body = {"from": sender, "mode": mode, "signature": signature}
        if xml is not None:
            body["xml"] = xml
        else:
            body["event"] = event
        if create_time is not None:
            body["create_time"] = create_time
        return self.call("POST", "/__sim/oa/push", body)

    def scan(self, openid, subscribed, scene_str=None, ticket=None):
        body = {"openid": openid, "subscribed": subscribed}
        if scene_str is not None:
            body["scene_str"] = scene_str
        if ticket is not None:
            body["ticket"] = ticket
        return self.call("POST", "/__sim/qr/scan", body)


@pytest.fixture
def sim():
    """The simulator, reset (counters, codes, recorded templates) before each test."""
    s = Sim(require_env("AIPHOTO_SIM_URL"))
    s.reset()
    yield s
    s.session.close()


def _redis_cli(*args):
    """redis-cli against the stack's Redis socket; returns stdout without the final newline."""
    sock = pathlib.Path(require_env("AIPHOTO_VAR")) / "redis" / "redis.sock"
    proc = subprocess.run(["redis-cli", "-s", str(sock), *[str(a) for a in args]],
                          capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        pytest.fail(f"redis-cli {' '.join(map(str, args))} failed ({proc.returncode}): "
                    f"{proc.stderr.strip()}", pytrace=False)
    return proc.stdout.rstrip("\n")


@pytest.fixture(autouse=True)
def _address_budgets_full():
    """Every test comes from 127.0.0.1: the per-address rate-limit budgets (login, QR codes,
    events, admin login) and the service-wide password-check budget start full for each
    test; the tests of the limits themselves spend them."""
    sock = pathlib.Path(require_env("AIPHOTO_VAR")) / "redis" / "redis.sock"
    # a test that stopped Redis restores it itself; no budget to reset then
    subprocess.run(["redis-cli", "-s", str(sock), "EVAL",
                    "for _, p in ipairs(ARGV) do for _, k in ipairs(redis.call('KEYS', p)) do "
                    "redis.call('DEL', k) end end return 0", "0", "rl:*:ip:*", "rl:admin-hash:*"],
                   capture_output=True, timeout=30, check=False)


@pytest.fixture(scope="session")
def redis_cli():
    """redis_cli(*args) -> stdout (raw mode: a missing key's GET prints an empty line)."""
    return _redis_cli


# --------------------------------------------------------------------------- ledger audit and WeChat Pay


def _audit():
    """Run `aiphotoctl audit`; return (exit status, stdout + stderr)."""
    if not CTL.exists():
        pytest.fail(f"{CTL.relative_to(REPO)} is missing: run `make` first", pytrace=False)
    proc = subprocess.run([str(CTL), "audit"], capture_output=True, text=True, timeout=60,
                          cwd=REPO)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def run_audit():
    """run_audit() -> (exit status, output) of `aiphotoctl audit`, whatever it is."""
    return _audit


@pytest.fixture
def audit():
    """Checks the ledger invariant after the test: `aiphotoctl audit` must exit 0
    (every user's balance equals the sum of their ledger and none is negative)."""
    yield _audit
    status, output = _audit()
    assert status == 0, f"aiphotoctl audit exited {status} after the test:\n{output[-2000:]}"


class PaySim(Sim):
    """The WeChat Pay part of the simulator: its control API under /__sim/pay/."""

    def pay(self, out_trade_no, variant="good", notify=True):
        """Mark the order paid at the simulator and (if notify) deliver the notify;
        returns {"status","body","transaction_id"}."""
        return self.call("POST", "/__sim/pay/pay",
                         {"out_trade_no": out_trade_no, "variant": variant, "notify": notify})

    def notify(self, out_trade_no, variant="good", count=None):
        """(Re)send the notify of an already paid order; returns {"statuses":[...]}."""
        body = {"out_trade_no": out_trade_no, "variant": variant}
        if count is not None:
            body["count"] = count
        return self.call("POST", "/__sim/pay/notify", body)

    def orders(self):
        return self.call("GET", "/__sim/pay/orders")


@pytest.fixture
def pay():
    """The Pay simulator's control API (not reset: its orders are shared by the suite)."""
    p = PaySim(require_env("AIPHOTO_SIM_URL"))
    yield p
    p.session.close()


def wait_database_back(timeout=20):
    """After `scripts/stack pg-start`: returns once every worker answers a database read again
    (bursts of parallel reads, so each worker meets its stale connection and its reconnect
    back-off is over), so the next test does not meet a passing 503."""
    import concurrent.futures
    url = require_env("AIPHOTO_BASE_URL") + "/api/v1/credits/packages"

    def one(_):
        try:
            return requests.get(url, timeout=HTTP_TIMEOUT,
                                headers={"Connection": "close"}).status_code
        except requests.RequestException:
            return 0

    deadline = time.monotonic() + timeout
    good = 0
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        while time.monotonic() < deadline:
            codes = list(pool.map(one, range(16)))
            good = good + 1 if codes == [200] * 16 else 0
            if good >= 2:
                return
            time.sleep(0.1)
    pytest.fail("the database did not come back for every worker within "
                f"{timeout} s of pg-start", pytrace=False)


# --------------------------------------------------------------------------- secrets in the logs
#
# At the end of every run, the product's logs (workers, dispatcher, lighttpd; rotated ones
# too) are searched for every secret the stack holds and every credential the run handed
# out; one found fails the run (pytest_sessionfinish below, docs/security.md).

# Secrets tests make up while they run (admin passwords, ...): add them here.
RUN_SECRETS = set()

# The configuration variables that hold secrets (DESIGN §8, systemd/aiphoto.env.example).
SECRET_VARS = ("JWT_SECRET", "WECHAT_SECRET", "WECHAT_TOKEN", "WECHAT_AES_KEY",
               "WECHAT_MP_SECRET", "WECHAT_MP_TOKEN", "WECHAT_MP_AES_KEY", "WXPAY_APIV3_KEY",
               "MEDIA_URL_KEY", "AIPHOTO_SIM_KEY", "S3_SECRET_ACCESS_KEY")
# Anything shaped like a JWT (a user's or an admin's bearer token).
JWT_SHAPE = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
# The product's logs under $AIPHOTO_VAR/log (not the simulator's, Redis's or PostgreSQL's).
PRODUCT_LOGS = ("fcgi.log*", "dispatch.log*", "lighttpd*")


def _url_password(url):
    m = re.match(r"^[a-z]+://[^:/@]*:([^@/]+)@", url or "")
    found = [m.group(1)] if m else []
    return found + re.findall(r"[?&]password=([^&]+)", url or "")


def stack_secrets():
    """{description: value} of every secret the running stack holds (environment, Pay key,
    development credentials, what the simulator issued, what the run made up)."""
    env = os.environ
    found = {name: env[name] for name in SECRET_VARS if env.get(name)}
    for name in ("DATABASE_URL", "REDIS_URL"):
        for i, pw in enumerate(_url_password(env.get(name))):
            found[f"{name} password {i}"] = pw
    key = env.get("WXPAY_PRIVATE_KEY_FILE")
    if key and os.path.exists(key):
        for i, line in enumerate(pathlib.Path(key).read_text().splitlines()):
            if len(line) >= 40 and not line.startswith("-----"):
                found[f"merchant private key line {i}"] = line
    devcreds = REPO / "scripts" / "dev-credentials.env"
    for line in devcreds.read_text().splitlines():
        name, _, value = line.partition("=")
        if re.search(r"SECRET|TOKEN|_KEY$|PASSWORD", name) and len(value) >= 8:
            found[f"dev-credentials {name}"] = value
    sim = env.get("AIPHOTO_SIM_URL")
    if sim:
        try:
            issued = requests.get(sim + "/__sim/issued", timeout=HTTP_TIMEOUT).json()["secrets"]
        except (requests.RequestException, ValueError, KeyError):
            issued = None
        if issued is None:
            found["(the simulator did not list what it issued)"] = None
        for i, value in enumerate(issued or []):
            found[f"simulator credential {i}"] = value
    for i, value in enumerate(sorted(RUN_SECRETS)):
        found[f"made up by a test {i}"] = value
    return found


def log_leaks(paths, secrets):
    """[(file name, what)] for each secret (by description) and JWT-shaped text in the files
    (gzip'd ones read through); a secret whose value is None is reported as unknown."""
    leaks = [("-", name) for name, value in secrets.items() if value is None]
    needles = [(name, value.encode()) for name, value in secrets.items() if value]
    for path in paths:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        leaks += [(path.name, name) for name, value in needles if value in data]
        if JWT_SHAPE.search(data):
            leaks.append((path.name, "a JWT-shaped token"))
    return leaks


def product_log_files(var):
    logs = pathlib.Path(var) / "log"
    return sorted({p for pattern in PRODUCT_LOGS for p in logs.glob(pattern) if p.is_file()})


def pytest_sessionfinish(session, exitstatus):
    var = os.environ.get("AIPHOTO_VAR")
    if not var or not (pathlib.Path(var) / "log").is_dir():
        return
    leaks = log_leaks(product_log_files(var), stack_secrets())
    if leaks:
        report = session.config.pluginmanager.get_plugin("terminalreporter")
        title = f"secrets in the product's logs ({len(leaks)})"
        lines = [f"{file}: {what}" for file, what in leaks[:50]]
        if report:
            report.write_sep("=", title, red=True)
            for line in lines:
                report.write_line(line, red=True)
        else:
            print(title, *lines, sep="\n")
        session.exitstatus = 1
