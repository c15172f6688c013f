"""The AI image provider part of the simulator (loaded by sim.py as an extension).

Two provider styles, as the dispatcher calls them:

- OpenAI style, synchronous: POST /openai/v1/images/generations answers the image itself
  (b64_json, or a url under /ai/results/ when response_format is "url").
- DashScope style, asynchronous: POST /dashscope/api/v1/services/aigc/{text2image|image2image}/
  image-synthesis (with X-DashScope-Async: enable) answers a task id; GET
  /dashscope/api/v1/tasks/{id} reports PENDING, RUNNING, then SUCCEEDED with result URLs under
  /ai/results/.

Every provider call needs Authorization: Bearer $AIPHOTO_SIM_KEY. The images are small real
files: a 64x64 PNG (or, when asked for, a baseline JPEG) whose colour comes from the work id.
The work id is read from X-Client-Request-Id ("work-<id>-<attempt>").

Under /__sim/ai/ a control API adds fault rules (HTTP 500, 429, a hang, a broken or oversized
body, a redirect, a content-policy refusal) per model or per work item, for the submit, poll or
download stage, changes the latency, and reports per-work counts and the highest number of
provider requests in flight at once. See README.md here.

Configuration (environment): AIPHOTO_SIM_KEY (default sim-ai-key-0123456789),
SIM_AI_LATENCY_MS (default 300), SIM_AI_POLL_AFTER_MS (default 1000).
"""

import base64
import collections
import datetime
import functools
import hashlib
import json
import os
import re
import secrets
import select
import socket
import struct
import sys
import threading
import time
import uuid
import zlib

import devcreds

DEFAULT_KEY = devcreds.DEV["AIPHOTO_SIM_KEY"]
OPENAI = "/openai/v1"
DASHSCOPE = "/dashscope/api/v1"
RESULTS = "/ai/results"
MODES = ("ok", "500", "429", "hang", "badjson", "oversize", "redirect", "400", "failed",
         "unknown")
POLL_ONLY = ("failed", "unknown")  # DashScope task outcomes rather than HTTP answers
STAGES = ("submit", "poll", "download")
RULE_FIELDS = {"mode", "model", "work_id", "times", "retry_after", "stage", "seconds", "format",
               "code", "message"}
# "side": the result images' side in pixels (a multiple of 8; 0 or unset: IMAGE_SIDE)
CONFIG_LIMITS = {"latency_ms": 120000, "poll_after_ms": 600000, "call_latency_ms": 120000,
                 "side": 2048}
FORMATS = {"png": ("png", "image/png"), "jpeg": ("jpg", "image/jpeg"),
           "jpg": ("jpg", "image/jpeg")}
OVERSIZE_BYTES = 12 * 1024 * 1024
HANG_SECONDS = 120
REDIRECT_TO = "http://169.254.169.254/latest/meta-data/"
MAX_REQUEST_BODY = 160 * 1024 * 1024  # up to ten 10 MiB inputs as base64 data URLs
IMAGE_SIDE = 64
MAX_RESULTS = 5000  # stored result files (oldest dropped first)
MAX_LOG = 500  # recorded provider requests
WORK_ID = re.compile(r"^work-([0-9]{1,18})(?:-([0-9]{1,9}))?$")
OPENAI_SIZE = re.compile(r"^(auto|[0-9]{2,5}x[0-9]{2,5})$")
DASHSCOPE_SIZE = re.compile(r"^[0-9]{2,5}\*[0-9]{2,5}$")
CST = datetime.timezone(datetime.timedelta(hours=8))


# --------------------------------------------------------------------------- images


def _png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def make_png(rgb, text, side=IMAGE_SIDE):
    """A side x side RGB PNG of one colour with a tEXt Comment (so every work differs)."""
    row = b"\x00" + bytes(rgb) * side
    return (b"\x89PNG\r\n\x1a\n" +
            _png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)) +
            _png_chunk(b"tEXt", b"Comment\x00" + text.encode("latin-1", "replace")) +
            _png_chunk(b"IDAT", zlib.compress(row * side)) + _png_chunk(b"IEND", b""))


# Huffman tables of the JPEG writer: the usual DC table (categories 0..11), and an AC table
# that holds only end-of-block, since every block of a one-colour image has AC = 0.
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALS = tuple(range(12))
_AC_BITS = (1,) + (0,) * 15
_AC_VALS = (0,)


