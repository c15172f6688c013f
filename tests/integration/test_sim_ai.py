"""Self-tests of the AI provider part of the simulator (tests/sim/ext_ai.py).

Plain HTTP against the running simulator (AIPHOTO_SIM_URL): the OpenAI-style synchronous call
and the DashScope-style submit + poll, the result images (checked as PNG and JPEG files by this
file's own parser), the Bearer key, each fault mode at each stage, rules per work item and per
model with "times", the counters, the concurrency measurement, and hangs that end at once when
the faults are cleared, the simulator is reset or the client goes away.
"""

import base64
import hashlib
import json
import os
import pathlib
import struct
import sys
import threading
import time
import zlib

import pytest
import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "sim"))
import devcreds  # noqa: E402

KEY = os.environ.get("AIPHOTO_SIM_KEY") or devcreds.DEV["AIPHOTO_SIM_KEY"]
TIMEOUT = 10
OPENAI = "/openai/v1/images/generations"
T2I = "/dashscope/api/v1/services/aigc/text2image/image-synthesis"
I2I = "/dashscope/api/v1/services/aigc/image2image/image-synthesis"
TASKS = "/dashscope/api/v1/tasks/"
OVERSIZE = 12 * 1024 * 1024


# --------------------------------------------------------------------------- image checks


