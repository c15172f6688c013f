"""WeChat cloud storage files (docs/cloud-files.md), black-box against the stack and the
simulator's cloud storage (tests/sim/ext_tcb.py):

- POST /assets/cloud registers a cloud:// file as the caller's asset: fetched once with the
  mini program's access token, checked and stored as an upload, deduplicated by file id and by
  hash; sha256 mismatch 409; bad input 400 per field; missing file 404, cloud storage 5xx /
  errcode 502, no answer 504, not an image 415, too large 413; nothing stored on any error;
  database down 503.
- GET /assets?cloud_file_id= finds the caller's registration only.
- Generation takes a registered file by its cloud:// id, and the task completes.
- An imported work (a works row with legacy_id and a cloud:// image_url, as the import writes
  it) renders through CLOUD_STORAGE_URL_PREFIX, then, after a dispatcher run, as our media URL;
  the fetch is bounded per run, put off after a failure, and done once by concurrent runs.
"""

import base64
import concurrent.futures
import hashlib
import os
import subprocess
import urllib.parse
import uuid

import pytest

from conftest import wait_database_back
import requests

from mediastore import url_prefix
from test_dispatch import DISPATCH, FAST, png, run_dispatch, task_row
from test_faults import health_status, stack, wait_for

UPLOAD_KEYS = {"asset_id", "sha256", "url", "thumb_url", "thumb_large_url", "mime", "width",
               "height", "size", "deduplicated"}


class Tcb:
    """The simulator's cloud storage control API (/__sim/tcb/)."""

    def __init__(self, base):
        self.base = base.rstrip("/")

    def call(self, method, path, body=None, params=None):
        resp = requests.request(method, self.base + path, json=body, params=params, timeout=10)
        assert resp.status_code == 200, f"{method} {path} -> {resp.status_code} {resp.text[:300]}"
        return resp.json()

    def put(self, path=None, data=None, side=16, rgb=None):
        """A file in the cloud environment: data (bytes) or a PNG; -> {"file_id","sha256",…}."""
        body = {"path": path or f"it/{uuid.uuid4().hex}.png"}
        if data is not None:
            body["data_b64"] = base64.b64encode(data).decode()
        else:
            body["png"] = {"side": side, "rgb": list(rgb or (40, 90, 160))}
        return self.call("POST", "/__sim/tcb/files", body)

    def fault(self, mode, stage="api", **extra):
        return self.call("POST", "/__sim/tcb/faults", dict(extra, mode=mode, stage=stage))

    def stats(self):
        return self.call("GET", "/__sim/tcb/stats")

    def env(self):
        return self.call("GET", "/__sim/tcb/files")


@pytest.fixture(scope="module")
def tcb():
    return Tcb(os.environ["AIPHOTO_SIM_URL"])


@pytest.fixture(autouse=True)
def _clean_tcb(tcb):
    tcb.call("POST", "/__sim/tcb/reset", {})
    yield
    tcb.call("DELETE", "/__sim/tcb/faults")


@pytest.fixture
def user(make_user, token_for):
    uid = make_user(credits=1000)
    return {"id": uid, "token": token_for(uid)}


def register(client, user, file_id, sha256=None):
    body = {"file_id": file_id}
    if sha256 is not None:
        body["sha256"] = sha256
    return client.post("/assets/cloud", token=user["token"], json=body)


def lookup(client, user, file_id):
    return client.get("/assets", token=user["token"], params={"cloud_file_id": file_id})


def stored_rows(psql, uid):
    """(assets, asset_cloud_files) rows of the user."""
    return (int(psql(f"SELECT count(*) FROM assets WHERE user_id = {int(uid)}")[0][0]),
            int(psql(f"SELECT count(*) FROM asset_cloud_files WHERE user_id = {int(uid)}")[0][0]))


def fetch(url):
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200, f"GET {url} -> {resp.status_code}"
    return resp.content


# --------------------------------------------------------------------------- registration