def _huffman_codes(bits, vals):
    """symbol -> (code, length) of a canonical Huffman table."""
    codes, code, k = {}, 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[vals[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


class _BitWriter:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value, length):
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xff:
                    self.out.append(0)  # byte stuffing
                self.acc = self.n = 0

    def flush(self):
        while self.n:
            self.put(1, 1)  # pad the last byte with one bits
        return bytes(self.out)


def _segment(marker, payload):
    return bytes((0xff, marker)) + struct.pack(">H", len(payload) + 2) + payload


def make_jpeg(rgb, text, side=IMAGE_SIDE):
    """A baseline (SOF0) JPEG, side x side (a multiple of 8), of one colour, 4:4:4, with the
    quantisation table all ones so the decoded colour is exactly the YCbCr value written."""
    r, g, b = rgb
    ycc = (0.299 * r + 0.587 * g + 0.114 * b,
           -0.168736 * r - 0.331264 * g + 0.5 * b + 128,
           0.5 * r - 0.418688 * g - 0.081312 * b + 128)
    levels = [max(0, min(255, int(round(v)))) for v in ycc]
    dc = _huffman_codes(_DC_BITS, _DC_VALS)
    ac = _huffman_codes(_AC_BITS, _AC_VALS)
    bw = _BitWriter()
    previous = [0, 0, 0]
    for _ in range((side // 8) * (side // 8)):
        for c in range(3):
            coef = 8 * (levels[c] - 128)  # the DC term of a constant block
            diff, previous[c] = coef - previous[c], coef
            cat = abs(diff).bit_length()
            bw.put(*dc[cat])
            if cat:
                bw.put(diff if diff > 0 else diff + (1 << cat) - 1, cat)
            bw.put(*ac[0])  # end of block
    scan = bw.flush()
    jfif = b"JFIF\x00\x01\x01\x00" + struct.pack(">HH", 1, 1) + b"\x00\x00"
    dqt = b"\x00" + b"\x01" * 64
    sof = struct.pack(">BHHB", 8, side, side, 3) + b"".join(
        bytes((cid, 0x11, 0)) for cid in (1, 2, 3))
    dht = (b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALS) +
           b"\x10" + bytes(_AC_BITS) + bytes(_AC_VALS))
    sos = b"\x03" + b"".join(bytes((cid, 0x00)) for cid in (1, 2, 3)) + b"\x00\x3f\x00"
    return (b"\xff\xd8" + _segment(0xe0, jfif) +
            _segment(0xfe, text.encode("latin-1", "replace")) + _segment(0xdb, dqt) +
            _segment(0xc0, sof) + _segment(0xc4, dht) + _segment(0xda, sos) + scan +
            b"\xff\xd9")


def work_colour(work_id):
    digest = hashlib.sha256(f"work-{work_id}".encode()).digest()
    return digest[0], digest[1], digest[2]


def make_image(work_id, index, fmt, side=None):
    """(bytes, extension, mime) of the result image number index of a work item, side x side
    (IMAGE_SIDE when not given)."""
    side = (side or IMAGE_SIDE) // 8 * 8 or IMAGE_SIDE
    ext, mime = FORMATS[fmt]
    text = f"aiphoto simulator: work {work_id if work_id is not None else '-'} image {index}"
    rgb = work_colour(work_id)
    data = make_jpeg(rgb, text, side) if ext == "jpg" else make_png(rgb, text, side)
    return data, ext, mime


def sniff(data):
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


# --------------------------------------------------------------------------- helpers


class InputError(Exception):
    """A malformed provider request: the field and what is wrong."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


def check_image_ref(value, field):
    """A summary of one input image (data URL or http(s) URL), or InputError."""
    if not isinstance(value, str) or not value:
        raise InputError(field, f"{field} must be a non-empty string")
    if value.startswith(("http://", "https://")):
        return {"field": field, "url": value}
    head, sep, payload = value.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise InputError(field, f"{field} must be a data:image/...;base64, URL or an http(s) URL")
    declared = head[5:-7].lower()
    if declared == "image/jpg":
        declared = "image/jpeg"
    if declared not in ("image/png", "image/jpeg", "image/webp"):
        raise InputError(field, f"{field}: unsupported media type {declared!r}")
    try:
        data = base64.b64decode(payload, validate=True)
    except ValueError:
        raise InputError(field, f"{field}: the base64 payload is malformed") from None
    actual = sniff(data)
    if actual is None:
        raise InputError(field, f"{field}: the data is not an image")
    if actual != declared:
        raise InputError(field, f"{field}: declared {declared} but the data is {actual}")
    return {"field": field, "mime": actual, "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


def client_gone(sock):
    """True when the peer has closed the connection (or the socket is unusable)."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def dashscope_time():
    return datetime.datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def int_field(body, name, low, high, required=False):
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f'"{name}" must be an integer of {low}..{high}')
    return value


# --------------------------------------------------------------------------- state


class AiSim:
    def __init__(self, sim, core, env=None):
        env = os.environ if env is None else env
        self.sim = sim
        self.core = core
        self.key = env.get("AIPHOTO_SIM_KEY") or DEFAULT_KEY
        self.defaults = {"latency_ms": int(env.get("SIM_AI_LATENCY_MS") or 300),
                         "poll_after_ms": int(env.get("SIM_AI_POLL_AFTER_MS") or 1000),
                         "call_latency_ms": 0, "format": "png"}
        self.cancel = threading.Event()  # set (and replaced) when hangs must end
        self.in_flight = 0
        self.hanging = 0
        self.reset()

    def reset(self):
        with self.sim.lock:
            self.rules = []
            self.next_rule = 1
            self.config = dict(self.defaults)
            self.counts = {"submissions": {}, "polls": {}, "downloads": {}}
            self.totals = {"submissions": 0, "polls": 0, "downloads": 0}
            self.auth_failures = 0
            self.faults_applied = {}
            self.max_concurrent = self.in_flight
            self.tasks = {}
            self.results = collections.OrderedDict()
            self.log = collections.deque(maxlen=MAX_LOG)
            self.seq = 0
            self.wake()

    def wake(self):
        """Ends every hang in progress (they close their connection without an answer)."""
        with self.sim.lock:
            ev, self.cancel = self.cancel, threading.Event()
        ev.set()

    # -- counting

    def enter(self):
        with self.sim.lock:
            self.in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self.in_flight)

    def leave(self):
        with self.sim.lock:
            self.in_flight -= 1

    def count(self, kind, work_id):
        key = str(work_id) if work_id is not None else "none"
        with self.sim.lock:
            per = self.counts[kind]
            per[key] = per.get(key, 0) + 1
            self.totals[kind] += 1

    def record(self, entry):
        with self.sim.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.log.append(entry)

    def stats(self):
        with self.sim.lock:
            return {"submissions": dict(self.counts["submissions"]),
                    "polls": dict(self.counts["polls"]),
                    "downloads": dict(self.counts["downloads"]),
                    "total_submissions": self.totals["submissions"],
                    "total_polls": self.totals["polls"],
                    "total_downloads": self.totals["downloads"],
                    "auth_failures": self.auth_failures,
                    "faults_applied": dict(self.faults_applied),
                    "max_concurrent": self.max_concurrent,
                    "in_flight": self.in_flight, "hanging": self.hanging,
                    "tasks": len(self.tasks)}

    def core_stats(self):
        """The summary merged into GET /__sim/stats."""
        with self.sim.lock:
            return {"ai_total_submissions": self.totals["submissions"],
                    "ai_total_polls": self.totals["polls"],
                    "ai_total_downloads": self.totals["downloads"],
                    "ai_auth_failures": self.auth_failures,
                    "ai_max_concurrent": self.max_concurrent}

    # -- fault rules

    def add_rule(self, body):
        unknown = set(body) - RULE_FIELDS
        if unknown:
            raise ValueError("unknown field(s): " + ", ".join(sorted(unknown)))
        mode = body.get("mode")
        mode = str(mode) if isinstance(mode, (str, int)) and not isinstance(mode, bool) else None
        if mode not in MODES:
            raise ValueError('"mode" must be one of ' + "|".join(MODES))
        model = body.get("model", "*")
        if not isinstance(model, str) or not model:
            raise ValueError('"model" must be a model name or "*"')
        stage = body.get("stage", "submit")
        if stage not in STAGES:
            raise ValueError('"stage" must be one of ' + "|".join(STAGES))
        if mode in POLL_ONLY and stage != "poll":
            raise ValueError(f'mode "{mode}" is a DashScope task outcome: use "stage":"poll"')
        work_id = int_field(body, "work_id", 1, 2 ** 63 - 1)
        times = int_field(body, "times", 1, 1000000)
        retry_after = int_field(body, "retry_after", 0, 86400)
        seconds = body.get("seconds")
        if seconds is not None and (not isinstance(seconds, (int, float)) or
                                    isinstance(seconds, bool) or
                                    not 0 < seconds <= HANG_SECONDS):
            raise ValueError(f'"seconds" must be a number of (0, {HANG_SECONDS}]')
        fmt = body.get("format")
        if fmt is not None and fmt not in FORMATS:
            raise ValueError('"format" must be "png" or "jpeg"')
        for k in ("code", "message"):
            if body.get(k) is not None and not isinstance(body[k], str):
                raise ValueError(f'"{k}" must be a string')
        with self.sim.lock:
            rule = {"id": self.next_rule, "mode": mode, "model": model, "work_id": work_id,
                    "stage": stage, "times": times, "remaining": times,
                    "retry_after": 1 if retry_after is None else retry_after,
                    "seconds": HANG_SECONDS if seconds is None else seconds,
                    "format": "jpeg" if fmt == "jpg" else fmt, "code": body.get("code"),
                    "message": body.get("message"), "hits": 0}
            self.next_rule += 1
            self.rules.append(rule)
            return dict(rule)

    def clear_rules(self):
        with self.sim.lock:
            n = len(self.rules)
            self.rules = []
        self.wake()
        return n

    def pick(self, stage, model, work_id):
        """The rule that applies to this call (a copy), counting it; None when none does.
        Most specific first: work id and model, work id, model, then "*"; among equals the
        oldest rule with uses left."""
        with self.sim.lock:
            best, best_rank = None, None
            for rule in self.rules:
                if rule["stage"] != stage or rule["remaining"] == 0:
                    continue
                if rule["work_id"] is not None and rule["work_id"] != work_id:
                    continue
                if rule["model"] != "*" and rule["model"] != model:
                    continue
                rank = (0 if rule["work_id"] is not None else 2) + \
                    (0 if rule["model"] != "*" else 1)
                if best_rank is None or rank < best_rank:
                    best, best_rank = rule, rank
            if best is None:
                return None
            best["hits"] += 1
            if best["remaining"] is not None:
                best["remaining"] -= 1
            self.faults_applied[best["mode"]] = self.faults_applied.get(best["mode"], 0) + 1
            return dict(best)

    # -- waiting

    def hang(self, req, seconds):
        """Holds the request without answering until the client leaves, the faults are
        cleared or reset, or seconds pass; then drops the connection."""
        with self.sim.lock:
            ev = self.cancel
            self.hanging += 1
        deadline = time.monotonic() + seconds
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or ev.wait(min(0.1, left)) or client_gone(req.connection):
                    break
        finally:
            with self.sim.lock:
                self.hanging -= 1
        return self.core.Response(drop=True)

    def pause(self, ms):
        """Latency: interrupted (early answer) by a reset or a clear."""
        if ms > 0:
            with self.sim.lock:
                ev = self.cancel
            ev.wait(ms / 1000.0)

    # -- results

    def store_result(self, work_id, model, index, fmt):
        data, ext, mime = make_image(work_id, index, fmt, self.config.get("side"))
        name = f"w{work_id if work_id is not None else 0}-{secrets.token_hex(8)}.{ext}"
        with self.sim.lock:
            self.results[name] = {"data": data, "mime": mime, "work_id": work_id,
                                  "model": model}
            while len(self.results) > MAX_RESULTS:
                self.results.popitem(last=False)
        return f"{self.sim.cfg.base_url}{RESULTS}/{name}"

    def authorized(self, req):
        value = req.headers.get("Authorization") or ""
        scheme, _, token = value.partition(" ")
        ok = scheme.lower() == "bearer" and secrets.compare_digest(token.strip().encode(),
                                                                   self.key.encode())
        if not ok:
            with self.sim.lock:
                self.auth_failures += 1
        return ok


