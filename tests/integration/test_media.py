"""Media (DESIGN §12): uploads decoded and normalised by libvips (upright, no metadata),
thumbnails of uploads and results, signed expiring media URLs answered through X-Sendfile, and
the batch ZIP download of works.

Images are built with PIL (python3-pil, scripts/deps); the results come from the real
dispatcher against the simulated AI provider, as in test_dispatch.py.
"""

import hashlib
import hmac
import io
import os
import socket
import subprocess
import time
import urllib.parse
import zipfile
import zlib
import struct

import pytest
import requests
from PIL import Image

from conftest import CTL, REPO, wait_database_back
from mediastore import (is_s3, media_delete, media_get, media_keys, media_put, store_down,
                        url_of)

DISPATCH = REPO / os.environ.get("AIPHOTO_BUILD", "build") / "aiphoto-dispatch"
STACK = REPO / "scripts" / "stack"
KEY = os.environ.get("MEDIA_URL_KEY", "")


# --------------------------------------------------------------------------- helpers


def jpeg_with_exif(w=40, h=20, orientation=6):
    """A JPEG whose left half is red and right half blue, with EXIF orientation and a GPS
    position (Beijing) and a camera make."""
    im = Image.new("RGB", (w, h), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, w // 2, h))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "SECRETCAM"
    gps = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)}
    exif[0x8825] = gps
    out = io.BytesIO()
    im.save(out, "JPEG", quality=95, exif=exif.tobytes())
    data = out.getvalue()
    assert b"Exif" in data and b"SECRETCAM" in data
    return data


def big_jpeg(w=1600, h=1200, seed=0):
    im = Image.effect_noise((w, h), 60 + seed).convert("RGB")
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))