def test_register_answers_an_asset_with_its_file_id(client, expect_ok, psql, tcb, user):
    f = tcb.put(side=20, rgb=(1, 2, 3))
    asset = expect_ok(register(client, user, f["file_id"]), 201)
    assert set(asset) == UPLOAD_KEYS | {"cloud_file_id"}, asset
    assert asset["cloud_file_id"] == f["file_id"]
    assert asset["sha256"] == f["sha256"] and asset["size"] == f["size"]
    # stored normalised, as an upload: a JPEG (the PNG has no alpha) named by its own hash
    assert (asset["mime"], asset["width"], asset["height"]) == ("image/jpeg", 20, 20)
    assert asset["deduplicated"] is False
    stored = asset["url"].rsplit("/", 1)[-1].split(".")[0]
    assert hashlib.sha256(fetch(asset["url"])).hexdigest() == stored != f["sha256"]
    row = psql(f"SELECT user_id, cloud_file_id FROM assets WHERE id = {asset['asset_id']}")
    assert row == [[str(user["id"]), f["file_id"]]]
    assert psql(f"SELECT asset_id FROM asset_cloud_files WHERE user_id = {user['id']}") == \
        [[str(asset["asset_id"])]]
    # fetched once, with the mini program's token (the simulator refuses the OA's)
    assert tcb.stats()["api_calls"] == 1 and tcb.stats()["downloads"] == 1


def test_second_registration_is_deduplicated_without_fetching(client, expect_ok, tcb, user):
    f = tcb.put()
    first = expect_ok(register(client, user, f["file_id"]), 201)
    again = expect_ok(register(client, user, f["file_id"]), 200)
    assert again == dict(first, deduplicated=True)
    assert tcb.stats()["api_calls"] == 1, "the second registration fetched again"
    # the file gone from the cloud does not matter any more
    tcb.call("DELETE", "/__sim/tcb/files")
    assert expect_ok(register(client, user, f["file_id"]), 200)["asset_id"] == first["asset_id"]
    assert expect_ok(lookup(client, user, f["file_id"]))["asset_id"] == first["asset_id"]


def test_same_bytes_under_two_file_ids_and_as_an_upload(client, expect_ok, psql, tcb, user):
    data = png(12, 12, (5, 6, 7))
    up = expect_ok(client.request("POST", "/uploads", token=user["token"],
                                  headers={"Content-Type": "image/png"}, data=data), 201)
    a = tcb.put(data=data)
    b = tcb.put(data=data)
    ra = expect_ok(register(client, user, a["file_id"]), 200)
    rb = expect_ok(register(client, user, b["file_id"]), 200)
    assert ra["asset_id"] == rb["asset_id"] == up["asset_id"]
    assert ra["deduplicated"] is rb["deduplicated"] is True
    assert (ra["cloud_file_id"], rb["cloud_file_id"]) == (a["file_id"], b["file_id"])
    for f in (a, b):
        found = expect_ok(lookup(client, user, f["file_id"]))
        assert (found["asset_id"], found["cloud_file_id"]) == (up["asset_id"], f["file_id"])
    assert stored_rows(psql, user["id"]) == (1, 2)
    # the asset keeps the first id it was registered under
    assert psql(f"SELECT cloud_file_id FROM assets WHERE id = {up['asset_id']}") == \
        [[a["file_id"]]]


def test_sha256_is_checked(client, expect_ok, expect_error, psql, tcb, user):
    f = tcb.put()
    wrong = "0" * 64
    msg = expect_error(register(client, user, f["file_id"], wrong), 409, "CONFLICT")
    assert "sha256" in msg and f["sha256"] in msg and wrong in msg, msg
    assert stored_rows(psql, user["id"]) == (0, 0)
    # the right hash, in capitals too
    got = expect_ok(register(client, user, f["file_id"], f["sha256"].upper()), 201)
    assert got["sha256"] == f["sha256"]
    # a registered id with another expected hash: fetched again, and still refused
    calls = tcb.stats()["api_calls"]
    expect_error(register(client, user, f["file_id"], wrong), 409, "CONFLICT")
    assert tcb.stats()["api_calls"] == calls + 1
    assert stored_rows(psql, user["id"]) == (1, 1)