def work_of(req, user=None):
    """(work id, attempt) from X-Client-Request-Id, else from the OpenAI "user" field."""
    for value in (req.headers.get("X-Client-Request-Id"), user):
        found = WORK_ID.match(value.strip()) if isinstance(value, str) else None
        if found:
            return int(found.group(1)), int(found.group(2)) if found.group(2) else None
    return None, None


def stream_of(prefix, suffix, total, fill=b"A"):
    """A body of exactly total bytes: prefix, fill bytes, suffix, in 64 KiB chunks."""
    middle = total - len(prefix) - len(suffix)

    def gen():
        yield prefix
        block = fill * 65536
        left = middle
        while left > 0:
            n = min(left, len(block))
            yield block[:n]
            left -= n
        yield suffix
    return gen()


# --------------------------------------------------------------------------- provider shapes


def openai_error(core, status, message, etype, code=None, param=None, headers=None):
    resp = core.json_response({"error": {"message": message, "type": etype, "param": param,
                                         "code": code}}, status)
    resp.headers.extend(headers or [])
    return resp


def dashscope_error(core, status, code, message, headers=None):
    resp = core.json_response({"code": code, "message": message,
                               "request_id": str(uuid.uuid4())}, status)
    resp.headers.extend(headers or [])
    return resp