def lying_png(declared=(64, 64), real=(4, 3)):
    """A PNG whose IHDR says `declared` but whose pixel data is only `real` big."""
    raw = b"".join(b"\x00" + b"\x10\x20\x30" * real[0] for _ in range(real[1]))
    return (b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", struct.pack(">IIBBBBB", *declared, 8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def served(client, url):
    """The bytes behind a public media URL (lighttpd's /media/, or the CDN base with s3)."""
    resp = client.session.get(url, timeout=10)
    assert resp.status_code == 200, (url, resp.status_code)
    return resp.content


def upload(client, token, data, ctype="image/jpeg"):
    return client.post("/uploads", token=token, data=data, headers={"Content-Type": ctype})


def sign(path_sha, exp):
    msg = f"/api/v1/media/{path_sha}\n{exp}".encode()
    return hmac.new(KEY.encode(), msg, hashlib.sha256).hexdigest()


def stored_sha(asset):
    return urllib.parse.urlparse(asset["url"]).path.rsplit("/", 1)[1].split(".")[0]


@pytest.fixture
def user(make_user, token_for):
    uid = make_user(credits=10000)
    return uid, token_for(uid)


# --------------------------------------------------------------------------- uploads


def test_exif_and_gps_never_leave_the_server_and_orientation_is_applied(client, expect_ok,
                                                                        user, psql):
    uid, token = user
    data = jpeg_with_exif()
    asset = expect_ok(upload(client, token, data), 201)
    # the asset keeps the hash of what was sent (so GET /assets/:sha256 and dedup work) ...
    assert asset["sha256"] == hashlib.sha256(data).hexdigest()
    assert asset["size"] == len(data)
    # ... and describes the stored, upright image: orientation 6 turns 40×20 into 20×40
    assert (asset["width"], asset["height"]) == (20, 40)
    assert asset["mime"] == "image/jpeg"
    assert stored_sha(asset) != asset["sha256"]
    for url in (asset["url"], asset["thumb_url"], asset["thumb_large_url"]):
        body = served(client, url)
        assert b"Exif" not in body and b"SECRETCAM" not in body and b"http://ns.adobe" not in body
        im = Image.open(io.BytesIO(body))
        assert not im.getexif(), url
        # upright: the left (red) half of the sensor image is now on top
        w, h = im.size
        assert h > w
        top, bottom = im.convert("RGB").getpixel((w // 2, h // 4)), \
            im.convert("RGB").getpixel((w // 2, 3 * h // 4))
        assert top[0] > 150 and top[2] < 100, top
        assert bottom[2] > 150 and bottom[0] < 100, bottom
    # the original is not kept (MEDIA_KEEP_ORIGINAL unset)
    sha = asset["sha256"]
    assert media_get(f"{sha[:2]}/{sha[2:4]}/{sha}.jpg") is None
    # the signed URL serves the same stripped bytes
    exp = int(time.time()) + 60
    s = stored_sha(asset)
    resp = client.session.get(f"{client.base}/media/{s}?exp={exp}&sig={sign(s, exp)}", timeout=10)
    assert resp.status_code == 200 and b"SECRETCAM" not in resp.content
    # a re-upload of the same bytes is still deduplicated, and found by the sent hash
    again = expect_ok(upload(client, token, data), 200)
    assert again["deduplicated"] is True and again["asset_id"] == asset["asset_id"]
    got = expect_ok(client.get(f"/assets/{sha}", token=token))
    assert got["url"] == asset["url"] and got["thumb_url"] == asset["thumb_url"]


def test_upload_thumbnails_exist_and_are_smaller(client, expect_ok, user):
    _, token = user
    data = big_jpeg()
    asset = expect_ok(upload(client, token, data), 201)
    full = served(client, asset["url"])
    for url, side in ((asset["thumb_url"], 360), (asset["thumb_large_url"], 720)):
        assert url.endswith(f".t{side}.jpg"), url
        body = served(client, url)
        im = Image.open(io.BytesIO(body))
        assert max(im.size) == side, (url, im.size)
        assert im.format == "JPEG"
        assert len(body) < len(full) and len(body) < len(data)


def test_a_header_that_lies_is_refused_after_decoding(client, expect_error, user, psql):
    uid, token = user
    msg = expect_error(upload(client, token, lying_png(), "image/png"), 400, "BAD_REQUEST")
    assert msg.startswith("file:") and "header" in msg, msg
    # a JPEG cut off in the middle of its pixels
    data = big_jpeg(800, 600, seed=3)
    msg = expect_error(upload(client, token, data[: len(data) // 2]), 400, "BAD_REQUEST")
    assert msg.startswith("file:"), msg
    assert psql(f"SELECT count(*) FROM assets WHERE user_id = {uid}") == [["0"]]


# --------------------------------------------------------------------------- signed URLs


def test_signed_media_urls(client, expect_ok, expect_error, user):
    _, token = user
    a = expect_ok(upload(client, token, big_jpeg(300, 200, seed=1)), 201)
    b = expect_ok(upload(client, token, big_jpeg(300, 200, seed=2)), 201)
    sa, sb = stored_sha(a), stored_sha(b)
    exp = int(time.time()) + 120
    url = f"{client.base}/media/{sa}?exp={exp}&sig={sign(sa, exp)}"
    # valid: the stored file, sent by lighttpd (X-Sendfile) or relayed from the bucket (s3),
    # no token needed
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200
    assert resp.content == served(client, a["url"])
    assert resp.headers["Content-Type"].startswith("image/jpeg")
    assert "X-Sendfile" not in resp.headers and "X-LIGHTTPD-send-file" not in resp.headers
    # expired
    old = int(time.time()) - 1
    expect_error(requests.get(f"{client.base}/media/{sa}?exp={old}&sig={sign(sa, old)}",
                              timeout=10), 403, "FORBIDDEN")
    # tampered: signature, expiry, or the signature of another file
    bad = sign(sa, exp)[:-1] + ("0" if sign(sa, exp)[-1] != "0" else "1")
    for q in (f"{sa}?exp={exp}&sig={bad}", f"{sa}?exp={exp + 1}&sig={sign(sa, exp)}",
              f"{sb}?exp={exp}&sig={sign(sa, exp)}", f"{sa}?exp={exp}", f"{sa}",
              f"{sa}?exp=abc&sig={sign(sa, exp)}"):
        expect_error(requests.get(f"{client.base}/media/{q}", timeout=10), 403, "FORBIDDEN")
    # the other file with its own signature works; a signed hash with no file is 404
    assert requests.get(f"{client.base}/media/{sb}?exp={exp}&sig={sign(sb, exp)}",
                        timeout=10).status_code == 200
    nofile = "0" * 64
    expect_error(requests.get(f"{client.base}/media/{nofile}?exp={exp}&sig={sign(nofile, exp)}",
                              timeout=10), 404, "NOT_FOUND")


# --------------------------------------------------------------------------- results, ZIP


def run_dispatch():
    env = dict(os.environ, DISPATCH_RETRY_BASE_MS="100", DISPATCH_BUDGET_SECONDS="30")
    proc = subprocess.run([str(DISPATCH), "--until-idle"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture
def finished_works(client, expect_ok, psql):
    """A user with a task of 2 results made by the dispatcher: (uid, token, [work rows])."""
    sim = os.environ["AIPHOTO_SIM_URL"].rstrip("/")

    def make(uid, token):
        asset = expect_ok(upload(client, token, big_jpeg(640, 480, seed=uid % 50)), 201)
        psql("UPDATE ai_models SET active = true, timeout_ms = 30000 WHERE name LIKE 'sim-%'")
        # results of 800×800, so that their thumbnails have something to shrink
        requests.post(sim + "/__sim/ai/reset", json={}, timeout=10).raise_for_status()
        requests.post(sim + "/__sim/ai/config", json={"side": 800, "latency_ms": 50},
                      timeout=10).raise_for_status()
        task = expect_ok(client.post("/tasks/photography", token=token,
                                     json={"scene_id": 1, "asset_ids": [asset["asset_id"]],
                                           "count": 2, "params": {"style": "film"}}), 202)
        for _ in range(20):
            run_dispatch()
            st = psql(f"SELECT status FROM tasks WHERE id = {task['id']}")[0][0]
            if st in ("completed", "partial", "failed"):
                break
            time.sleep(0.3)
        rows = psql(f"SELECT id, image_url, thumb_url FROM works WHERE task_id = {task['id']} "
                    "AND status = 'succeeded' ORDER BY id")
        assert len(rows) == 2, rows
        requests.post(sim + "/__sim/ai/reset", json={}, timeout=10).raise_for_status()
        return [{"id": int(r[0]), "image_url": r[1], "thumb_url": r[2]} for r in rows]
    return make


def test_results_get_thumbnails_and_download_as_a_streamed_zip(client, expect_ok, expect_error,
                                                               make_user, token_for,
                                                               finished_works, psql):
    uid = make_user(credits=10000)
    token = token_for(uid)
    works = finished_works(uid, token)
    for w in works:
        assert w["thumb_url"] != w["image_url"] and w["thumb_url"].endswith(".t360.jpg")
        full = requests.get(w["image_url"], timeout=10).content
        thumb = requests.get(w["thumb_url"], timeout=10).content
        assert len(thumb) < len(full)
        assert max(Image.open(io.BytesIO(thumb)).size) <= 360
        got = expect_ok(client.get(f"/works/{w['id']}", token=token))
        assert got["thumb_url"] == w["thumb_url"]

    ids = [w["id"] for w in works]
    resp = client.session.post(f"{client.base}/works/download", json={"ids": ids},
                               headers={"Authorization": f"Bearer {token}"}, timeout=30,
                               stream=True)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/zip"
    assert "attachment" in resp.headers["Content-Disposition"]
    body = resp.raw.read()
    z = zipfile.ZipFile(io.BytesIO(body))
    assert z.testzip() is None
    names = z.namelist()
    assert len(names) == 2
    scene = psql("SELECT name FROM scenes WHERE id = 1")[0][0]
    for w in works:
        name = [n for n in names if n.endswith(f"_{w['id']}.jpg")]
        assert len(name) == 1, names
        assert name[0].startswith(scene.replace("/", "_") + "_"), name
        assert z.read(name[0]) == requests.get(w["image_url"], timeout=10).content

    # another user's works are not theirs to download: 404, nothing sent
    other = make_user(credits=0)
    expect_error(client.post("/works/download", token=token_for(other), json={"ids": ids}),
                 404, "NOT_FOUND")
    # mixing one foreign id in refuses the whole batch
    expect_error(client.post("/works/download", token=token_for(other), json={"ids": [ids[0]]}),
                 404, "NOT_FOUND")
    # malformed (a fresh user each: the rate limit comes before the body is read)
    for body in ({}, {"ids": []}, {"ids": list(range(1, 52))}, {"ids": ["1"]}, {"ids": [0]}):
        expect_error(client.post("/works/download", token=token_for(make_user(credits=0)),
                                 json=body), 400, "BAD_REQUEST")


def legacy_works(psql, uid, n, mib):
    """n succeeded works of uid whose image is one random file of mib MiB written straight
    into the store (imported works need no task): their ids."""
    blob = os.urandom(mib * 1024 * 1024)
    sha = hashlib.sha256(blob).hexdigest()
    media_put(f"{sha[:2]}/{sha[2:4]}/{sha}.jpg", blob)
    url = url_of(f"{sha[:2]}/{sha[2:4]}/{sha}.jpg")
    rows = psql(
        "INSERT INTO works (user_id, type, status, image_url, thumb_url, finished_at, legacy_id) "
        f"SELECT {uid}, 'photography', 'succeeded', '{url}', '{url}', now(), "
        f"'media-test-{sha[:12]}-' || g FROM generate_series(1, {int(n)}) AS g RETURNING id")
    return [int(r[0]) for r in rows], blob


def test_zip_is_streamed(client, make_user, token_for, psql):
    """50 MiB of images: lighttpd passes the ZIP on chunked as the worker writes it."""
    uid = make_user(credits=0)
    token = token_for(uid)
    ids, blob = legacy_works(psql, uid, 10, 5)
    resp = client.session.post(f"{client.base}/works/download", json={"ids": ids},
                               headers={"Authorization": f"Bearer {token}"}, timeout=60,
                               stream=True)
    assert resp.status_code == 200
    assert "Content-Length" not in resp.headers
    assert resp.headers.get("Transfer-Encoding") == "chunked"
    z = zipfile.ZipFile(io.BytesIO(resp.raw.read()))
    names = z.namelist()
    assert len(names) == 10 and all(n.startswith("work_") for n in names), names
    assert z.read(names[0]) == blob


def test_zip_size_cap(client, expect_error, make_user, token_for, psql):
    """50 works whose images come to more than 200 MiB → 413 before any byte is sent."""
    uid = make_user(credits=0)
    token = token_for(uid)
    ids, _ = legacy_works(psql, uid, 50, 5)
    msg = expect_error(client.post("/works/download", token=token, json={"ids": ids}), 413,
                       "PAYLOAD_TOO_LARGE")
    assert "200 MiB" in msg, msg


def test_zip_rate_limit(client, make_user, token_for):
    token = token_for(make_user(credits=0))
    codes = []
    for _ in range(8):
        resp = client.post("/works/download", token=token, json={"ids": [2 ** 40]})
        codes.append(resp.status_code)
        if resp.status_code == 429:
            assert int(resp.headers["Retry-After"]) >= 1
            break
    assert codes[0] == 404 and codes[-1] == 429, codes


def test_database_down_gives_503(client, expect_error, make_user, token_for):
    uid = make_user(credits=0)
    token = token_for(uid)
    try:
        proc = subprocess.run([str(STACK), "pg-stop"], cwd=REPO, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr[-2000:]
        expect_error(client.post("/works/download", token=token, json={"ids": [1]}), 503,
                     "UNAVAILABLE")
        expect_error(upload(client, token, big_jpeg(64, 64)), 503, "UNAVAILABLE")
    finally:
        subprocess.run([str(STACK), "pg-start"], cwd=REPO, capture_output=True, text=True,
                       timeout=60)
        wait_database_back()


# --------------------------------------------------------------------------- object storage


def run_migrate(media_dir, *args, **env):
    """`aiphotoctl media migrate --to s3 ARGS` over media_dir, with the stack's S3_* unless
    env overrides them (a value of None unsets the variable)."""
    e = dict(os.environ, MEDIA_DIR=str(media_dir))
    for k, v in env.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return subprocess.run([str(CTL), "media", "migrate", *args], env=e, capture_output=True,
                          text=True, timeout=120)


def local_store(tmp_path, n):
    """A MEDIA_DIR of n random "images" with their thumbnails, plus a stray temp file: the
    keys stored and their bytes."""
    files = {}
    for i in range(n):
        blob = os.urandom(1000 + i)
        sha = hashlib.sha256(blob).hexdigest()
        for ext in ("jpg", "t360.jpg"):
            key = f"{sha[:2]}/{sha[2:4]}/{sha}.{ext}"
            (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / key).write_bytes(blob + ext.encode())
            files[key] = blob + ext.encode()
    (tmp_path / next(iter(files))).with_name(".tmp-x-y").write_bytes(b"half")
    return files


@pytest.mark.skipif(not is_s3(), reason="needs the stack's s3rver (MEDIA_BACKEND=s3)")
def test_migrate_to_s3_is_idempotent_and_resumable(tmp_path):
    files = local_store(tmp_path, 3)
    try:
        dry = run_migrate(tmp_path, "--to", "s3", "--dry-run")
        assert dry.returncode == 0, dry.stderr[-2000:]
        assert "6 files, 0 already in the bucket, 6 to upload (dry run), 0 failed" in dry.stdout
        assert not any(k in media_keys() for k in files)
        first = run_migrate(tmp_path, "--to", "s3")
        assert first.returncode == 0, first.stderr[-2000:]
        assert "6 files, 0 already in the bucket, 6 uploaded, 0 failed" in first.stdout
        for key, blob in files.items():
            assert media_get(key) == blob, key
        assert not any(".tmp-" in k for k in media_keys())
        # again: nothing to do; the local files stay
        again = run_migrate(tmp_path, "--to", "s3")
        assert again.returncode == 0 and "6 already in the bucket, 0 uploaded" in again.stdout
        assert all((tmp_path / k).exists() for k in files)
        # resumed after a partial run: only what is missing goes up
        gone = sorted(files)[:2]
        for k in gone:
            media_delete(k)
        resumed = run_migrate(tmp_path, "--to", "s3")
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert "4 already in the bucket, 2 uploaded" in resumed.stdout
        assert [media_get(k) for k in gone] == [files[k] for k in gone]
    finally:
        for k in files:
            media_delete(k)


def test_migrate_usage_and_missing_settings(tmp_path):
    local_store(tmp_path, 1)
    for args in ((), ("--to",), ("--to", "gcs"), ("--to", "s3", "--force"), ("--from", "s3")):
        proc = run_migrate(tmp_path, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
    s3 = dict(S3_ENDPOINT="http://127.0.0.1:9", S3_BUCKET="media", S3_REGION="us-east-1",
              S3_ACCESS_KEY_ID="id", S3_SECRET_ACCESS_KEY="topsecret-value", S3_PATH_STYLE="1",
              MEDIA_BACKEND="local")
    for name in ("S3_ENDPOINT", "S3_BUCKET", "S3_REGION", "S3_ACCESS_KEY_ID",
                 "S3_SECRET_ACCESS_KEY"):
        proc = run_migrate(tmp_path, "--to", "s3", **dict(s3, **{name: None}))
        assert proc.returncode == 2 and "S3_SECRET_ACCESS_KEY" in proc.stderr, proc.stderr
    proc = run_migrate(tmp_path, "--to", "s3", **dict(s3, S3_BUCKET="Not_A_Bucket"))
    assert proc.returncode == 2 and "S3_BUCKET" in proc.stderr, proc.stderr
    proc = run_migrate(tmp_path / "nowhere", "--to", "s3", **s3)
    assert proc.returncode == 2 and "MEDIA_DIR" in proc.stderr, proc.stderr


def test_migrate_stops_when_the_store_is_down_or_fails(tmp_path, sim):
    """Nothing listening, then a store answering 503 (the simulator's failing bucket): tried
    three times, stopped at the first file, exit 1; a store that hangs: one try, TIMEOUT;
    the secret never printed."""
    local_store(tmp_path, 2)
    s3 = dict(S3_BUCKET="s3-fault", S3_REGION="us-east-1", S3_ACCESS_KEY_ID="id",
              S3_SECRET_ACCESS_KEY="topsecret-value", S3_PATH_STYLE="1", MEDIA_BACKEND="local")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    down = run_migrate(tmp_path, "--to", "s3", S3_ENDPOINT=f"http://127.0.0.1:{closed}", **s3)
    assert down.returncode == 1, down.stdout + down.stderr
    assert "UPSTREAM_ERROR" in down.stderr and "stopped early" in down.stdout
    failing = run_migrate(tmp_path, "--to", "s3", S3_ENDPOINT=os.environ["AIPHOTO_SIM_URL"],
                          **s3)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "1 files, 0 already in the bucket, 0 uploaded, 1 failed" in failing.stdout
    assert "UPSTREAM_ERROR" in failing.stderr
    assert sim.stats()["s3fault_requests"] == 3  # a HEAD, tried again twice
    # a store that hangs: the HEAD times out, and is not tried again (its time is spent)
    slow = run_migrate(tmp_path, "--to", "s3", S3_ENDPOINT=os.environ["AIPHOTO_SIM_URL"],
                       **dict(s3, S3_BUCKET="s3-slow"))
    assert slow.returncode == 1, slow.stdout + slow.stderr
    assert "TIMEOUT" in slow.stderr and "1 failed" in slow.stdout, slow.stdout + slow.stderr
    assert sim.stats()["s3slow_requests"] == 1
    for out in (down, failing, slow):
        assert "topsecret-value" not in out.stdout + out.stderr


@pytest.mark.skipif(not is_s3(), reason="stops the stack's s3rver (MEDIA_BACKEND=s3)")
def test_store_down_gives_502(client, expect_ok, expect_error, user, psql):
    uid, token = user
    asset = expect_ok(upload(client, token, big_jpeg(64, 48, seed=9)), 201)
    s = stored_sha(asset)
    exp = int(time.time()) + 120
    signed = f"{client.base}/media/{s}?exp={exp}&sig={sign(s, exp)}"
    ids, _ = legacy_works(psql, uid, 1, 1)
    with store_down():
        expect_error(upload(client, token, big_jpeg(64, 48, seed=10)), 502, "UPSTREAM_ERROR")
        expect_error(requests.get(signed, timeout=30), 502, "UPSTREAM_ERROR")
        expect_error(client.post("/works/download", token=token, json={"ids": ids}), 502,
                     "UPSTREAM_ERROR")
    # back: the same requests work again
    assert requests.get(signed, timeout=30).status_code == 200
    expect_ok(upload(client, token, big_jpeg(64, 48, seed=10)), 201)


def test_check_config_reports_the_media_store_never_the_secret():
    s3 = dict(os.environ, MEDIA_BACKEND="s3", S3_ENDPOINT="https://cos.ap-shanghai.myqcloud.com",
              S3_BUCKET="aiphoto-media-1250000000", S3_REGION="ap-shanghai",
              S3_ACCESS_KEY_ID="AKIDexample", S3_SECRET_ACCESS_KEY="topsecret-value",
              S3_PATH_STYLE="0", MEDIA_CDN_BASE="https://img.example.com")
    proc = subprocess.run([str(CTL), "check-config"], env=s3, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ("Media store: s3, bucket aiphoto-media-1250000000 at "
            "https://cos.ap-shanghai.myqcloud.com (virtual-host style, region ap-shanghai, "
            "key id AKIDexample)") in proc.stdout, proc.stdout
    assert "Media public URLs: https://img.example.com/<key>" in proc.stdout
    no_cdn = dict(s3)
    del no_cdn["MEDIA_CDN_BASE"]
    proc2 = subprocess.run([str(CTL), "check-config"], env=no_cdn, capture_output=True,
                           text=True, timeout=60)
    assert proc2.returncode == 0 and "MEDIA_CDN_BASE is not set" in proc2.stdout, proc2.stdout
    missing = dict(s3)
    del missing["S3_REGION"]
    proc3 = subprocess.run([str(CTL), "check-config"], env=missing, capture_output=True,
                           text=True, timeout=60)
    assert proc3.returncode != 0 and "MEDIA_BACKEND" in proc3.stderr, proc3.stderr
    for p in (proc, proc2, proc3):
        assert "topsecret-value" not in p.stdout + p.stderr