def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def input_png(rgb=(10, 20, 30), side=4):
    """A tiny PNG of this file's own making (an input image)."""
    raw = (b"\x00" + bytes(rgb) * side) * side
    return (b"\x89PNG\r\n\x1a\n" +
            png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)) +
            png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def data_url(data, mime="image/png"):
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def check_png(data):
    """Checks the signature, every chunk's CRC, IHDR first and IEND last, and that the IDAT
    stream inflates to exactly the rows IHDR announces; returns (width, height, first pixel)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature"
    pos, chunks = 8, []
    while pos < len(data):
        assert pos + 12 <= len(data), "truncated chunk"
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert len(body) == length, f"chunk {kind!r} truncated"
        assert zlib.crc32(kind + body) & 0xffffffff == crc, f"CRC of chunk {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, ctype, comp, filt, interlace) == (8, 2, 0, 0, 0)
    assert 0 < width <= 4096 and 0 < height <= 4096
    pixels = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    assert len(pixels) == height * (1 + 3 * width)
    assert pixels[0] == 0  # filter type None on the first row
    return width, height, tuple(pixels[1:4])


def check_jpeg(data):
    """Checks SOI, the marker segments up to SOS (DQT, DHT and a baseline SOF0 present), an
    entropy-coded segment with only stuffed 0xFF bytes, and EOI; returns (width, height)."""
    assert data[:2] == b"\xff\xd8", "SOI"
    assert data[-2:] == b"\xff\xd9", "EOI"
    pos, seen, size = 2, set(), None
    while True:
        assert data[pos] == 0xff, f"marker expected at {pos}"
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        seg = data[pos + 4:pos + 2 + length]
        seen.add(marker)
        if marker == 0xc0:
            precision, height, width, ncomp = struct.unpack(">BHHB", seg[:6])
            assert precision == 8 and ncomp in (1, 3) and len(seg) == 6 + 3 * ncomp
            size = (width, height)
        pos += 2 + length
        if marker == 0xda:
            break
    assert {0xdb, 0xc4, 0xc0} <= seen, "DQT, DHT and SOF0 before SOS"
    scan = data[pos:-2]
    assert scan, "empty scan"
    for i, byte in enumerate(scan):
        if byte == 0xff:
            assert i + 1 < len(scan) and (scan[i + 1] == 0 or 0xd0 <= scan[i + 1] <= 0xd7), \
                "unstuffed 0xFF in the scan"
    assert size and size[0] > 0 and size[1] > 0
    return size


# --------------------------------------------------------------------------- client


class Ai:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.http = requests.Session()

    def url(self, path):
        return self.base + path

    def control(self, method, path, body=None, status=None):
        r = self.http.request(method, self.url(path), json=body, timeout=TIMEOUT)
        if status is not None:
            assert r.status_code == status, r.text
        else:
            assert r.status_code in (200, 201), r.text
        return r.json()

    def fault(self, **rule):
        return self.control("POST", "/__sim/ai/faults", rule, 201)["rule"]

    def clear(self):
        return self.control("DELETE", "/__sim/ai/faults")

    def stats(self):
        return self.control("GET", "/__sim/ai/stats")

    def config(self, **values):
        return self.control("POST", "/__sim/ai/config", values)

    def log(self, work_id=None):
        q = f"?work_id={work_id}" if work_id is not None else ""
        return self.control("GET", "/__sim/ai/requests" + q)["requests"]

    @staticmethod
    def headers(work_id=None, attempt=1, key=KEY, extra=None):
        h = {"Authorization": f"Bearer {key}"} if key is not None else {}
        if work_id is not None:
            h["X-Client-Request-Id"] = f"work-{work_id}-{attempt}"
        h.update(extra or {})
        return h

    def openai(self, work_id, body=None, key=KEY, timeout=TIMEOUT, **kw):
        payload = {"model": "sim-openai", "prompt": "a portrait in a garden", "n": 1,
                   "user": f"work-{work_id}"}
        payload.update(body or {})
        return requests.post(self.url(OPENAI), json=payload, timeout=timeout,
                             headers=self.headers(work_id, key=key), **kw)

    def ds_submit(self, work_id, body=None, path=T2I, key=KEY, asynchronous=True, **kw):
        payload = {"model": "sim-wanx", "input": {"prompt": "a city at night",
                                                  "negative_prompt": "blurry"},
                   "parameters": {"size": "1024*1024", "n": 1}}
        payload.update(body or {})
        extra = {"X-DashScope-Async": "enable"} if asynchronous else {}
        return requests.post(self.url(path), json=payload, timeout=kw.pop("timeout", TIMEOUT),
                             headers=self.headers(work_id, key=key, extra=extra), **kw)

    def ds_poll(self, task_id, work_id=None, key=KEY, **kw):
        return requests.get(self.url(TASKS + task_id), headers=self.headers(work_id, key=key),
                            timeout=kw.pop("timeout", TIMEOUT), **kw)

    def ds_wait(self, task_id, work_id=None, limit=10.0):
        """Polls until the task leaves PENDING/RUNNING; returns (final output, statuses)."""
        seen, deadline = [], time.monotonic() + limit
        while time.monotonic() < deadline:
            r = self.ds_poll(task_id, work_id)
            assert r.status_code == 200, r.text
            out = r.json()["output"]
            seen.append(out["task_status"])
            if out["task_status"] not in ("PENDING", "RUNNING"):
                return out, seen
            time.sleep(0.05)
        pytest.fail(f"task {task_id} still {seen[-1]} after {limit} s")


@pytest.fixture
def ai():
    base = os.environ.get("AIPHOTO_SIM_URL")
    if not base:
        pytest.fail("AIPHOTO_SIM_URL is not set: run against a stack (scripts/stack env)",
                    pytrace=False)
    a = Ai(base)
    a.control("POST", "/__sim/ai/reset")
    a.config(latency_ms=0, poll_after_ms=300)
    yield a
    a.control("POST", "/__sim/ai/reset")  # also ends any hang left behind
    a.http.close()


# --------------------------------------------------------------------------- OpenAI style


def test_openai_b64_png_colour_follows_work(ai):
    images = {}
    for work in (101, 101, 102):
        r = ai.openai(work)
        assert r.status_code == 200, r.text
        body = r.json()
        assert isinstance(body["created"], int) and len(body["data"]) == 1
        raw = base64.b64decode(body["data"][0]["b64_json"], validate=True)
        w, h, pixel = check_png(raw)
        assert (w, h) == (64, 64)
        images.setdefault(work, []).append((raw, pixel))
    assert images[101][0] == images[101][1]  # the same work gives the same image
    assert images[101][0][0] != images[102][0][0]
    st = ai.stats()
    assert st["submissions"] == {"101": 2, "102": 1} and st["total_submissions"] == 3
    log = ai.log(101)
    assert log[0]["attempt"] == 1 and log[0]["model"] == "sim-openai"
    assert log[0]["prompt"] == "a portrait in a garden" and log[0]["status"] == 200


def test_openai_url_result_and_download(ai):
    r = ai.openai(7, {"response_format": "url", "size": "1024x1024"})
    assert r.status_code == 200, r.text
    url = r.json()["data"][0]["url"]
    assert url.startswith(ai.base + "/ai/results/") and url.endswith(".png")
    img = requests.get(url, timeout=TIMEOUT)  # result files need no key
    assert img.status_code == 200 and img.headers["Content-Type"] == "image/png"
    assert check_png(img.content)[:2] == (64, 64)
    assert ai.stats()["downloads"] == {"7": 1}
    missing = requests.get(ai.url("/ai/results/nothing-here.png"), timeout=TIMEOUT)
    assert missing.status_code == 404


@pytest.mark.parametrize("where", ["format", "output_format", "rule"])
def test_openai_jpeg(ai, where):
    body = {"response_format": "url"}
    if where == "rule":
        ai.fault(mode="ok", model="sim-openai", format="jpeg")
    else:
        body[where] = "jpeg"
    r = ai.openai(8, body)
    url = r.json()["data"][0]["url"]
    assert url.endswith(".jpg")
    img = requests.get(url, timeout=TIMEOUT)
    assert img.headers["Content-Type"] == "image/jpeg"
    assert check_jpeg(img.content) == (64, 64)
    b64 = ai.openai(8, {"format": "jpeg"}).json()["data"][0]["b64_json"]
    assert check_jpeg(base64.b64decode(b64)) == (64, 64)


def test_jpeg_by_default_when_configured(ai):
    ai.config(format="jpeg")
    raw = base64.b64decode(ai.openai(9).json()["data"][0]["b64_json"])
    assert check_jpeg(raw) == (64, 64)


def test_openai_inputs_are_checked_and_recorded(ai):
    one, two = input_png((1, 2, 3)), input_png((4, 5, 6), side=8)
    r = ai.openai(11, {"image": [data_url(one), data_url(two)], "negative_prompt": "text",
                       "quality": "low"})
    assert r.status_code == 200, r.text
    (entry,) = ai.log(11)
    assert [i["sha256"] for i in entry["inputs"]] == [hashlib.sha256(one).hexdigest(),
                                                      hashlib.sha256(two).hexdigest()]
    assert entry["inputs"][0]["mime"] == "image/png" and entry["negative_prompt"] == "text"
    assert entry["extra_fields"] == ["quality"] and entry["user"] == "work-11"
    for bad in ("data:image/png;base64,@@@", data_url(b"MZ\x90\x00 not an image"),
                data_url(one, "image/jpeg"), "file:///etc/passwd", 42):
        r = ai.openai(11, {"image": [bad]})
        assert r.status_code == 400, bad
        assert r.json()["error"]["type"] == "invalid_request_error"
        assert r.json()["error"]["param"] == "image[0]"


def test_openai_large_body_is_accepted(ai):
    big = input_png() + b"\x00" * (3 * 1024 * 1024)  # trailing bytes: still a PNG by magic
    r = ai.openai(12, {"image": [data_url(big)]})
    assert r.status_code == 200, r.text[:200]
    assert ai.log(12)[0]["inputs"][0]["bytes"] == len(big)


@pytest.mark.parametrize("body,param", [
    ({"prompt": ""}, "prompt"), ({"model": None}, "model"), ({"n": 0}, "n"),
    ({"size": "big"}, "size"), ({"response_format": "png"}, "response_format"),
    ({"image": "one"}, "image"), ({"negative_prompt": 5}, "negative_prompt")])
def test_openai_validation(ai, body, param):
    r = ai.openai(13, body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param


def test_openai_not_json(ai):
    r = requests.post(ai.url(OPENAI), data=b"{not json", headers=ai.headers(14),
                      timeout=TIMEOUT)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize("key", [None, "wrong-key", ""])
def test_auth_refused(ai, key):
    r = ai.openai(21, key=key)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    r = ai.ds_submit(21, key=key)
    assert r.status_code == 401
    assert r.json()["code"] == "InvalidApiKey" and r.json()["request_id"]
    task = ai.ds_submit(21).json()["output"]["task_id"]
    r = ai.ds_poll(task, 21, key=key)
    assert r.status_code == 401 and r.json()["code"] == "InvalidApiKey"
    st = ai.stats()
    assert st["auth_failures"] == 3
    assert st["submissions"] == {"21": 1} and st["polls"] == {}


def test_auth_needs_bearer_scheme(ai):
    r = requests.post(ai.url(OPENAI), json={"model": "m", "prompt": "p"}, timeout=TIMEOUT,
                      headers={"Authorization": "Basic " + KEY})
    assert r.status_code == 401


# --------------------------------------------------------------------------- DashScope style


def test_dashscope_text2image_flow(ai):
    ai.config(poll_after_ms=1200)
    r = ai.ds_submit(31)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["output"]["task_status"] == "PENDING" and body["request_id"]
    task = body["output"]["task_id"]
    out, seen = ai.ds_wait(task, 31)
    assert out["task_status"] == "SUCCEEDED" and "RUNNING" in seen
    assert seen[:-1] == sorted(seen[:-1], key=["PENDING", "RUNNING"].index)
    (result,) = out["results"]
    img = requests.get(result["url"], timeout=TIMEOUT)
    assert img.status_code == 200 and check_png(img.content)[:2] == (64, 64)
    again, _ = ai.ds_wait(task, 31)  # a finished task keeps its results
    assert again["results"] == out["results"]
    st = ai.stats()
    assert st["submissions"] == {"31": 1} and st["downloads"] == {"31": 1}
    assert st["polls"]["31"] == len(seen) + 1 and st["total_polls"] == len(seen) + 1


def test_dashscope_poll_without_header_counts_for_the_task_work(ai):
    task = ai.ds_submit(32).json()["output"]["task_id"]
    ai.ds_poll(task)  # no X-Client-Request-Id
    assert ai.stats()["polls"] == {"32": 1}


def test_dashscope_tryon_and_ref_images(ai):
    person, garment = input_png((9, 9, 9)), input_png((200, 10, 10))
    r = ai.ds_submit(33, {"model": "sim-tryon", "input": {
        "prompt": "", "negative_prompt": "", "person_image_url": data_url(person),
        "top_garment_url": data_url(garment)}, "parameters": {"format": "jpeg"}}, path=I2I)
    assert r.status_code == 200, r.text
    out, _ = ai.ds_wait(r.json()["output"]["task_id"], 33)
    assert out["task_status"] == "SUCCEEDED" and "results" not in out
    assert out["image_url"].endswith(".jpg")
    assert check_jpeg(requests.get(out["image_url"], timeout=TIMEOUT).content) == (64, 64)
    fields = [i["field"] for i in ai.log(33)[0]["inputs"]]
    assert fields == ["input.person_image_url", "input.top_garment_url"]

    r = ai.ds_submit(34, {"model": "sim-wanx-i2i", "input": {
        "prompt": "studio", "ref_images": [data_url(person)]}}, path=I2I)
    out, _ = ai.ds_wait(r.json()["output"]["task_id"], 34)
    assert len(out["results"]) == 1 and out["results"][0]["url"].endswith(".png")


@pytest.mark.parametrize("body,path", [
    ({"input": {"prompt": ""}}, T2I),
    ({"input": {"prompt": "x"}}, I2I),  # image2image needs images
    ({"input": "x"}, T2I), ({"model": ""}, T2I),
    ({"parameters": {"size": "1024x1024"}}, T2I), ({"parameters": {"n": 9}}, T2I),
    ({"input": {"prompt": "x", "ref_images": ["data:image/png;base64,AAAA"]}}, I2I),
    ({"input": {"person_image_url": "http://127.0.0.1/p.png"}}, I2I)])
def test_dashscope_validation(ai, body, path):
    r = ai.ds_submit(35, body, path=path)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "InvalidParameter" and r.json()["request_id"]


def test_dashscope_needs_async_header(ai):
    r = ai.ds_submit(36, asynchronous=False)
    assert r.status_code == 403 and r.json()["code"] == "AccessDenied"


def test_dashscope_unknown_task(ai):
    r = ai.ds_poll("00000000-0000-0000-0000-000000000000", 37)
    assert r.status_code == 200
    assert r.json()["output"]["task_status"] == "UNKNOWN"


# --------------------------------------------------------------------------- fault modes


def assert_fault(r, mode, provider):
    """The answer of one fault mode (r from requests with stream=True, no redirects)."""
    if mode == "redirect":
        assert r.status_code == 302
        assert r.headers["Location"] == "http://169.254.169.254/latest/meta-data/"
        return
    if mode == "oversize":
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == OVERSIZE
        total = sum(len(c) for c in r.iter_content(1 << 16))
        assert total == OVERSIZE
        return
    body = r.content
    if mode == "badjson":
        assert r.status_code == 200
        if provider == "download":
            assert not body.startswith((b"\x89PNG", b"\xff\xd8"))
        else:
            with pytest.raises(ValueError):
                json.loads(body)
        return
    assert r.status_code == int(mode)
    if mode == "429":
        assert r.headers["Retry-After"] == "3"
    if provider == "openai":
        err = json.loads(body)["error"]
        assert {"message", "type", "param", "code"} <= set(err)
        if mode == "400":
            assert err["code"] == "content_policy_violation"
        if mode == "429":
            assert err["code"] == "rate_limit_exceeded"
    elif provider == "dashscope":
        err = json.loads(body)
        expect = {"500": "InternalError", "429": "Throttling.RateQuota",
                  "400": "DataInspectionFailed"}[mode]
        assert err["code"] == expect and err["message"] and err["request_id"]


MODES = ["500", "429", "400", "badjson", "oversize", "redirect"]


@pytest.mark.parametrize("mode", MODES)
def test_openai_submit_faults(ai, mode):
    ai.fault(mode=mode, model="sim-openai", retry_after=3, times=1)
    r = ai.openai(41, stream=True, allow_redirects=False)
    assert_fault(r, mode, "openai")
    r.close()
    ok = ai.openai(41)  # times=1: the next call is normal
    assert ok.status_code == 200 and check_png(base64.b64decode(ok.json()["data"][0]["b64_json"]))
    st = ai.stats()
    assert st["submissions"] == {"41": 2} and st["faults_applied"] == {mode: 1}


@pytest.mark.parametrize("mode", MODES)
def test_dashscope_submit_faults(ai, mode):
    ai.fault(mode=mode, model="*", retry_after=3)
    r = ai.ds_submit(42, stream=True, allow_redirects=False)
    assert_fault(r, mode, "dashscope")
    r.close()
    assert ai.stats()["tasks"] == 0  # nothing was created
    ai.clear()
    assert ai.ds_submit(42).status_code == 200


@pytest.mark.parametrize("mode", MODES)
def test_dashscope_poll_faults(ai, mode):
    task = ai.ds_submit(43).json()["output"]["task_id"]
    ai.fault(mode=mode, model="sim-wanx", stage="poll", times=1, retry_after=3)
    r = ai.ds_poll(task, 43, stream=True, allow_redirects=False)
    assert_fault(r, mode, "dashscope")
    r.close()
    out, _ = ai.ds_wait(task, 43)
    assert out["task_status"] == "SUCCEEDED"


@pytest.mark.parametrize("mode", MODES)
def test_download_faults(ai, mode):
    url = ai.openai(44, {"response_format": "url"}).json()["data"][0]["url"]
    ai.fault(mode=mode, model="sim-openai", stage="download", times=1, retry_after=3)
    r = requests.get(url, stream=True, allow_redirects=False, timeout=TIMEOUT)
    assert_fault(r, mode, "download")
    r.close()
    assert check_png(requests.get(url, timeout=TIMEOUT).content)
    assert ai.stats()["downloads"] == {"44": 2}


def test_poll_failed_and_unknown(ai):
    task = ai.ds_submit(45).json()["output"]["task_id"]
    ai.fault(mode="failed", stage="poll", work_id=45, times=1, code="DataInspectionFailed")
    out = ai.ds_poll(task, 45).json()["output"]
    assert out["task_status"] == "FAILED" and out["code"] == "DataInspectionFailed"
    assert ai.ds_poll(task, 45).json()["output"]["task_status"] == "FAILED"  # stays failed

    task = ai.ds_submit(46).json()["output"]["task_id"]
    ai.fault(mode="unknown", stage="poll", work_id=46, times=1)
    assert ai.ds_poll(task, 46).json()["output"]["task_status"] == "UNKNOWN"
    assert ai.ds_poll(task, 46).json()["output"]["task_status"] == "UNKNOWN"


# --------------------------------------------------------------------------- rules


def test_rules_per_work_and_per_model(ai):
    ai.fault(mode="500", work_id=51)
    ai.fault(mode="429", model="sim-other")
    assert ai.openai(51).status_code == 500
    assert ai.openai(52).status_code == 200
    assert ai.openai(52, {"model": "sim-other"}).status_code == 429
    assert ai.openai(51, {"model": "sim-other"}).status_code == 500  # the work rule wins
    ai.fault(mode="ok", work_id=53)
    ai.fault(mode="400", model="*")
    assert ai.openai(53).status_code == 200  # a work "ok" rule beats a "*" fault
    assert ai.openai(54).status_code == 400
    assert ai.ds_submit(54).status_code == 400  # "*" covers every model and provider
    assert ai.ds_submit(55, {"model": "sim-other"}).status_code == 429  # model beats "*"


def test_rule_times_then_normal(ai):
    first = ai.fault(mode="500", model="sim-openai", times=2)
    ai.fault(mode="429", model="sim-openai", times=1)
    codes = [ai.openai(56).status_code for _ in range(5)]
    assert codes == [500, 500, 429, 200, 200]
    rules = ai.control("GET", "/__sim/ai/faults")["rules"]
    assert [(r["id"], r["remaining"], r["hits"]) for r in rules] == \
        [(first["id"], 0, 2), (first["id"] + 1, 0, 1)]
    assert ai.clear() == {"cleared": 2}
    assert ai.control("GET", "/__sim/ai/faults")["rules"] == []


def test_rule_until_cleared(ai):
    ai.fault(mode="500")
    assert [ai.openai(57).status_code for _ in range(3)] == [500, 500, 500]
    ai.clear()
    assert ai.openai(57).status_code == 200


@pytest.mark.parametrize("rule", [
    {"mode": "teapot"}, {"mode": "500", "stage": "later"}, {"mode": "500", "work_id": 0},
    {"mode": "500", "times": 0}, {"mode": "500", "colour": "red"}, {"mode": "failed"},
    {"mode": "unknown", "stage": "submit"}, {"mode": "hang", "seconds": 500},
    {"mode": "ok", "format": "gif"}, {"mode": "500", "model": ""}])
def test_bad_rules_refused(ai, rule):
    r = requests.post(ai.url("/__sim/ai/faults"), json=rule, timeout=TIMEOUT)
    assert r.status_code == 400 and r.json()["error"]


def test_numeric_mode_accepted(ai):
    assert ai.fault(mode=500)["mode"] == "500"


def test_bad_config_refused(ai):
    for body in ({"latency_ms": -1}, {"poll_after_ms": "x"}, {"speed": 1}, {"format": "gif"}):
        r = requests.post(ai.url("/__sim/ai/config"), json=body, timeout=TIMEOUT)
        assert r.status_code == 400, body


# --------------------------------------------------------------------------- latency, stats


def test_latency(ai):
    ai.config(latency_ms=400)
    started = time.monotonic()
    assert ai.openai(61).status_code == 200
    assert time.monotonic() - started >= 0.4
    assert ai.control("GET", "/__sim/ai/config")["latency_ms"] == 400


def test_max_concurrent(ai):
    ai.config(latency_ms=600)
    n = 6
    barrier = threading.Barrier(n)
    codes = []

    def one(i):
        barrier.wait()
        codes.append(ai.openai(70 + i).status_code)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert codes == [200] * n
    st = ai.stats()
    assert st["max_concurrent"] == n and st["in_flight"] == 0
    assert st["total_submissions"] == n
    ai.openai(80)  # one at a time afterwards does not raise it
    assert ai.stats()["max_concurrent"] == n
    ai.control("POST", "/__sim/ai/reset")
    assert ai.stats()["max_concurrent"] == 0


def test_core_stats_and_reset(ai, sim):
    ai.openai(81)
    ai.fault(mode="500")
    core = requests.get(ai.url("/__sim/stats"), timeout=TIMEOUT).json()
    assert core["ai_total_submissions"] == 1 and "ai_max_concurrent" in core
    sim.reset()  # POST /__sim/reset resets the AI part too
    st = ai.stats()
    assert st["total_submissions"] == 0 and st["submissions"] == {}
    assert ai.control("GET", "/__sim/ai/faults")["rules"] == []


# --------------------------------------------------------------------------- hangs


class Hung(threading.Thread):
    """A provider call in the background; records how and when it ended."""

    def __init__(self, call, **kw):
        super().__init__(daemon=True)
        self.call, self.kw = call, kw
        self.error = self.response = None
        self.ended = None

    def run(self):
        try:
            self.response = self.call(**self.kw)
        except requests.RequestException as err:
            self.error = err
        self.ended = time.monotonic()


def wait_for(pred, limit=5.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def start_hang(ai, call, **kw):
    t = Hung(call, **kw)
    t.start()
    assert wait_for(lambda: ai.stats()["hanging"] == 1), "the request did not start hanging"
    return t


@pytest.mark.parametrize("how", ["clear", "reset", "ai_reset"])
def test_hang_ends_on_clear_or_reset(ai, sim, how):
    ai.fault(mode="hang", model="sim-openai")
    t = start_hang(ai, ai.openai, work_id=91, timeout=60)
    # Other requests are served meanwhile.
    started = time.monotonic()
    assert ai.openai(92, {"model": "sim-free"}).status_code == 200
    assert requests.get(ai.url("/__sim/stats"), timeout=TIMEOUT).status_code == 200
    assert time.monotonic() - started < 2
    assert ai.stats()["in_flight"] == 1
    time.sleep(0.3)
    assert t.is_alive()  # still no answer
    cut = time.monotonic()
    if how == "clear":
        ai.clear()
    elif how == "reset":
        sim.reset()
    else:
        ai.control("POST", "/__sim/ai/reset")
    t.join(5)
    assert not t.is_alive() and t.ended - cut < 2
    assert t.response is None and isinstance(t.error, requests.ConnectionError)
    assert wait_for(lambda: ai.stats()["hanging"] == 0)


def test_hang_ends_when_the_client_leaves(ai):
    ai.fault(mode="hang", stage="poll")
    task = ai.ds_submit(93).json()["output"]["task_id"]
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        ai.ds_poll(task, 93, timeout=0.5)
    assert time.monotonic() - started < 3
    # The simulator notices the closed connection within a fraction of a second.
    assert wait_for(lambda: ai.stats()["hanging"] == 0, 3)
    assert ai.stats()["polls"] == {"93": 1}


def test_hang_with_short_seconds_and_times(ai):
    ai.fault(mode="hang", work_id=94, seconds=0.5, times=1)
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        ai.openai(94, timeout=30)
    assert 0.4 <= time.monotonic() - started < 3
    assert ai.openai(94).status_code == 200


def test_hang_download(ai):
    url = ai.openai(95, {"response_format": "url"}).json()["data"][0]["url"]
    ai.fault(mode="hang", stage="download", work_id=95)
    t = start_hang(ai, requests.get, url=url, timeout=60)
    ai.clear()
    t.join(5)
    assert not t.is_alive() and isinstance(t.error, requests.ConnectionError)