def fault_response(ai, req, rule, provider, stage):
    """The answer of a fault rule, or None for "ok" (and the DashScope task outcomes, which
    the poll handler writes itself)."""
    core = ai.core
    mode = rule["mode"]
    code, message = rule.get("code"), rule.get("message")
    if mode in ("ok",) + POLL_ONLY:
        return None
    if mode == "hang":
        return ai.hang(req, rule["seconds"])
    if mode == "redirect":
        return core.Response(302, b"", "text/html; charset=utf-8", [("Location", REDIRECT_TO)])
    if stage == "download":
        # Result files come from an object store: plain answers, not the provider's JSON.
        if mode == "badjson":
            return core.Response(200, b"<html><body>this is not an image</body></html>",
                                 "image/png")
        if mode == "oversize":
            return core.Response(200, stream=stream_of(b"\x89PNG\r\n\x1a\n", b"",
                                                       OVERSIZE_BYTES, b"\x00"),
                                 length=OVERSIZE_BYTES, content_type="image/png")
        status = int(mode)
        headers = [("Retry-After", str(rule["retry_after"]))] if status == 429 else []
        return core.Response(status, json.dumps({"code": code or f"Sim{status}",
                                                 "message": message or "simulated error"}),
                             headers=headers)
    if mode == "badjson":
        body = (b'{"created": 1700000000, "data": [{"b64_json": "iVBORw0KGgoAAAANSUhEUgAA'
                if provider == "openai" else
                b'{"output": {"task_id": "0b3c-truncated", "task_status": "PEND')
        return core.Response(200, body)
    if mode == "oversize":
        if provider == "openai":
            prefix, suffix = b'{"created": 1700000000, "data": [{"b64_json": "', b'"}]}'
        else:
            prefix, suffix = b'{"output": {"task_id": "oversize", "message": "', b'"}}'
        return core.Response(200, stream=stream_of(prefix, suffix, OVERSIZE_BYTES),
                             length=OVERSIZE_BYTES)
    retry = [("Retry-After", str(rule["retry_after"]))]
    if provider == "openai":
        if mode == "500":
            return openai_error(core, 500, message or "simulated: the server had an error",
                                "server_error", code)
        if mode == "429":
            return openai_error(core, 429, message or "simulated: rate limit reached, "
                                "try again later", "requests", code or "rate_limit_exceeded",
                                headers=retry)
        return openai_error(core, 400, message or "simulated: the request was refused by the "
                            "content safety system", "image_generation_user_error",
                            code or "content_policy_violation")
    if mode == "500":
        return dashscope_error(core, 500, code or "InternalError",
                               message or "simulated: internal error")
    if mode == "429":
        return dashscope_error(core, 429, code or "Throttling.RateQuota",
                               message or "simulated: request rate limit exceeded",
                               headers=retry)
    return dashscope_error(core, 400, code or "DataInspectionFailed",
                           message or "simulated: the input or output may contain "
                           "inappropriate content")


