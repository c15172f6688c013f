"""The WeChat cloud storage part of the simulator (loaded by sim.py as an extension).

One cloud environment (WECHAT_CLOUD_ENV, default from scripts/dev-credentials.env) owned by
the mini program, with one storage bucket "<hex of the env's first two chars>-<env>-1300000001".
Its files are "cloud://<env>.<bucket>/<path>" ids, put there by the control API.

- POST /tcb/batchdownloadfile?access_token= (the mini program's token) {"env","file_list":
  [{"fileid","max_age"}]} answers {"errcode":0,"errmsg":"ok","file_list":[{"fileid",
  "download_url","status","errmsg"}]}: status 0 with a signed download URL valid max_age
  seconds, or -503003 STORAGE_FILE_NONEXIST, -503002 STORAGE_EXCEED_AUTHORITY (another
  bucket), -501007 INVALID_PARAM (not a file id) for that file.
- GET /tcb/download/{bucket}/{path}?sign=&t= serves the bytes (an object store: 403 for a bad
  or expired signature, 404 NoSuchKey).
- GET /tcb/public/{path} serves them without a signature: the storage's public domain, which
  CLOUD_STORAGE_URL_PREFIX points at on the local stack.

Control API under /__sim/tcb/: files (put, list, remove), fault rules per stage ("api": the
batchdownloadfile call; "download": the signed download) and counters. See README.md here.
"""

import base64
import hashlib
import hmac
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse

import devcreds
from ext_ai import client_gone, make_png, stream_of

STORAGE_APPID = "1300000001"  # the numeric app id in the bucket name
MAX_FILES = 50  # files per batchdownloadfile call
MAX_FILE = 16 * 1024 * 1024  # a file put through the control API
OVERSIZE_BYTES = 11 * 1024 * 1024
HANG_SECONDS = 120
MODES = ("500", "timeout", "errcode", "oversize", "notimage")
STAGES = ("api", "download")
API_ONLY = ("errcode",)
DOWNLOAD_ONLY = ("oversize", "notimage")
FILE_ID = re.compile(r"^cloud://([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)/(.+)$")
RULE_FIELDS = {"mode", "stage", "times", "seconds", "errcode", "errmsg"}
PNG_SIG = b"\x89PNG\r\n\x1a\n"


def bucket_of(env):
    return f"{env[:2].encode().hex()}-{env}-{STORAGE_APPID}"


def cos_error(core, status, code, message):
    """An object store error (XML, as COS answers)."""
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>")
    return core.Response(status, body, "application/xml")


class Tcb:
    def __init__(self, sim, core):
        self.sim = sim
        self.core = core
        self.env = os.environ.get("WECHAT_CLOUD_ENV") or devcreds.DEV["WECHAT_CLOUD_ENV"]
        self.bucket = bucket_of(self.env)
        self.short_bucket = self.bucket[:-(len(STORAGE_APPID) + 1)]
        self.secret = secrets.token_bytes(32)
        self.cancel = threading.Event()
        self.reset()

    def reset(self):
        with self.sim.lock:
            self.files = {}
            self.rules = []
            self.counts = {"api_calls": 0, "api_rejected": 0, "downloads": 0,
                           "public_downloads": 0, "faults_applied": 0}
            ev, self.cancel = self.cancel, threading.Event()
        ev.set()

    def count(self, name):
        with self.sim.lock:
            self.counts[name] += 1

    def file_id(self, path):
        return f"cloud://{self.env}.{self.bucket}/{path}"

    # -- signed links

    def sign(self, path, expires):
        msg = f"{path}\n{expires}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()[:32]

    def link(self, path, max_age):
        expires = int(time.time()) + max_age
        quoted = urllib.parse.quote(path, safe="/")
        return (f"{self.sim.cfg.base_url}/tcb/download/{self.bucket}/{quoted}"
                f"?sign={self.sign(path, expires)}&t={expires}")

    # -- faults

    def add_rule(self, body):
        unknown = set(body) - RULE_FIELDS
        if unknown:
            raise ValueError("unknown field(s): " + ", ".join(sorted(unknown)))
        mode, stage = body.get("mode"), body.get("stage", "api")
        if mode not in MODES:
            raise ValueError('"mode" must be one of ' + "|".join(MODES))
        if stage not in STAGES:
            raise ValueError('"stage" must be one of ' + "|".join(STAGES))
        if (mode in API_ONLY and stage != "api") or (mode in DOWNLOAD_ONLY and stage != "download"):
            raise ValueError(f'mode "{mode}" does not apply to stage "{stage}"')
        times, seconds, errcode = body.get("times"), body.get("seconds", 30), body.get("errcode", -1)
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise ValueError('"times" must be a positive integer')
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or \
                not 0 < seconds <= HANG_SECONDS:
            raise ValueError(f'"seconds" must be a number of (0, {HANG_SECONDS}]')
        if not isinstance(errcode, int) or isinstance(errcode, bool) or errcode == 0:
            raise ValueError('"errcode" must be a non-zero integer')
        rule = {"mode": mode, "stage": stage, "remaining": times, "seconds": seconds,
                "errcode": errcode, "errmsg": str(body.get("errmsg", "system error")), "hits": 0}
        with self.sim.lock:
            self.rules.append(rule)
            return dict(rule)

    def clear_rules(self):
        with self.sim.lock:
            n, self.rules = len(self.rules), []
            ev, self.cancel = self.cancel, threading.Event()
        ev.set()
        return n

    def pick(self, stage):
        with self.sim.lock:
            for rule in self.rules:
                if rule["stage"] == stage and rule["remaining"] != 0:
                    rule["hits"] += 1
                    if rule["remaining"] is not None:
                        rule["remaining"] -= 1
                    self.counts["faults_applied"] += 1
                    return dict(rule)
        return None

    def hold(self, req, seconds):
        """No answer: the connection is dropped when the client leaves, the rules are cleared
        or reset, or seconds pass."""
        with self.sim.lock:
            ev = self.cancel
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not client_gone(req.connection):
            if ev.wait(0.1):
                break
        return self.core.Response(drop=True)

    def faulted(self, req, stage, counter):
        """Counts a call of the stage; the answer of the fault rule that applies, or None."""
        self.count(counter)
        rule = self.pick(stage)
        return self.fault_response(req, rule) if rule else None

    def fault_response(self, req, rule):
        mode = rule["mode"]
        if mode == "timeout":
            return self.hold(req, rule["seconds"])
        if mode == "errcode":
            return self.core.wx_error(rule["errcode"], rule["errmsg"])
        if mode == "oversize":
            return self.core.Response(200, content_type="image/png", length=OVERSIZE_BYTES,
                                      stream=stream_of(PNG_SIG, b"", OVERSIZE_BYTES))
        if mode == "notimage":
            return self.core.Response(200, b"<html>not an image</html>", "image/png")
        if rule["stage"] == "api":  # the API gateway failed
            return self.core.Response(500, "<html><body>500 Internal Server Error</body></html>",
                                      "text/html")
        return cos_error(self.core, 500, "InternalError", "We encountered an internal error")