def test_a_replaced_cloud_file_is_registered_again_when_its_new_hash_is_sent(
        client, expect_ok, tcb, user):
    path = f"it/{uuid.uuid4().hex}.png"
    old = tcb.put(path=path, rgb=(10, 10, 10))
    first = expect_ok(register(client, user, old["file_id"]), 201)
    new = tcb.put(path=path, rgb=(200, 10, 10))  # the same path overwritten: the same id
    assert new["file_id"] == old["file_id"] and new["sha256"] != old["sha256"]
    assert expect_ok(register(client, user, old["file_id"]), 200)["sha256"] == old["sha256"]
    again = expect_ok(register(client, user, new["file_id"], new["sha256"]), 201)
    assert again["sha256"] == new["sha256"] and again["asset_id"] != first["asset_id"]
    assert expect_ok(lookup(client, user, new["file_id"]))["asset_id"] == again["asset_id"]


def test_lookup(client, expect_ok, expect_error, tcb, user):
    f = tcb.put()
    expect_error(lookup(client, user, f["file_id"]), 404, "NOT_FOUND")
    asset = expect_ok(register(client, user, f["file_id"]), 201)
    assert expect_ok(lookup(client, user, f["file_id"])) == dict(asset, deduplicated=True)
    assert "cloud_file_id" in expect_error(client.get("/assets", token=user["token"]), 400,
                                           "BAD_REQUEST")
    for bad in ("", "https://x/y.png", "cloud://nodot/x.png", "cloud://e.b/../x.png"):
        msg = expect_error(lookup(client, user, bad), 400, "BAD_REQUEST")
        assert msg.startswith("cloud_file_id"), msg
    expect_error(client.get("/assets", params={"cloud_file_id": f["file_id"]}), 401,
                 "UNAUTHORIZED")


def test_another_users_cloud_asset_is_not_found(client, expect_ok, expect_error, psql, tcb,
                                                user, make_user, token_for):
    f = tcb.put()
    asset = expect_ok(register(client, user, f["file_id"]), 201)
    other_id = make_user(credits=1000)
    other = {"id": other_id, "token": token_for(other_id)}
    expect_error(lookup(client, other, f["file_id"]), 404, "NOT_FOUND")
    for body in ({"scene_id": 1, "asset_ids": [f["file_id"]], "count": 1},
                 {"scene_id": 1, "asset_ids": [asset["asset_id"]], "count": 1}):
        expect_error(client.post("/tasks/photography", token=other["token"], json=body), 404,
                     "NOT_FOUND")
    # registering it themselves gives them their own row, sharing the stored file
    theirs = expect_ok(register(client, other, f["file_id"]), 201)
    assert theirs["asset_id"] != asset["asset_id"] and theirs["url"] == asset["url"]
    assert psql(f"SELECT credits FROM users WHERE id = {other_id}") == [["1000"]]


@pytest.mark.parametrize("body,field", [
    ([], "body"),
    ({}, "file_id"),
    ({"file_id": None}, "file_id"),
    ({"file_id": 7}, "file_id"),
    ({"file_id": ""}, "file_id"),
    ({"file_id": "https://7369-x.tcb.qcloud.la/a.png"}, "file_id"),
    ({"file_id": "cloud://simenv-7c3a9b/a.png"}, "file_id"),
    ({"file_id": "cloud://simenv-7c3a9b.b/../etc/passwd"}, "file_id"),
    ({"file_id": "cloud://simenv-7c3a9b.b//a.png"}, "file_id"),
    ({"file_id": "cloud://simenv-7c3a9b.b/" + "a" * 1100}, "file_id"),
    ({"file_id": "cloud://another-env.616e-another-env-1300000001/a.png"}, "file_id"),
    ({"file_id": "cloud://simenv-7c3a9b.b/a.png", "sha256": "abc"}, "sha256"),
    ({"file_id": "cloud://simenv-7c3a9b.b/a.png", "sha256": "g" * 64}, "sha256"),
    ({"file_id": "cloud://simenv-7c3a9b.b/a.png", "sha256": 12}, "sha256"),
])
def test_bad_input_names_the_field(client, expect_error, psql, tcb, user, body, field):
    msg = expect_error(client.post("/assets/cloud", token=user["token"], json=body), 400,
                       "BAD_REQUEST")
    if field != "body":
        assert msg.startswith(field + ":"), msg
    if "another-env" in str(body):
        assert "another-env" in msg and tcb.env()["env"] in msg, msg
    assert stored_rows(psql, user["id"]) == (0, 0)
    assert tcb.stats()["api_calls"] == 0


