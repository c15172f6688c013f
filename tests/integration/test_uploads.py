"""POST /uploads and GET /assets/:sha256 through lighttpd.

Every image is built here byte by byte (PNG with zlib, a baseline JPEG with one-symbol
Huffman tables, WebP lossless with one-symbol prefix codes), and carries random bytes so that
no two tests share a file by accident.  Files that only pretend to be images (an ELF or EXE
renamed .png, HTML, SVG, ZIP, GIF) are refused with 415; a JPEG with a ZIP appended is a real
JPEG and is accepted (the file is only ever served as image/jpeg under its hash name, never
unpacked or executed).  Size and pixel limits are checked from the header first, and a body
larger than lighttpd's limit is answered by lighttpd without reaching a worker.  An accepted
image is then decoded in full and stored normalised (libvips: upright, no metadata, JPEG or,
with an alpha channel, PNG): the asset keeps the hash and size of the bytes sent, its url names
the stored file (test_media.py covers EXIF, orientation and thumbnails).
"""

import concurrent.futures
import hashlib
import io
import os
import socket
import struct
import urllib.parse
import uuid
import zlib

import pytest
from PIL import Image
import requests

from mediastore import is_s3, key_of, media_get, media_keys, url_of

MAX_BYTES = 10 * 1024 * 1024
LIGHTTPD_LIMIT = 10304 * 1024  # server.max-request-size for /api/v1/uploads, in bytes


# --------------------------------------------------------------------------- image builders


def _png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def make_png(width=4, height=3, tag=None):
    """A real RGB PNG filled with one colour, with a tEXt chunk making it unique."""
    tag = tag or uuid.uuid4().hex
    colour = bytes.fromhex(tag[:6])
    rows = b"".join(b"\x00" + colour * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" +
            _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            _png_chunk(b"tEXt", b"Comment\x00" + tag.encode()) +
            _png_chunk(b"IDAT", zlib.compress(rows)) +
            _png_chunk(b"IEND", b""))


def png_header(width, height):
    """Only a PNG signature and IHDR (plus a token IDAT): what a decompression bomb shows."""
    return (b"\x89PNG\r\n\x1a\n" +
            _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) +
            _png_chunk(b"IEND", b""))