class TcbRoutes:
    def __init__(self, sim):
        self.sim = sim
        self.core = sys.modules[type(sim).__module__]
        self.tcb = Tcb(sim, self.core)

    # ------------------------------------------------------------ the WeChat API

    def batch_download(self, req):
        core, tcb = self.core, self.tcb
        faulted = tcb.faulted(req, "api", "api_calls")
        if faulted:
            return faulted
        err = core.require_token(req)
        if err is None and req.query.get("access_token") != self.sim.tokens[self.sim.cfg.mp_appid]:
            err = core.wx_error(85088, "no cloud environment for this app (use the mini program's "
                                       "access_token)")
        body = core.wx_json_body(req) if err is None else None
        if err is None and body is None:
            err = core.wx_error(47001, "data format error")
        if err is None:
            err = self.check_batch(body)
        if err is not None:
            tcb.count("api_rejected")
            return err
        out = [self.file_entry(f["fileid"], f["max_age"]) for f in body["file_list"]]
        return core.json_response({"errcode": 0, "errmsg": "ok", "file_list": out})

    def check_batch(self, body):
        core = self.core
        env, files = body.get("env"), body.get("file_list")
        if not env or files is None:
            return core.wx_error(40101, "missing parameter: env and file_list are required")
        if env != self.tcb.env:
            return core.wx_error(-501005, f"INVALID_ENV: no cloud environment {env}")
        if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES:
            return core.wx_error(40097, f"invalid args: file_list must hold 1-{MAX_FILES} files")
        for f in files:
            age = f.get("max_age") if isinstance(f, dict) else None
            if not isinstance(f, dict) or not isinstance(f.get("fileid"), str) or \
                    not isinstance(age, int) or isinstance(age, bool) or age <= 0:
                return core.wx_error(40097, "invalid args: each file needs fileid and max_age")
        return None

    def file_entry(self, file_id, max_age):
        tcb = self.tcb
        found = FILE_ID.match(file_id)
        entry = {"fileid": file_id, "download_url": "", "status": 0, "errmsg": "ok"}
        if not found or found.group(1) != tcb.env:
            entry.update(status=-501007, errmsg="INVALID_PARAM")
        elif found.group(2) not in (tcb.bucket, tcb.short_bucket):
            entry.update(status=-503002, errmsg="STORAGE_EXCEED_AUTHORITY")
        else:
            with self.sim.lock:
                known = found.group(3) in tcb.files
            if known:
                entry["download_url"] = tcb.link(found.group(3), max_age)
            else:
                entry.update(status=-503003, errmsg="STORAGE_FILE_NONEXIST")
        return entry

    # ------------------------------------------------------------ the object store

    def stored(self, path):
        with self.sim.lock:
            return self.tcb.files.get(path)

    def download(self, req):
        core, tcb = self.core, self.tcb
        faulted = tcb.faulted(req, "download", "downloads")
        if faulted:
            return faulted
        path = urllib.parse.unquote(req.params["path"])
        if req.params["bucket"] != tcb.bucket:
            return cos_error(core, 404, "NoSuchBucket", "The specified bucket does not exist.")
        try:
            expires = int(req.query.get("t", ""))
        except ValueError:
            expires = 0
        if not hmac.compare_digest(req.query.get("sign", ""), tcb.sign(path, expires)):
            return cos_error(core, 403, "SignatureDoesNotMatch", "The signature is not valid.")
        if expires < time.time():
            return cos_error(core, 403, "AccessDenied", "Request has expired")
        rec = self.stored(path)
        if rec is None:
            return cos_error(core, 404, "NoSuchKey", "The specified key does not exist.")
        return core.Response(200, rec["data"], rec["mime"])

    def public(self, req):
        self.tcb.count("public_downloads")
        rec = self.stored(urllib.parse.unquote(req.params["path"]))
        if rec is None:
            return cos_error(self.core, 404, "NoSuchKey", "The specified key does not exist.")
        return self.core.Response(200, rec["data"], rec["mime"])

    # ------------------------------------------------------------ control API

    def put_file(self, req):
        core, tcb = self.core, self.tcb
        body = req.json()
        unknown = set(body) - {"path", "data_b64", "png", "mime"}
        if unknown:
            raise core.HttpError(400, "unknown field(s): " + ", ".join(sorted(unknown)))
        path = body.get("path") or f"uploads/{secrets.token_hex(8)}.png"
        if not isinstance(path, str) or path.startswith("/") or "//" in path or \
                any(seg in (".", "..") for seg in path.split("/")) or path.endswith("/"):
            raise core.HttpError(400, '"path" must be a relative path like "works/x.jpg"')
        if "data_b64" in body:
            try:
                data = base64.b64decode(body["data_b64"], validate=True)
            except (TypeError, ValueError):
                raise core.HttpError(400, '"data_b64" must be base64') from None
        else:
            spec = body.get("png") or {}
            rgb = spec.get("rgb", [secrets.randbelow(256) for _ in range(3)])
            side = spec.get("side", 16)
            if not isinstance(side, int) or not 1 <= side <= 256 or not isinstance(rgb, list) \
                    or len(rgb) != 3 or not all(isinstance(c, int) and 0 <= c < 256 for c in rgb):
                raise core.HttpError(400, '"png" takes "side" 1-256 and "rgb" [r,g,b]')
            data = make_png(tuple(rgb), path, side=side)
        if len(data) > MAX_FILE:
            raise core.HttpError(400, f"at most {MAX_FILE} bytes")
        mime = body.get("mime") or "image/png"
        with self.sim.lock:
            tcb.files[path] = {"data": data, "mime": mime}
        return core.json_response(self.describe(path, data))

    def describe(self, path, data):
        tcb = self.tcb
        return {"file_id": tcb.file_id(path), "path": path, "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "public_url": f"{self.sim.cfg.base_url}/tcb/public/"
                              f"{urllib.parse.quote(path, safe='/')}"}

    def list_files(self, req):
        with self.sim.lock:
            files = [self.describe(p, rec["data"]) for p, rec in self.tcb.files.items()]
        return self.core.json_response({"env": self.tcb.env, "bucket": self.tcb.bucket,
                                        "files": files})

    def remove_files(self, req):
        path = req.query.get("path")
        with self.sim.lock:
            if path:
                n = 1 if self.tcb.files.pop(path, None) is not None else 0
            else:
                n, self.tcb.files = len(self.tcb.files), {}
        return self.core.json_response({"removed": n})

    def add_fault(self, req):
        try:
            rule = self.tcb.add_rule(req.json())
        except ValueError as err:
            raise self.core.HttpError(400, str(err)) from None
        return self.core.json_response({"rule": rule})

    def clear_faults(self, req):
        return self.core.json_response({"cleared": self.tcb.clear_rules()})

    def stats(self, req):
        with self.sim.lock:
            return self.core.json_response(dict(self.tcb.counts, files=len(self.tcb.files),
                                                rules=[dict(r) for r in self.tcb.rules]))

    def reset(self, req):
        self.tcb.reset()
        return self.core.json_response({"ok": True})


ROUTES = (
    ("POST", "/tcb/batchdownloadfile", "batch_download"),
    ("GET", "/tcb/download/{bucket}/{path*}", "download"),
    ("GET", "/tcb/public/{path*}", "public"),
    ("POST", "/__sim/tcb/files", "put_file"),
    ("GET", "/__sim/tcb/files", "list_files"),
    ("DELETE", "/__sim/tcb/files", "remove_files"),
    ("POST", "/__sim/tcb/faults", "add_fault"),
    ("DELETE", "/__sim/tcb/faults", "clear_faults"),
    ("GET", "/__sim/tcb/stats", "stats"),
    ("POST", "/__sim/tcb/reset", "reset"),
)


def register(sim):
    routes = TcbRoutes(sim)
    sim.tcb = routes.tcb
    sim.on_reset(routes.tcb.reset)
    sim.add_stats(lambda: {"tcb_api_calls": routes.tcb.counts["api_calls"],
                           "tcb_downloads": routes.tcb.counts["downloads"]})
    sim.allow_body("/__sim/tcb/files", MAX_FILE * 4 // 3 + 4096)
    for method, path, name in ROUTES:
        sim.route(method, path)(getattr(routes, name))