def test_registration_needs_a_user(client, expect_error, tcb):
    f = tcb.put()
    expect_error(client.post("/assets/cloud", json={"file_id": f["file_id"]}), 401,
                 "UNAUTHORIZED")
    expect_error(client.request("PUT", "/assets/cloud", json={}), 405, "METHOD_NOT_ALLOWED")


# --------------------------------------------------------------------------- cloud storage errors


@pytest.mark.parametrize("fault,status,code,words", [
    (None, 404, "NOT_FOUND", "STORAGE_FILE_NONEXIST"),
    ({"mode": "500"}, 502, "UPSTREAM_ERROR", "tcb/batchdownloadfile"),
    ({"mode": "errcode", "errcode": -1}, 502, "UPSTREAM_ERROR", "tcb/batchdownloadfile"),
    ({"mode": "timeout", "seconds": 20}, 504, "TIMEOUT", "in time"),
    ({"mode": "500", "stage": "download"}, 502, "UPSTREAM_ERROR", "HTTP 500"),
    ({"mode": "notimage", "stage": "download"}, 415, "UNSUPPORTED_MEDIA_TYPE", "not a JPEG"),
    ({"mode": "oversize", "stage": "download"}, 413, "PAYLOAD_TOO_LARGE", "10 MiB"),
], ids=["missing", "api-5xx", "api-errcode", "api-timeout", "download-5xx", "not-an-image",
        "too-large"])
def test_cloud_storage_errors_store_nothing(client, expect_error, psql, tcb, user, fault,
                                            status, code, words):
    f = tcb.put()
    if fault is None:
        tcb.call("DELETE", "/__sim/tcb/files")
    else:
        tcb.fault(**fault)
    msg = expect_error(register(client, user, f["file_id"]), status, code)
    assert msg.startswith("file_id:") and words in msg, msg
    assert stored_rows(psql, user["id"]) == (0, 0)
    tcb.call("DELETE", "/__sim/tcb/faults")
    if fault is not None:  # the same file registers once cloud storage behaves
        assert register(client, user, f["file_id"]).status_code == 201


def test_a_rotated_token_is_refreshed_once(client, expect_ok, sim, tcb, user):
    f = tcb.put()
    expect_ok(register(client, user, tcb.put()["file_id"]), 201)  # a token is cached now
    sim.rotate_token()
    expect_ok(register(client, user, f["file_id"]), 201)


# --------------------------------------------------------------------------- generation


def test_generation_takes_cloud_ids_and_completes(client, expect_ok, expect_error, psql, tcb,
                                                  user, audit):
    person = expect_ok(register(client, user, tcb.put(rgb=(1, 1, 1))["file_id"]), 201)
    garment = expect_ok(register(client, user, tcb.put(rgb=(2, 2, 2))["file_id"]), 201)
    photo = expect_ok(client.post("/tasks/photography", token=user["token"], json={
        "scene_id": 1, "asset_ids": [person["cloud_file_id"], garment["asset_id"]],
        "count": 1}), 202)
    fitting = expect_ok(client.post("/tasks/fitting", token=user["token"], json={
        "person_asset_id": person["cloud_file_id"],
        "garment_asset_id": garment["cloud_file_id"], "count": 1}), 202)
    assert psql(f"SELECT asset_ids FROM tasks WHERE id = {photo['id']}") == \
        [["{%d,%d}" % (person["asset_id"], garment["asset_id"])]]
    assert psql(f"SELECT person_asset_id, garment_asset_id FROM tasks "
                f"WHERE id = {fitting['id']}") == \
        [[str(person["asset_id"]), str(garment["asset_id"])]]
    run_dispatch()
    for task in (photo, fitting):
        row = task_row(psql, task["id"])
        assert row["status"] == "completed", row
        got = expect_ok(client.get(f"/tasks/{task['id']}", token=user["token"]))
        assert got["works"][0]["image_url"].startswith(url_prefix())