# --------------------------------------------------------------------------- handlers


class AiRoutes:
    """The simulated providers (OpenAI-style images, DashScope-style async tasks, their result
    files) and the control API under /__sim/ai/; ROUTES says which method serves which path."""

    def __init__(self, sim):
        self.sim = sim
        self.core = sys.modules[type(sim).__module__]
        self.ai = AiSim(sim, self.core)

    def provider_call(self, fn):
        """Counts the request as in flight while the handler runs (hangs and latency too)."""
        def handler(req):
            self.ai.enter()
            try:
                return fn(req)
            finally:
                self.ai.leave()
        return handler

    def parse_body(self, req):
        try:
            body = json.loads(req.body or b"null")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def image_format(self, *candidates):
        for value in candidates:
            if isinstance(value, str) and value.lower() in FORMATS:
                return "jpeg" if value.lower() == "jpg" else value.lower()
        with self.sim.lock:
            return self.ai.config["format"]

    def entry_for(self, req, provider, stage, work_id, attempt, model):
        return {"at": time.time(), "provider": provider, "stage": stage,
                "method": req.method, "path": req.path, "work_id": work_id, "attempt": attempt,
                "client_request_id": req.headers.get("X-Client-Request-Id"), "model": model,
                "fault": None, "status": None}

    def finish(self, entry, resp, rule=None):
        entry["fault"] = rule["mode"] if rule else None
        entry["status"] = None if resp.drop else resp.status
        self.ai.record(entry)
        return resp

    # ------------------------------------------------------------ OpenAI style

    def openai_generate(self, req):
        if not self.ai.authorized(req):
            return openai_error(self.core, 401, "simulated: incorrect API key provided",
                                "invalid_request_error", "invalid_api_key")
        body = self.parse_body(req)
        if body is None:
            return openai_error(self.core, 400, "the body must be a JSON object",
                                "invalid_request_error")
        work_id, attempt = work_of(req, body.get("user"))
        model = body.get("model")
        self.ai.count("submissions", work_id)
        entry = self.entry_for(req, "openai", "submit", work_id, attempt, model)
        try:
            inputs = self.check_openai(body)
        except InputError as err:
            entry["error"] = err.message
            return self.finish(entry, openai_error(self.core, 400, err.message,
                                                   "invalid_request_error", param=err.field))
        entry.update(inputs)
        rule = self.ai.pick("submit", model, work_id)
        if rule:
            resp = fault_response(self.ai, req, rule, "openai", "submit")
            if resp is not None:
                return self.finish(entry, resp, rule)
        with self.sim.lock:
            latency = self.ai.config["latency_ms"]
        self.ai.pause(latency)
        fmt = self.image_format(rule and rule["format"], body.get("format"),
                           body.get("output_format"))
        data = []
        for i in range(body.get("n") or 1):
            if body.get("response_format") == "url":
                data.append({"url": self.ai.store_result(work_id, model, i, fmt)})
            else:
                raw = make_image(work_id, i, fmt, self.ai.config.get("side"))[0]
                data.append({"b64_json": base64.b64encode(raw).decode("ascii")})
        out = {"created": int(time.time()), "data": data,
               "usage": {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0}}
        return self.finish(entry, self.core.json_response(out), rule)

    def check_openai(self, body):
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InputError("model", "you must provide a model parameter")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError("prompt", "prompt must be a non-empty string")
        if len(prompt) > 32000:
            raise InputError("prompt", "prompt is longer than 32000 characters")
        n = body.get("n")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10):
            raise InputError("n", "n must be an integer of 1..10")
        size = body.get("size")
        if size is not None and (not isinstance(size, str) or not OPENAI_SIZE.match(size)):
            raise InputError("size", "size must be WIDTHxHEIGHT or auto")
        rf = body.get("response_format")
        if rf is not None and rf not in ("url", "b64_json"):
            raise InputError("response_format", 'response_format must be "url" or "b64_json"')
        neg = body.get("negative_prompt")
        if neg is not None and not isinstance(neg, str):
            raise InputError("negative_prompt", "negative_prompt must be a string")
        user = body.get("user")
        if user is not None and not isinstance(user, str):
            raise InputError("user", "user must be a string")
        images = body.get("image")
        inputs = []
        if images is not None:
            if not isinstance(images, list) or not 1 <= len(images) <= 16:
                raise InputError("image", "image must be a list of 1..16 images")
            inputs = [check_image_ref(v, f"image[{i}]") for i, v in enumerate(images)]
        known = {"model", "prompt", "n", "size", "response_format", "image",
                 "negative_prompt", "user"}
        return {"prompt": prompt, "negative_prompt": neg, "size": size, "n": n,
                "response_format": rf, "user": user, "inputs": inputs,
                "extra_fields": sorted(set(body) - known)}

    # ------------------------------------------------------------ DashScope style

    def dashscope_submit(self, req, kind):
        if not self.ai.authorized(req):
            return dashscope_error(self.core, 401, "InvalidApiKey",
                                   "simulated: invalid API-key provided")
        if (req.headers.get("X-DashScope-Async") or "").strip().lower() != "enable":
            return dashscope_error(self.core, 403, "AccessDenied",
                                   "simulated: this model only takes asynchronous calls "
                                   "(X-DashScope-Async: enable)")
        body = self.parse_body(req)
        if body is None:
            return dashscope_error(self.core, 400, "InvalidParameter",
                                   "the body must be a JSON object")
        work_id, attempt = work_of(req)
        model = body.get("model")
        self.ai.count("submissions", work_id)
        entry = self.entry_for(req, "dashscope", "submit", work_id, attempt, model)
        entry["kind"] = kind
        try:
            inputs = self.check_dashscope(kind, body)
        except InputError as err:
            entry["error"] = err.message
            return self.finish(entry, dashscope_error(self.core, 400, "InvalidParameter",
                                                      err.message))
        entry.update(inputs)
        rule = self.ai.pick("submit", model, work_id)
        if rule:
            resp = fault_response(self.ai, req, rule, "dashscope", "submit")
            if resp is not None:
                return self.finish(entry, resp, rule)
        with self.sim.lock:
            latency = self.ai.config["call_latency_ms"]
        self.ai.pause(latency)
        params = body.get("parameters") or {}
        task_id = str(uuid.uuid4())
        task = {"task_id": task_id, "model": model, "work_id": work_id, "kind": kind,
                "tryon": inputs["tryon"], "n": params.get("n") or 1,
                "format": self.image_format(rule and rule["format"], params.get("format"),
                                       body.get("format")),
                "started": time.monotonic(), "submit_time": dashscope_time(),
                "end_time": None, "urls": None, "outcome": None}
        with self.sim.lock:
            self.ai.tasks[task_id] = task
        entry["task_id"] = task_id
        return self.finish(entry, self.core.json_response(
            {"output": {"task_id": task_id, "task_status": "PENDING"},
             "request_id": str(uuid.uuid4())}), rule)

    def check_dashscope(self, kind, body):
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InputError("model", "model is required")
        inp = body.get("input")
        if not isinstance(inp, dict):
            raise InputError("input", "input must be an object")
        prompt = inp.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise InputError("input.prompt", "input.prompt must be a string")
        if kind == "text2image" and not (prompt or "").strip():
            raise InputError("input.prompt", "input.prompt is required")
        neg = inp.get("negative_prompt")
        if neg is not None and not isinstance(neg, str):
            raise InputError("input.negative_prompt", "input.negative_prompt must be a string")
        inputs, tryon = [], False
        refs = inp.get("ref_images")
        if refs is not None:
            if not isinstance(refs, list) or not 1 <= len(refs) <= 16:
                raise InputError("input.ref_images", "input.ref_images must be a list of 1..16")
            inputs = [check_image_ref(v, f"input.ref_images[{i}]") for i, v in enumerate(refs)]
        person, garment = inp.get("person_image_url"), inp.get("top_garment_url")
        if person is not None or garment is not None:
            if refs is not None:
                raise InputError("input", "give either ref_images or person_image_url and "
                                 "top_garment_url")
            inputs = [check_image_ref(person, "input.person_image_url"),
                      check_image_ref(garment, "input.top_garment_url")]
            tryon = True
        if kind == "image2image" and not inputs:
            raise InputError("input", "image2image needs input.ref_images or "
                             "input.person_image_url and input.top_garment_url")
        params = body.get("parameters", {})
        if not isinstance(params, dict):
            raise InputError("parameters", "parameters must be an object")
        size = params.get("size")
        if size is not None and (not isinstance(size, str) or not DASHSCOPE_SIZE.match(size)):
            raise InputError("parameters.size", "parameters.size must be WIDTH*HEIGHT")
        n = params.get("n")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 4):
            raise InputError("parameters.n", "parameters.n must be an integer of 1..4")
        known = {"model", "input", "parameters"}
        return {"prompt": prompt, "negative_prompt": neg, "size": size, "n": n,
                "inputs": inputs, "tryon": tryon, "extra_fields": sorted(set(body) - known)}


    def dashscope_poll(self, req):
        if not self.ai.authorized(req):
            return dashscope_error(self.core, 401, "InvalidApiKey",
                                   "simulated: invalid API-key provided")
        task_id = req.params["task_id"]
        with self.sim.lock:
            task = self.ai.tasks.get(task_id)
            work_id = task["work_id"] if task else None
            model = task["model"] if task else None
        header_work, attempt = work_of(req)
        if work_id is None:
            work_id = header_work
        self.ai.count("polls", work_id)
        entry = self.entry_for(req, "dashscope", "poll", work_id, attempt, model)
        entry["task_id"] = task_id
        rule = self.ai.pick("poll", model, work_id)
        if rule:
            resp = fault_response(self.ai, req, rule, "dashscope", "poll")
            if resp is not None:
                return self.finish(entry, resp, rule)
        with self.sim.lock:
            latency = self.ai.config["call_latency_ms"]
            poll_after = self.ai.config["poll_after_ms"] / 1000.0
        self.ai.pause(latency)
        request_id = str(uuid.uuid4())
        if task is None or (rule and rule["mode"] == "unknown"):
            if task is not None:
                with self.sim.lock:
                    self.ai.tasks.pop(task_id, None)  # an expired task stays unknown
            return self.finish(entry, self.core.json_response(
                {"output": {"task_id": task_id, "task_status": "UNKNOWN"},
                 "request_id": request_id}), rule)
        out = {"task_id": task_id, "submit_time": task["submit_time"]}
        with self.sim.lock:
            if rule and rule["mode"] == "failed" and task["outcome"] is None:
                task["outcome"] = (rule["code"] or "InternalError.Algo",
                                   rule["message"] or "simulated: the generation failed")
                task["end_time"] = dashscope_time()
            outcome = task["outcome"]
            elapsed = time.monotonic() - task["started"]
        if outcome:
            out.update(task_status="FAILED", code=outcome[0], message=outcome[1],
                       end_time=task["end_time"])
        elif elapsed < poll_after / 4:
            out["task_status"] = "PENDING"
        elif elapsed < poll_after:
            out.update(task_status="RUNNING", scheduled_time=task["submit_time"])
        else:
            fmt = rule["format"] if rule and rule["format"] else task["format"]
            with self.sim.lock:
                urls = task["urls"]
            if urls is None:
                urls = [self.ai.store_result(work_id, model, i, fmt) for i in range(task["n"])]
                with self.sim.lock:
                    if task["urls"] is None:
                        task["urls"], task["end_time"] = urls, dashscope_time()
                    urls = task["urls"]
            out.update(task_status="SUCCEEDED", scheduled_time=task["submit_time"],
                       end_time=task["end_time"])
            if task["tryon"]:
                out["image_url"] = urls[0]
            else:
                out["results"] = [{"url": u} for u in urls]
                out["task_metrics"] = {"TOTAL": len(urls), "SUCCEEDED": len(urls),
                                       "FAILED": 0}
        body = {"output": out, "request_id": request_id}
        if out["task_status"] == "SUCCEEDED":
            body["usage"] = {"image_count": task["n"]}
        return self.finish(entry, self.core.json_response(body), rule)

    # ------------------------------------------------------------ result files

    def result_file(self, req):
        name = req.params["name"]
        with self.sim.lock:
            rec = self.ai.results.get(name)
            work_id = rec["work_id"] if rec else None
            model = rec["model"] if rec else None
        header_work, attempt = work_of(req)
        if work_id is None:
            work_id = header_work
        self.ai.count("downloads", work_id)
        entry = self.entry_for(req, "result", "download", work_id, attempt, model)
        rule = self.ai.pick("download", model, work_id)
        if rule:
            resp = fault_response(self.ai, req, rule, "result", "download")
            if resp is not None:
                return self.finish(entry, resp, rule)
        if rec is None:
            return self.finish(entry, self.core.Response(404, json.dumps(
                {"code": "NoSuchKey", "message": "the result file does not exist"})), rule)
        return self.finish(entry, self.core.Response(200, rec["data"], rec["mime"]), rule)

    # ------------------------------------------------------------ control API

    def add_fault(self, req):
        body = req.json()
        try:
            rule = self.ai.add_rule(body)
        except ValueError as err:
            raise self.core.HttpError(400, str(err)) from None
        self.core.log("info", "ai fault added", rule=rule)
        return self.core.json_response({"rule": rule}, 201)

    def list_faults(self, req):
        with self.sim.lock:
            return self.core.json_response({"rules": [dict(r) for r in self.ai.rules]})

    def clear_faults(self, req):
        return self.core.json_response({"cleared": self.ai.clear_rules()})

    def ai_stats(self, req):
        return self.core.json_response(self.ai.stats())

    def get_config(self, req):
        with self.sim.lock:
            return self.core.json_response(dict(self.ai.config, key_configured=bool(self.ai.key)))

    def set_config(self, req):
        body = req.json()
        unknown = set(body) - set(CONFIG_LIMITS) - {"format"}
        if unknown:
            raise self.core.HttpError(400, "unknown field(s): " + ", ".join(sorted(unknown)))
        try:
            values = {k: int_field(body, k, 0, hi) for k, hi in CONFIG_LIMITS.items()}
        except ValueError as err:
            raise self.core.HttpError(400, str(err)) from None
        fmt = body.get("format")
        if fmt is not None and fmt not in FORMATS:
            raise self.core.HttpError(400, '"format" must be "png" or "jpeg"')
        with self.sim.lock:
            self.ai.config.update({k: v for k, v in values.items() if v is not None})
            if fmt is not None:
                self.ai.config["format"] = "jpeg" if fmt == "jpg" else fmt
            return self.core.json_response(dict(self.ai.config))

    def requests_log(self, req):
        with self.sim.lock:
            items = list(self.ai.log)
        work = req.query.get("work_id")
        if work:
            items = [e for e in items if str(e["work_id"]) == work]
        return self.core.json_response({"requests": items})

    def ai_reset(self, req):
        self.ai.reset()
        return self.core.json_response({"ok": True})


