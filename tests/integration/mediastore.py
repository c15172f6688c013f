"""The media store as the tests see it, whichever backend the stack runs (MEDIA_BACKEND):
local (files under MEDIA_DIR, served by lighttpd under /media/) or s3 (objects of the bucket
S3_BUCKET at S3_ENDPOINT — on a test stack s3rver, path style — served to the public from
MEDIA_CDN_BASE).  A storage key is "<sha[0:2]>/<sha[2:4]>/<sha>.<ext>" in both.

Reads and writes go straight to the store, as an operator would (s3rver answers unsigned
requests; the worker's signed ones are what the tests check).  Tests import what they use
(`from mediastore import media_get`).
"""

import contextlib
import os
import pathlib
import re
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET

import requests

STACK = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "stack"

KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.(jpg|png|webp|t360\.jpg|t720\.jpg)$")


def is_s3():
    return os.environ.get("MEDIA_BACKEND", "local") == "s3"


def _object_url(key):
    return f"{os.environ['S3_ENDPOINT'].rstrip('/')}/{os.environ['S3_BUCKET']}/{key}"


def url_prefix():
    """What the public URL of a stored file starts with (then the key follows)."""
    if is_s3():
        return os.environ["MEDIA_CDN_BASE"].rstrip("/") + "/"
    return os.environ["PUBLIC_BASE_URL"].rstrip("/") + "/media/"


def url_of(key):
    return url_prefix() + key


def key_of(url):
    """The storage key at the end of a media URL (the last three path segments), or None."""
    path = urllib.parse.urlparse(url).path
    key = "/".join(path.split("/")[-3:])
    return key if KEY.match(key) else None


def media_get(key):
    """The stored bytes of key, or None when it is not stored."""
    if is_s3():
        resp = requests.get(_object_url(key), timeout=10)
        if resp.status_code == 404:
            return None
        assert resp.status_code == 200, (key, resp.status_code, resp.text[:200])
        return resp.content
    try:
        with open(os.path.join(os.environ["MEDIA_DIR"], key), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def media_exists(key):
    if is_s3():
        resp = requests.head(_object_url(key), timeout=10)
        assert resp.status_code in (200, 404), (key, resp.status_code)
        return resp.status_code == 200
    return os.path.isfile(os.path.join(os.environ["MEDIA_DIR"], key))


def media_put(key, data):
    """Stores data under key straight into the store (a file imported by hand)."""
    if is_s3():
        resp = requests.put(_object_url(key), data=data, timeout=30,
                            headers={"Content-Type": "application/octet-stream"})
        assert resp.status_code == 200, (key, resp.status_code, resp.text[:200])
        return
    path = os.path.join(os.environ["MEDIA_DIR"], key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def media_delete(key):
    if is_s3():
        resp = requests.delete(_object_url(key), timeout=10)
        assert resp.status_code in (200, 204, 404), (key, resp.status_code)
        return
    try:
        os.unlink(os.path.join(os.environ["MEDIA_DIR"], key))
    except FileNotFoundError:
        pass


def media_keys():
    """Every stored key (a set)."""
    keys = set()
    if is_s3():
        marker = ""
        while True:
            resp = requests.get(f"{os.environ['S3_ENDPOINT'].rstrip('/')}/"
                                f"{os.environ['S3_BUCKET']}",
                                params={"marker": marker, "max-keys": "1000"}, timeout=30)
            assert resp.status_code == 200, resp.text[:200]
            root = ET.fromstring(resp.content)
            # the document's namespace differs between servers: match local names
            names = [k.text for c in root if c.tag.endswith("Contents")
                     for k in c if k.tag.endswith("Key")]
            keys.update(n for n in names if KEY.match(n))
            truncated = [e.text for e in root if e.tag.endswith("IsTruncated")]
            if truncated != ["true"] or not names:
                return keys
            marker = names[-1]
    media = os.environ["MEDIA_DIR"]
    for d, _, files in os.walk(media):
        for f in files:
            rel = os.path.relpath(os.path.join(d, f), media)
            if KEY.match(rel):
                keys.add(rel)
    return keys


@contextlib.contextmanager
def store_down():
    """The stack's s3rver stopped for the block (`scripts/stack s3-stop`), started again after
    it, whatever happens inside."""
    proc = subprocess.run([str(STACK), "s3-stop"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    try:
        yield
    finally:
        proc = subprocess.run([str(STACK), "s3-start"], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr[-2000:]