def test_generation_refuses_unknown_cloud_ids(client, expect_error, psql, tcb, user):
    unknown = tcb.put()["file_id"]
    msg = expect_error(client.post("/tasks/photography", token=user["token"], json={
        "scene_id": 1, "asset_ids": [unknown], "count": 1}), 404, "NOT_FOUND")
    assert msg.startswith("asset_ids:") and unknown in msg, msg
    msg = expect_error(client.post("/tasks/fitting", token=user["token"], json={
        "person_asset_id": "cloud://not-valid", "garment_asset_id": 1, "count": 1}), 400,
        "BAD_REQUEST")
    assert msg.startswith("person_asset_id:"), msg
    expect_error(client.post("/tasks/photography", token=user["token"], json={
        "scene_id": 1, "asset_ids": ["https://x/y.png"], "count": 1}), 400, "BAD_REQUEST")
    assert psql(f"SELECT credits, (SELECT count(*) FROM tasks WHERE user_id = {user['id']}) "
                f"FROM users WHERE id = {user['id']}") == [["1000", "0"]]


# --------------------------------------------------------------------------- imported works


def import_work(psql, uid, image_url, thumb_url="same"):
    """A works row as the import writes it: legacy_id, succeeded, the cloud's image URL."""
    thumb = image_url if thumb_url == "same" else thumb_url
    thumb_sql = "NULL" if thumb is None else f"'{thumb}'"
    return int(psql(
        f"INSERT INTO works (user_id, type, status, image_url, thumb_url, legacy_id, finished_at) "
        f"VALUES ({int(uid)}, 'photography', 'succeeded', '{image_url}', {thumb_sql}, "
        f"'it-{uuid.uuid4().hex}', now()) RETURNING id")[0][0])


def prefix_url(file_id):
    path = file_id.split("/", 3)[3]
    return os.environ["CLOUD_STORAGE_URL_PREFIX"].rstrip("/") + "/" + \
        urllib.parse.quote(path, safe="/")


@pytest.fixture
def others_not_due(psql):
    """Cloud works of earlier tests are put off, so a run's counts are this test's."""
    psql("UPDATE works SET cloud_fetch_after = now() + interval '1 day' "
         "WHERE image_url LIKE 'cloud://%' OR thumb_url LIKE 'cloud://%'")


def test_imported_work_renders_the_prefix_then_our_media(client, expect_ok, psql, tcb, user,
                                                          others_not_due):
    f = tcb.put(path=f"works/导入 {uuid.uuid4().hex[:6]}.png", side=24)
    thumb = tcb.put(side=8)
    wid = import_work(psql, user["id"], f["file_id"], thumb["file_id"])
    work = expect_ok(client.get(f"/works/{wid}", token=user["token"]))
    assert work["image_url"] == prefix_url(f["file_id"]) == f["public_url"], work
    assert work["thumb_url"] == prefix_url(thumb["file_id"]), work
    assert hashlib.sha256(fetch(work["image_url"])).hexdigest() == f["sha256"]
    listed = expect_ok(client.get("/works", token=user["token"]))["items"]
    assert [w["image_url"] for w in listed if w["id"] == wid] == [work["image_url"]]

    run_dispatch()
    work = expect_ok(client.get(f"/works/{wid}", token=user["token"]))
    media = url_prefix()
    assert work["image_url"].startswith(media) and work["thumb_url"].startswith(media), work
    # stored normalised like every image (a JPEG named by its own hash, no metadata), each
    # with its thumbnails: the work shows the 360 px one of its thumb file
    for url in (work["image_url"], work["thumb_url"]):
        body = fetch(url)
        assert body[:3] == b"\xff\xd8\xff"
        assert hashlib.sha256(body).hexdigest() not in (f["sha256"], thumb["sha256"])
    assert hashlib.sha256(fetch(work["image_url"])).hexdigest() == \
        work["image_url"].rsplit("/", 1)[-1].split(".")[0]
    assert work["thumb_url"].endswith(".t360.jpg"), work
    row = psql(f"SELECT image_url LIKE 'cloud://%', cloud_fetch_error FROM works WHERE id = {wid}")
    assert row == [["f", None]]
    # the cloud environment closes: the work keeps working, and a second run changes nothing
    tcb.call("DELETE", "/__sim/tcb/files")
    before = tcb.stats()
    run_dispatch()
    assert tcb.stats()["api_calls"] == before["api_calls"]
    assert expect_ok(client.get(f"/works/{wid}", token=user["token"])) == work
    fetch(work["image_url"])