# (method, path, AiRoutes method, counted as a provider call while it runs, fixed arguments)
ROUTES = (
    ("POST", OPENAI + "/images/generations", "openai_generate", True, {}),
    ("POST", DASHSCOPE + "/services/aigc/text2image/image-synthesis", "dashscope_submit", True,
     {"kind": "text2image"}),
    ("POST", DASHSCOPE + "/services/aigc/image2image/image-synthesis", "dashscope_submit", True,
     {"kind": "image2image"}),
    ("GET", DASHSCOPE + "/tasks/{task_id}", "dashscope_poll", True, {}),
    ("GET", RESULTS + "/{name}", "result_file", True, {}),
    ("POST", "/__sim/ai/faults", "add_fault", False, {}),
    ("GET", "/__sim/ai/faults", "list_faults", False, {}),
    ("DELETE", "/__sim/ai/faults", "clear_faults", False, {}),
    ("GET", "/__sim/ai/stats", "ai_stats", False, {}),
    ("GET", "/__sim/ai/config", "get_config", False, {}),
    ("POST", "/__sim/ai/config", "set_config", False, {}),
    ("GET", "/__sim/ai/requests", "requests_log", False, {}),
    ("POST", "/__sim/ai/reset", "ai_reset", False, {}),
)


def register(sim):
    routes = AiRoutes(sim)
    ai = routes.ai
    sim.ai = ai
    sim.on_reset(ai.reset)
    sim.add_stats(ai.core_stats)
    sim.allow_body(OPENAI + "/", MAX_REQUEST_BODY)
    sim.allow_body(DASHSCOPE + "/", MAX_REQUEST_BODY)
    for method, path, name, provider, fixed in ROUTES:
        handler = functools.partial(getattr(routes, name), **fixed)
        if provider:
            handler = routes.provider_call(handler)
        sim.route(method, path)(handler)