def _jpeg_segment(marker, payload):
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def make_jpeg(width=16, height=8, tag=None, blocks=None):
    """A real baseline greyscale JPEG: every block has DC difference 0 and an immediate
    end-of-block, coded with one-symbol Huffman tables (one bit each).  blocks overrides
    the number of coded blocks (a huge frame header needs no huge scan to be refused)."""
    tag = tag or uuid.uuid4().hex
    if blocks is None:
        blocks = ((width + 7) // 8) * ((height + 7) // 8)
    nbits = 2 * blocks
    scan = bytearray(b"\xff" * ((nbits + 7) // 8))  # padding bits are ones
    for i in range(nbits):  # every coded bit is 0
        scan[i // 8] &= ~(0x80 >> (i % 8)) & 0xFF
    one_code = bytes([1] + [0] * 15)
    return (b"\xff\xd8" +
            _jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00") +
            _jpeg_segment(0xFE, tag.encode()) +
            _jpeg_segment(0xDB, b"\x00" + b"\x01" * 64) +
            _jpeg_segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00") +
            _jpeg_segment(0xC4, b"\x00" + one_code + b"\x00") +
            _jpeg_segment(0xC4, b"\x10" + one_code + b"\x00") +
            _jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00") +
            bytes(scan) + b"\xff\xd9")


class _Bits:
    """LSB-first bit writer (the order of the VP8L bitstream)."""

    def __init__(self):
        self.value = 0
        self.n = 0

    def put(self, v, n):
        self.value |= (v & ((1 << n) - 1)) << self.n
        self.n += n

    def bytes(self):
        return self.value.to_bytes((self.n + 7) // 8, "little")


def _riff(chunks):
    body = b"WEBP" + b"".join(
        kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")
        for kind, data in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def vp8l_bitstream(width, height, argb):
    """Lossless WebP of one colour: no transform, no colour cache, no meta codes, and five
    simple prefix codes of one symbol each (so every pixel takes zero bits)."""
    a, r, g, b = argb
    bits = _Bits()
    bits.put(0x2F, 8)
    bits.put(width - 1, 14)
    bits.put(height - 1, 14)
    bits.put(0, 1)  # alpha is not used
    bits.put(0, 3)  # version
    bits.put(0, 1)  # no transform
    bits.put(0, 1)  # no colour cache
    bits.put(0, 1)  # no meta prefix codes
    for symbol in (g, r, b, a):
        bits.put(1, 1)  # simple code
        bits.put(0, 1)  # one symbol
        bits.put(1, 1)  # of 8 bits
        bits.put(symbol, 8)
    bits.put(1, 1)  # distance code: simple, one 1-bit symbol 0
    bits.put(0, 1)
    bits.put(0, 1)
    bits.put(0, 1)
    return bits.bytes()


def make_webp_vp8l(width=3, height=2, tag=None):
    tag = tag or uuid.uuid4().hex
    colour = bytes.fromhex(tag[:6])
    return _riff([(b"VP8L", vp8l_bitstream(width, height, (255, *colour)))])


def make_webp_vp8x(width=5, height=4, tag=None):
    """The extended layout: a VP8X header chunk (canvas size) in front of the image."""
    tag = tag or uuid.uuid4().hex
    colour = bytes.fromhex(tag[:6])
    vp8x = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + \
        (height - 1).to_bytes(3, "little")
    return _riff([(b"VP8X", vp8x),
                  (b"VP8L", vp8l_bitstream(width, height, (255, *colour)))])


def make_webp_vp8(width=6, height=7, tag=None):
    """Lossy WebP (a VP8 key frame), encoded by PIL (python3-pil) since every accepted image
    is decoded in full: one colour from the tag."""
    tag = tag or uuid.uuid4().hex
    out = io.BytesIO()
    Image.new("RGB", (width, height), tuple(bytes.fromhex(tag[:6]))).save(out, "WEBP",
                                                                          quality=90)
    data = out.getvalue()
    assert data[12:16] == b"VP8 "
    return data


FORMATS = {
    "png": (make_png, "image/png", 4, 3),
    "jpeg": (make_jpeg, "image/jpeg", 16, 8),
    "webp-vp8": (make_webp_vp8, "image/webp", 6, 7),
    "webp-vp8l": (make_webp_vp8l, "image/webp", 3, 2),
    "webp-vp8x": (make_webp_vp8x, "image/webp", 5, 4),
}

EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def user(make_user, token_for):
    uid = make_user(nickname="uploader")
    return uid, token_for(uid)


def upload_form(client, token, data, field="file", filename="photo.png",
                ctype="application/octet-stream"):
    return client.post("/uploads", token=token, files={field: (filename, data, ctype)})


def upload_raw(client, token, data, ctype="image/png"):
    headers = {"Content-Type": ctype} if ctype is not None else {}
    return client.post("/uploads", token=token, data=data, headers=headers)


def check_asset(asset, data, mime, width, height, dedup):
    """mime: the type sent; the stored file is a JPEG, or a PNG for an image with alpha."""
    assert set(asset) == {"asset_id", "sha256", "url", "thumb_url", "thumb_large_url", "mime",
                          "width", "height", "size", "deduplicated"}, asset
    sha = hashlib.sha256(data).hexdigest()
    assert isinstance(asset["asset_id"], int) and asset["asset_id"] > 0
    assert asset["sha256"] == sha
    assert asset["mime"] in ("image/jpeg", "image/png"), (mime, asset["mime"])
    assert (asset["width"], asset["height"]) == (width, height)
    assert asset["size"] == len(data)
    assert asset["deduplicated"] is dedup
    path = urllib.parse.urlparse(asset["url"]).path
    stored = path.rsplit("/", 1)[-1].split(".")[0]
    assert len(stored) == 64 and stored != sha, asset["url"]
    assert asset["url"] == url_of(f"{stored[:2]}/{stored[2:4]}/{stored}.{EXT[asset['mime']]}"), \
        asset["url"]
    for key, side in (("thumb_url", 360), ("thumb_large_url", 720)):
        assert asset[key] == asset["url"].rsplit(".", 1)[0] + f".t{side}.jpg", asset


def asset_rows(psql, uid):
    return psql(f"SELECT id, sha256, storage_key FROM assets WHERE user_id = {int(uid)} "
                "ORDER BY id")


# --------------------------------------------------------------------------- accepted images


@pytest.mark.parametrize("kind", sorted(FORMATS))
@pytest.mark.parametrize("how", ["multipart", "raw"])
def test_upload_each_format(client, expect_ok, base_url, psql, user, kind, how):
    uid, token = user
    build, mime, width, height = FORMATS[kind]
    data = build()
    if how == "multipart":
        resp = upload_form(client, token, data, filename="x." + EXT[mime])
    else:
        resp = upload_raw(client, token, data, ctype=mime)
    asset = expect_ok(resp, 201)
    check_asset(asset, data, mime, width, height, dedup=False)

    # lighttpd serves the stored (normalised) bytes under /media/ (s3: the CDN base), named by
    # their hash, with the type of the extension
    path = urllib.parse.urlparse(asset["url"]).path
    served = client.session.get(asset["url"], timeout=10)
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == path.rsplit("/", 1)[-1].split(".")[0]
    assert served.headers["Content-Type"].split(";")[0] == asset["mime"]
    if not is_s3():  # lighttpd's header; a CDN's are its own configuration (docs/storage.md)
        assert served.headers.get("X-Content-Type-Options") == "nosniff"
    else:  # stored with the object: named after its content, it never changes
        assert served.headers.get("Cache-Control") == "public, max-age=31536000, immutable"

    rows = asset_rows(psql, uid)
    assert [r[0] for r in rows] == [str(asset["asset_id"])]
    assert rows[0][1] == asset["sha256"]
    assert rows[0][2] == key_of(asset["url"])


def test_same_bytes_again_is_deduplicated(client, expect_ok, psql, user):
    uid, token = user
    data = make_png(8, 8)
    first = expect_ok(upload_form(client, token, data), 201)
    # the same bytes, the other way and with another declared type: the same asset
    again = expect_ok(upload_raw(client, token, data, ctype="image/jpeg"), 200)
    check_asset(again, data, "image/png", 8, 8, dedup=True)
    assert again["asset_id"] == first["asset_id"]
    assert again["url"] == first["url"]
    assert len(asset_rows(psql, uid)) == 1


def test_concurrent_same_upload(client, expect_ok, psql, user):
    """Parallel uploads of the same bytes by one user: one creates the asset, the others
    get it back deduplicated (the row is unique per user and hash)."""
    uid, token = user
    data = make_png(16, 16)
    headers = {"Authorization": "Bearer " + token, "Content-Type": "image/png",
               "Connection": "close"}

    def one(_):  # a session of its own per request: sessions are not shared across threads
        return requests.post(client.url("/uploads"), data=data, headers=headers, timeout=10)

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        resps = list(pool.map(one, range(6)))
    assert sorted(r.status_code for r in resps) == [200] * 5 + [201], \
        [(r.status_code, r.text[:200]) for r in resps]
    ids = {expect_ok(r, r.status_code)["asset_id"] for r in resps}
    assert len(ids) == 1
    assert len(asset_rows(psql, uid)) == 1


def test_get_asset_by_hash(client, expect_ok, expect_error, user):
    _, token = user
    data = make_jpeg()
    asset = expect_ok(upload_raw(client, token, data, ctype="image/jpeg"), 201)
    got = expect_ok(client.get("/assets/" + asset["sha256"], token=token))
    check_asset(got, data, "image/jpeg", 16, 8, dedup=True)
    assert got["asset_id"] == asset["asset_id"]
    # upper-case hex names the same hash
    got = expect_ok(client.get("/assets/" + asset["sha256"].upper(), token=token))
    assert got["asset_id"] == asset["asset_id"]
    for bad in ("0" * 64, "xyz", asset["sha256"][:63], asset["sha256"] + "0",
                "g" * 64, asset["sha256"][:60] + "%2e%2e"):
        expect_error(client.get("/assets/" + bad, token=token), 404, "NOT_FOUND")


def test_another_users_asset_is_not_found(client, expect_ok, expect_error, make_user,
                                          token_for, psql, user):
    uid_a, token_a = user
    uid_b = make_user(nickname="other")
    token_b = token_for(uid_b)
    data = make_webp_vp8l()
    mine = expect_ok(upload_raw(client, token_a, data, ctype="image/webp"), 201)
    expect_error(client.get("/assets/" + mine["sha256"], token=token_b), 404, "NOT_FOUND")

    # the same bytes from the other user: an asset of their own, the file shared
    theirs = expect_ok(upload_form(client, token_b, data, filename="w.webp"), 201)
    assert theirs["asset_id"] != mine["asset_id"]
    assert theirs["deduplicated"] is False
    assert theirs["url"] == mine["url"]
    assert len(asset_rows(psql, uid_a)) == 1 and len(asset_rows(psql, uid_b)) == 1
    got = expect_ok(client.get("/assets/" + mine["sha256"], token=token_b))
    assert got["asset_id"] == theirs["asset_id"]


def test_file_stored_once(client, expect_ok, make_user, token_for, user):
    _, token = user
    other = token_for(make_user())
    data = make_png(2, 2)
    a = expect_ok(upload_raw(client, token, data), 201)
    expect_ok(upload_raw(client, token, data), 200)
    expect_ok(upload_raw(client, other, data), 201)
    # the normalised file once, with its two thumbnails; the sent bytes are not kept
    name = a["url"].rsplit("/", 1)[-1]
    sha = name.split(".")[0]
    assert sorted(k.rsplit("/", 1)[1] for k in media_keys()
                  if k.rsplit("/", 1)[1].startswith(sha)) == \
        sorted([name, sha + ".t360.jpg", sha + ".t720.jpg"])
    if not is_s3():  # the local backend's temp files are gone too
        folder = os.path.join(os.environ["MEDIA_DIR"], sha[:2], sha[2:4])
        assert not [n for n in os.listdir(folder) if n.startswith(".tmp")]
    assert hashlib.sha256(media_get(key_of(a["url"]))).hexdigest() == sha
    sent = a["sha256"]
    assert media_get(f"{sent[:2]}/{sent[2:4]}/{sent}.png") is None


def test_jpeg_zip_polyglot_is_accepted_as_jpeg(client, expect_ok, user):
    _, token = user
    zip_tail = b"PK\x03\x04" + b"\x14\x00" + b"\x00" * 24 + b"evil.sh" + b"#!/bin/sh\n"
    data = make_jpeg() + zip_tail
    asset = expect_ok(upload_form(client, token, data, filename="x.zip",
                                  ctype="application/zip"), 201)
    check_asset(asset, data, "image/jpeg", 16, 8, dedup=False)


def test_exactly_the_size_limit_through_multipart(client, expect_ok, user):
    """10 MiB of image plus the multipart framing still fits under lighttpd's limit."""
    _, token = user
    head = make_png(100, 100)
    pad = MAX_BYTES - len(head) - 12
    data = head[:-12] + _png_chunk(b"zzPd", b"\x00" * pad) + head[-12:]
    assert len(data) == MAX_BYTES
    asset = expect_ok(upload_form(client, token, data, filename="big.png"), 201)
    assert asset["size"] == MAX_BYTES


# --------------------------------------------------------------------------- refused


ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + \
    b"\x00" * 40
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + \
    b"\x80\x00\x00\x00" + b"This program cannot be run in DOS mode.\r\n" + b"\x00" * 32
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" '
       b'height="10" onload="alert(1)"><rect width="10" height="10"/></svg>')
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 20 + b"a.png" + b"\x00" * 30
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00" \
      b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
FAKES = {"elf-renamed-png": ELF, "exe-renamed-jpg": EXE, "html": HTML, "svg": SVG,
         "zip": ZIP, "gif": GIF, "png-signature-only": b"\x89PNG\r\n\x1a\n" + b"\x00" * 8,
         "jpeg-without-frame": b"\xff\xd8\xff\xd9"}


@pytest.mark.parametrize("name", sorted(FAKES))
@pytest.mark.parametrize("how", ["multipart", "raw"])
def test_not_an_image_is_refused(client, expect_error, psql, user, name, how):
    uid, token = user
    data = FAKES[name]
    if how == "multipart":
        resp = upload_form(client, token, data, filename="photo.png", ctype="image/png")
    else:
        resp = upload_raw(client, token, data, ctype="image/png")
    msg = expect_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert msg.startswith("file:"), msg
    assert asset_rows(psql, uid) == []


def test_decompression_bomb_header_is_refused(client, expect_error, psql, user):
    uid, token = user
    msg = expect_error(upload_raw(client, token, png_header(30000, 30000)), 400, "BAD_REQUEST")
    assert msg.startswith("file:") and "30000" in msg, msg
    # just over the limit, from the header of each format
    expect_error(upload_raw(client, token, png_header(8001, 5000)), 400, "BAD_REQUEST")
    expect_error(upload_form(client, token, make_jpeg(65535, 65535, blocks=1)), 400, "BAD_REQUEST")
    expect_error(upload_raw(client, token, make_webp_vp8x(16384, 16384), ctype="image/webp"),
                 400, "BAD_REQUEST")
    # no pixels at all
    msg = expect_error(upload_raw(client, token, png_header(0, 10)), 400, "BAD_REQUEST")
    assert msg.startswith("file:"), msg
    assert asset_rows(psql, uid) == []


def test_pixel_limit_exactly(client, expect_ok, user):
    _, token = user
    asset = expect_ok(upload_raw(client, token, make_png(8000, 5000)), 201)
    assert (asset["width"], asset["height"]) == (8000, 5000)


def test_empty_file_is_refused(client, expect_error, user):
    _, token = user
    msg = expect_error(upload_raw(client, token, b""), 400, "BAD_REQUEST")
    assert msg == "file: empty"
    msg = expect_error(upload_form(client, token, b""), 400, "BAD_REQUEST")
    assert msg == "file: empty"


def test_wrong_field_and_broken_forms(client, expect_error, user):
    _, token = user
    msg = expect_error(upload_form(client, token, make_png(), field="image"), 400,
                       "BAD_REQUEST")
    assert msg.startswith("file:"), msg
    # two files in one upload
    resp = client.post("/uploads", token=token,
                       files=[("file", ("a.png", make_png(), "image/png")),
                              ("file", ("b.png", make_png(), "image/png"))])
    expect_error(resp, 400, "BAD_REQUEST")
    # no closing boundary
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            b"\r\n" + make_png())
    expect_error(upload_raw(client, token, body, ctype="multipart/form-data; boundary=XyZ"),
                 400, "BAD_REQUEST")
    # multipart without a boundary
    expect_error(upload_raw(client, token, body, ctype="multipart/form-data"), 415,
                 "UNSUPPORTED_MEDIA_TYPE")
    # a raw body must be declared as an image (or plain bytes)
    expect_error(upload_raw(client, token, make_png(), ctype="text/html"), 415,
                 "UNSUPPORTED_MEDIA_TYPE")
    expect_error(upload_raw(client, token, make_png(), ctype="application/json"), 415,
                 "UNSUPPORTED_MEDIA_TYPE")


def test_over_the_image_limit_is_413_from_the_service(client, expect_error, user):
    """Between 10 MiB and lighttpd's limit the worker answers 413 itself."""
    _, token = user
    head = png_header(100, 100)
    data = head + b"\x00" * (MAX_BYTES + 1 - len(head))
    msg = expect_error(upload_raw(client, token, data), 413, "PAYLOAD_TOO_LARGE")
    assert msg.startswith("file:"), msg


def _raw_http(base_url, head, body=b"", read_timeout=10):
    """Sends a request by hand; returns (status, headers text)."""
    parsed = urllib.parse.urlparse(base_url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=read_timeout) as s:
        s.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.split(b"\r\n\r\n")[0].decode("latin-1")


def test_far_larger_body_is_refused_by_lighttpd(base_url, user):
    """A Content-Length over lighttpd's limit is answered 413 before any body byte is
    sent, by lighttpd itself (no X-Request-Id: no worker saw it)."""
    _, token = user
    for length in (LIGHTTPD_LIMIT + 1, 50 * 1024 * 1024, 4 * 1024 ** 3):
        head = (f"POST /api/v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: image/png\r\n"
                f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode()
        status, headers = _raw_http(base_url, head)
        assert status == 413, headers
        assert "x-request-id" not in headers.lower(), headers


def test_other_api_routes_keep_a_small_limit(base_url):
    head = (b"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 5000000\r\n"
            b"Connection: close\r\n\r\n")
    status, headers = _raw_http(base_url, head)
    assert status == 413, headers
    assert "x-request-id" not in headers.lower(), headers


def test_authentication_required(client, expect_error):
    expect_error(client.post("/uploads", data=make_png(), headers={"Content-Type": "image/png"}),
                 401, "UNAUTHORIZED")
    expect_error(client.get("/assets/" + "0" * 64), 401, "UNAUTHORIZED")
    expect_error(client.get("/assets/" + "0" * 64, token="not.a.token"), 401, "UNAUTHORIZED")


# --------------------------------------------------------------------------- quota
#
# The quota is UPLOAD_QUOTA_FILES / UPLOAD_QUOTA_BYTES (1 GiB, 2000 files) unless the user's
# row says otherwise (users.upload_quota_files / upload_quota_bytes): the tests give their own
# user a tiny quota that way, so the shared stack keeps its defaults.


def set_quota(psql, uid, files=None, bytes_=None):
    f = "NULL" if files is None else str(int(files))
    b = "NULL" if bytes_ is None else str(int(bytes_))
    psql(f"UPDATE users SET upload_quota_files = {f}, upload_quota_bytes = {b} "
         f"WHERE id = {int(uid)}")


def media_files():
    """Every file under MEDIA_DIR (relative names; s3: every object), or None when MEDIA_DIR
    is not exported."""
    if is_s3():
        return media_keys()
    media = os.environ.get("MEDIA_DIR")
    if not media:
        return None
    found = set()
    for root, _, names in os.walk(media):
        found.update(os.path.relpath(os.path.join(root, n), media) for n in names)
    return found


def stored(sha):
    if is_s3():
        return any(k.rsplit("/", 1)[1].startswith(sha) for k in media_keys())
    media = os.environ.get("MEDIA_DIR")
    folder = os.path.join(media, sha[:2], sha[2:4]) if media else None
    return folder is not None and os.path.isdir(folder) and \
        any(n.startswith(sha) for n in os.listdir(folder))


def test_quota_of_files(client, expect_ok, expect_error, make_user, token_for, psql, user,
                        audit):
    uid, token = user
    set_quota(psql, uid, files=2)
    first, second, third = make_png(), make_jpeg(), make_webp_vp8l()
    a = expect_ok(upload_raw(client, token, first), 201)
    expect_ok(upload_raw(client, token, second, ctype="image/jpeg"), 201)

    before = media_files()
    msg = expect_error(upload_raw(client, token, third, ctype="image/webp"), 413,
                       "PAYLOAD_TOO_LARGE")
    assert msg.startswith("上传配额已满") and "2 个" in msg and "upload quota: 2 files" in msg, msg
    # nothing half-stored: no row, no file
    assert len(asset_rows(psql, uid)) == 2
    sha3 = hashlib.sha256(third).hexdigest()
    if before is not None:
        assert media_files() == before
        assert not stored(sha3)
    # multipart is refused the same way
    expect_error(upload_form(client, token, third, filename="w.webp"), 413, "PAYLOAD_TOO_LARGE")

    # at the quota, the same bytes again are still the existing asset
    again = expect_ok(upload_raw(client, token, first), 200)
    assert again["asset_id"] == a["asset_id"] and again["deduplicated"] is True
    assert len(asset_rows(psql, uid)) == 2

    # another user is not affected, even with the very bytes refused above
    other = token_for(make_user(nickname="other uploader"))
    theirs = expect_ok(upload_raw(client, other, third, ctype="image/webp"), 201)
    assert before is None or stored(theirs["url"].rsplit("/", 1)[-1].split(".")[0])

    # back to the default quota: the upload goes through
    set_quota(psql, uid)
    expect_ok(upload_raw(client, token, third, ctype="image/webp"), 201)
    assert len(asset_rows(psql, uid)) == 3


def test_quota_of_bytes(client, expect_ok, expect_error, psql, user):
    uid, token = user
    first, second = make_png(40, 40), make_png(30, 30)
    set_quota(psql, uid, bytes_=len(first) + len(second) - 1)
    expect_ok(upload_raw(client, token, first), 201)

    before = media_files()
    msg = expect_error(upload_raw(client, token, second), 413, "PAYLOAD_TOO_LARGE")
    limit = len(first) + len(second) - 1
    assert msg.startswith("上传配额已满"), msg
    assert str(len(first)) in msg and str(len(second)) in msg, msg
    assert f"upload quota: {limit} bytes" in msg, msg
    assert len(asset_rows(psql, uid)) == 1
    if before is not None:
        assert media_files() == before

    # exactly at the quota is allowed
    set_quota(psql, uid, bytes_=len(first) + len(second))
    expect_ok(upload_raw(client, token, second), 201)
    # a quota of 0 refuses everything new, a re-upload still answers the asset
    set_quota(psql, uid, files=0)
    expect_error(upload_raw(client, token, make_png()), 413, "PAYLOAD_TOO_LARGE")
    expect_ok(upload_raw(client, token, second), 200)


def test_quota_holds_under_concurrent_uploads(client, expect_ok, psql, user):
    """Eight different images at once against a quota of three files: exactly three are
    stored (the check and the insert are one step per user), the others leave nothing."""
    uid, token = user
    set_quota(psql, uid, files=3)
    images = [make_png(8, 8) for _ in range(8)]
    headers = {"Authorization": "Bearer " + token, "Content-Type": "image/png",
               "Connection": "close"}

    def one(data):
        return requests.post(client.url("/uploads"), data=data, headers=headers, timeout=30)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        resps = list(pool.map(one, images))
    statuses = sorted(r.status_code for r in resps)
    assert statuses == [201] * 3 + [413] * 5, [(r.status_code, r.text[:200]) for r in resps]
    rows = asset_rows(psql, uid)
    assert len(rows) == 3
    kept = {r[1] for r in rows}
    for data, resp in zip(images, resps):
        sha = hashlib.sha256(data).hexdigest()
        if resp.status_code == 201:
            assert sha in kept
        else:
            assert resp.json()["code"] == "PAYLOAD_TOO_LARGE"
            assert sha not in kept
            if is_s3() or os.environ.get("MEDIA_DIR"):
                assert not stored(sha), sha