def test_a_failed_fetch_is_put_off(client, expect_ok, psql, tcb, user, others_not_due):
    gone = f"cloud://{tcb.env()['env']}.{tcb.env()['bucket']}/works/never-{uuid.uuid4().hex}.png"
    wid = import_work(psql, user["id"], gone, None)
    tcb.fault("500", stage="download", times=1)
    ok = tcb.put()
    wok = import_work(psql, user["id"], ok["file_id"])
    run_dispatch()
    row = psql(f"SELECT image_url, cloud_fetch_attempts, cloud_fetch_error, "
               f"cloud_fetch_after > now() + interval '50 seconds' FROM works WHERE id = {wid}")
    assert row[0][0] == gone and row[0][1] == "1" and row[0][3] == "t", row
    assert "STORAGE_FILE_NONEXIST" in row[0][2], row
    # the download failed once (HTTP 500): put off too, the file id kept
    row = psql(f"SELECT image_url, cloud_fetch_error FROM works WHERE id = {wok}")
    assert row[0][0] == ok["file_id"] and "HTTP 500" in row[0][1], row
    assert expect_ok(client.get(f"/works/{wid}", token=user["token"]))["image_url"] == \
        prefix_url(gone)
    # not claimed again before its time
    calls = tcb.stats()["api_calls"]
    run_dispatch()
    assert tcb.stats()["api_calls"] == calls
    # due again: the second attempt waits twice as long
    psql(f"UPDATE works SET cloud_fetch_after = now() WHERE id IN ({wid}, {wok})")
    run_dispatch()
    row = psql(f"SELECT cloud_fetch_attempts, cloud_fetch_after > now() + interval '110 seconds' "
               f"FROM works WHERE id = {wid}")
    assert row == [["2", "t"]], row
    assert psql(f"SELECT image_url LIKE 'cloud://%' FROM works WHERE id = {wok}") == [["f"]]


def test_fetch_is_bounded_per_run(psql, tcb, user, others_not_due):
    ids = [import_work(psql, user["id"], tcb.put()["file_id"]) for _ in range(5)]
    run_dispatch({"DISPATCH_CLOUD_FETCH_BATCH": "2"})
    left = f"SELECT count(*) FROM works WHERE id IN ({','.join(map(str, ids))}) " \
           f"AND image_url LIKE 'cloud://%'"
    assert psql(left) == [["3"]]
    run_dispatch({"DISPATCH_CLOUD_FETCH_BATCH": "0"})
    assert psql(left) == [["3"]]
    run_dispatch()
    assert psql(left) == [["0"]]


def test_concurrent_runs_fetch_each_image_once(psql, tcb, user, others_not_due):
    # colours far enough apart to stay 12 different images once stored as JPEG
    ids = [import_work(psql, user["id"], tcb.put(rgb=(i * 20, 3, 4))["file_id"])
           for i in range(12)]
    left = f"SELECT count(*) FROM works WHERE id IN ({','.join(map(str, ids))}) " \
           f"AND image_url LIKE 'cloud://%'"
    env = dict(os.environ, **FAST, DISPATCH_CLOUD_FETCH_BATCH="5")
    for _ in range(4):
        procs = [subprocess.Popen([str(DISPATCH), "--until-idle"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for _ in range(3)]
        for p in procs:
            _, err = p.communicate(timeout=90)
            assert p.returncode == 0, err[-2000:]
        if psql(left) == [["0"]]:
            break
    assert psql(left) == [["0"]]
    assert tcb.stats()["downloads"] == 12, tcb.stats()
    urls = psql(f"SELECT DISTINCT image_url FROM works WHERE id IN ({','.join(map(str, ids))})")
    assert len(urls) == 12


# --------------------------------------------------------------------------- database down


def test_database_down_is_503(client, expect_ok, expect_error, tcb, user):
    f = tcb.put()
    registered = tcb.put()
    expect_ok(register(client, user, registered["file_id"]), 201)
    try:
        stack("pg-stop")
        assert wait_for(lambda: health_status(client) == 503, 3, 0.1)
        expect_error(register(client, user, f["file_id"]), 503, "UNAVAILABLE")
        expect_error(register(client, user, registered["file_id"]), 503, "UNAVAILABLE")
        expect_error(lookup(client, user, registered["file_id"]), 503, "UNAVAILABLE")
    finally:
        stack("pg-start")
        wait_database_back()
    assert wait_for(lambda: health_status(client) == 200, 10, 0.2)
    expect_ok(register(client, user, f["file_id"]), 201)
