"""The dispatcher (build/aiphoto-dispatch) end to end: tasks submitted through lighttpd, the
real dispatcher binary, the simulated AI providers (tests/sim/ext_ai.py), the media store.

Every test leaves `aiphotoctl audit` clean and checks the money of its task:
charged − refunded = succeeded × price, with exactly one refund row per failed item.
The stack of scripts/test-integration runs no dispatcher loop: each test runs the binary at the
moments it chooses.
"""

import concurrent.futures
import os
import signal
import subprocess
import time
import zlib
import struct

import pytest
import requests

from conftest import REPO
from mediastore import is_s3, store_down

# the sanitizer run (make asan) points AIPHOTO_BUILD at its own build directory
DISPATCH = REPO / os.environ.get("AIPHOTO_BUILD", "build") / "aiphoto-dispatch"
FAST = {"DISPATCH_RETRY_BASE_MS": "100", "DISPATCH_BUDGET_SECONDS": "30"}


@pytest.fixture(autouse=True)
def _audited(audit):
    yield


def png(w=16, h=16, rgb=(200, 120, 40)):
    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class Ai:
    """The simulator's AI control API."""

    def __init__(self, base):
        self.base = base.rstrip("/")

    def call(self, method, path, body=None):
        resp = requests.request(method, self.base + path, json=body, timeout=10)
        assert resp.status_code in (200, 201), f"{method} {path} -> {resp.status_code} {resp.text[:200]}"
        return resp.json()

    def fault(self, **rule):
        return self.call("POST", "/__sim/ai/faults", rule)

    def stats(self):
        return self.call("GET", "/__sim/ai/stats")

    def config(self, **cfg):
        return self.call("POST", "/__sim/ai/config", cfg)

    def submissions(self, work_id):
        return self.stats()["submissions"].get(str(work_id), 0)


def run_dispatch(extra=None, timeout=90, check=True):
    """One run that exits as soon as nothing is due and nothing runs (--until-idle)."""
    env = dict(os.environ, **FAST)
    env.update(extra or {})
    proc = subprocess.run([str(DISPATCH), "--until-idle"], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def drain(psql):
    """The demo models on, and whatever an earlier test left due worked off first, so that
    counts taken afterwards are the test's own."""
    psql("UPDATE ai_models SET active = true, timeout_ms = 30000 WHERE name LIKE 'sim-%'")
    for _ in range(20):
        if psql("SELECT count(*) FROM works WHERE status IN ('queued', 'running')")[0][0] == "0":
            break
        run_dispatch({"DISPATCH_BUDGET_SECONDS": "10"}, check=False)
        psql("UPDATE works SET run_after = now() WHERE status = 'queued'")


@pytest.fixture(scope="module")
def ai():
    a = Ai(os.environ["AIPHOTO_SIM_URL"])
    return a


@pytest.fixture(autouse=True)
def _clean_sim(ai, psql):
    ai.call("POST", "/__sim/ai/reset", {})
    ai.config(latency_ms=300, poll_after_ms=600)
    drain(psql)
    yield
    ai.call("DELETE", "/__sim/ai/faults")


@pytest.fixture
def customer(client, expect_ok, make_user, token_for):
    def make(credits=10000):
        uid = make_user(credits=credits)
        tok = token_for(uid)
        up = client.request("POST", "/uploads", token=tok,
                            headers={"Content-Type": "image/png"},
                            data=png(rgb=(uid % 256, 7, 9)))
        asset = expect_ok(up, 201)
        up2 = client.request("POST", "/uploads", token=tok,
                             headers={"Content-Type": "image/png"},
                             data=png(rgb=(9, uid % 256, 7)))
        garment = expect_ok(up2, 201)
        return {"id": uid, "token": tok, "asset": asset["asset_id"],
                "garment": garment["asset_id"]}

    return make


def submit(client, expect_ok, c, count, kind="photography"):
    if kind == "photography":
        body = {"scene_id": 1, "asset_ids": [c["asset"]], "count": count,
                "params": {"style": "film"}}
    else:
        body = {"person_asset_id": c["asset"], "garment_asset_id": c["garment"], "count": count}
    return expect_ok(client.post(f"/tasks/{kind}", token=c["token"], json=body), 202)


def only(psql, sql):
    rows = psql(sql)
    assert len(rows) == 1, rows
    return rows[0]


def task_row(psql, task_id):
    r = only(psql, f"SELECT status, count, done, failed, canceled, credits_charged, "
                   f"credits_refunded, price FROM tasks WHERE id = {int(task_id)}")
    return {"status": r[0], "count": int(r[1]), "done": int(r[2]), "failed": int(r[3]),
            "canceled": int(r[4]), "charged": int(r[5]), "refunded": int(r[6]),
            "price": int(r[7])}


def work_rows(psql, task_id):
    rows = psql(f"SELECT id, status, attempt, error_code, image_url, refunded_at IS NOT NULL "
                f"FROM works WHERE task_id = {int(task_id)} ORDER BY id")
    return [{"id": int(r[0]), "status": r[1], "attempt": int(r[2]), "error": r[3],
             "image_url": r[4], "refunded": r[5] == "t"} for r in rows]


def assert_money(psql, task_id, user_id):
    """charged − refunded = succeeded × price; one refund row per failed or canceled item;
    one consume row for the task."""
    t = task_row(psql, task_id)
    works = work_rows(psql, task_id)
    ok = sum(1 for w in works if w["status"] == "succeeded")
    failed = [w["id"] for w in works if w["status"] == "failed"]
    canceled = sum(1 for w in works if w["status"] == "canceled")
    assert t["charged"] == t["count"] * t["price"]
    if t["status"] in ("completed", "partial", "failed", "canceled"):
        assert t["charged"] - t["refunded"] == ok * t["price"], (t, works)
    consumes = psql(f"SELECT delta FROM credit_ledger WHERE user_id = {user_id} "
                    f"AND idempotency_key = 'task:{int(task_id)}'")
    assert [int(r[0]) for r in consumes] == [-t["charged"]]
    for wid in failed:
        rows = psql(f"SELECT delta FROM credit_ledger WHERE idempotency_key = 'refund:work:{wid}'")
        assert [int(r[0]) for r in rows] == [t["price"]], f"work {wid}: {rows}"
    refunds = psql(f"SELECT COALESCE(sum(delta), 0) FROM credit_ledger WHERE user_id = {user_id} "
                   f"AND kind = 'refund'")
    assert int(refunds[0][0]) == (len(failed) + canceled) * t["price"]
    assert t["refunded"] == (len(failed) + canceled) * t["price"]
    return t, works


def dispatch_until_done(psql, task_id, extra=None, rounds=30):
    for _ in range(rounds):
        run_dispatch(extra)
        t = task_row(psql, task_id)
        if t["status"] in ("completed", "partial", "failed", "canceled"):
            return t
        # retries wait out their back-off between runs
        time.sleep(0.3)
    pytest.fail(f"task {task_id} did not end: {task_row(psql, task_id)}")


# --------------------------------------------------------------------------- success paths


def test_photography_batch_of_50_completes_with_concurrency(client, expect_ok, customer, psql,
                                                            ai):
    c = customer()
    ai.config(latency_ms=400)
    task = submit(client, expect_ok, c, 50)
    started = time.monotonic()
    t = dispatch_until_done(psql, task["id"], {"DISPATCH_CONCURRENCY": "8"})
    wall = time.monotonic() - started
    assert t["status"] == "completed" and t["done"] == 50, t
    st = ai.stats()
    # eight calls in flight at once, not one after the other (50 × 0.4 s = 20 s)
    assert st["max_concurrent"] >= 4, st
    assert wall < 20, wall
    t, works = assert_money(psql, task["id"], c["id"])
    assert all(w["attempt"] == 1 and w["image_url"] for w in works)
    assert all(ai.submissions(w["id"]) == 1 for w in works)
    # the API shows the task ended and the works list holds all 50
    got = expect_ok(client.get(f"/tasks/{task['id']}", token=c["token"]))
    assert got["status"] == "completed" and got["done"] == 50
    seen, cursor = [], None
    while True:
        path = "/works?tab=photography&limit=50" + (f"&cursor={cursor}" if cursor else "")
        page = expect_ok(client.get(path, token=c["token"]))
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(w["id"] for w in seen) == sorted(w["id"] for w in works)
    # the image was copied into our media store, normalised (the simulator's PNG has no
    # alpha: a JPEG without metadata) with its thumbnail, and lighttpd serves both
    img = requests.get(seen[0]["image_url"], timeout=10)
    assert img.status_code == 200 and img.content.startswith(b"\xff\xd8\xff")
    assert seen[0]["thumb_url"].endswith(".t360.jpg")
    assert requests.get(seen[0]["thumb_url"], timeout=10).status_code == 200


def test_fitting_batch_of_5_through_the_async_provider(client, expect_ok, customer, psql, ai):
    c = customer()
    psql("UPDATE ai_models SET active = (provider = 'dashscope') WHERE name LIKE 'sim-%'")
    task = submit(client, expect_ok, c, 5, "fitting")
    t = dispatch_until_done(psql, task["id"])
    assert t["status"] == "completed" and t["done"] == 5
    _, works = assert_money(psql, task["id"], c["id"])
    jobs = psql(f"SELECT count(*) FROM works WHERE task_id = {task['id']} "
                f"AND provider_job_id IS NOT NULL AND ai_model_id = 3")
    assert jobs[0][0] == "5"
    st = ai.stats()
    for w in works:
        assert st["submissions"][str(w["id"])] == 1
        assert st["polls"].get(str(w["id"]), 0) >= 1
    got = expect_ok(client.get("/works?tab=fitting", token=c["token"]))
    assert {w["id"] for w in got["items"]} == {w["id"] for w in works}


def test_jpeg_results_and_url_answers_are_stored(client, expect_ok, customer, psql, ai):
    c = customer()
    ai.config(format="jpeg")
    psql("UPDATE ai_models SET options = options || '{\"response_format\":\"url\"}' WHERE id = 1")
    try:
        task = submit(client, expect_ok, c, 2)
        t = dispatch_until_done(psql, task["id"])
    finally:
        psql("UPDATE ai_models SET options = options - 'response_format' WHERE id = 1")
    assert t["status"] == "completed"
    for w in work_rows(psql, task["id"]):
        assert w["image_url"].endswith(".jpg")
        body = requests.get(w["image_url"], timeout=10).content
        assert body[:3] == b"\xff\xd8\xff"


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize("mode,attempts", [
    ("500", 3), ("badjson", 3), ("400", 1), ("oversize", 1), ("redirect", 1),
])
def test_failure_modes_refund_each_failed_item_once(client, expect_ok, customer, psql, ai,
                                                    mode, attempts):
    c = customer()
    ai.fault(mode=mode, model="*")
    task = submit(client, expect_ok, c, 2)
    # a sync answer carries the image itself, so its limit follows the largest image allowed:
    # with 4 MiB images the simulator's 12 MiB answer is too large for both provider styles
    extra = {"DISPATCH_MAX_RESULT_BYTES": str(4 << 20)} if mode == "oversize" else None
    t = dispatch_until_done(psql, task["id"], extra)
    assert t["status"] == "failed" and t["failed"] == 2, t
    _, works = assert_money(psql, task["id"], c["id"])
    for w in works:
        assert w["status"] == "failed" and w["refunded"]
        assert w["attempt"] == attempts, w
        assert ai.submissions(w["id"]) == attempts, (w, ai.stats())
    # the balance is back where it was before the task
    assert expect_ok(client.get("/user/credits", token=c["token"]))["credits"] == 10000


def test_429_honours_retry_after(client, expect_ok, customer, psql, ai):
    c = customer()
    ai.fault(mode="429", model="*", retry_after=2, times=1)
    task = submit(client, expect_ok, c, 1)
    run_dispatch()
    w = work_rows(psql, task["id"])[0]
    assert w["status"] == "queued" and w["error"] == "http_429", w
    # run_after and updated_at come from the same now(): their gap is the delay chosen,
    # Retry-After (2 s) rather than the 100 ms back-off
    delay, left = (float(v) for v in only(
        psql, f"SELECT EXTRACT(EPOCH FROM run_after - updated_at), "
              f"EXTRACT(EPOCH FROM run_after - now()) FROM works WHERE id = {w['id']}"))
    assert 2.0 <= delay <= 2.2, delay
    if left > 0.5:
        run_dispatch()  # not due yet: nothing happens
        assert work_rows(psql, task["id"])[0]["status"] == "queued"
    time.sleep(max(left, 0) + 0.2)
    t = dispatch_until_done(psql, task["id"])
    assert t["status"] == "completed"
    assert_money(psql, task["id"], c["id"])


def test_hang_past_the_timeout_is_retried_then_refunded(client, expect_ok, customer, psql, ai):
    c = customer()
    psql("UPDATE ai_models SET timeout_ms = 1000 WHERE name LIKE 'sim-%'")
    ai.fault(mode="hang", model="*")
    task = submit(client, expect_ok, c, 1)
    started = time.monotonic()
    t = dispatch_until_done(psql, task["id"])
    assert t["status"] == "failed"
    assert time.monotonic() - started < 30
    _, works = assert_money(psql, task["id"], c["id"])
    assert works[0]["error"] == "timeout" and works[0]["attempt"] == 3


@pytest.mark.skipif(not is_s3(), reason="stops the stack's s3rver (MEDIA_BACKEND=s3)")
def test_media_store_down_is_retried_not_failed(client, expect_ok, customer, psql):
    """The object store cannot be reached while the inputs are looked up: the item goes back
    to the queue (error "storage"), not failed as a missing input, and completes once the
    store is back."""
    c = customer()
    task = submit(client, expect_ok, c, 1)
    with store_down():
        # a long back-off, so the run does not use up the attempts while the store is down
        run_dispatch({"DISPATCH_RETRY_BASE_MS": "600000"})
        w = work_rows(psql, task["id"])[0]
        assert w["status"] == "queued" and w["error"] == "storage", w
        assert w["attempt"] == 1 and not w["refunded"], w
    psql(f"UPDATE works SET run_after = now() WHERE task_id = {int(task['id'])}")
    t = dispatch_until_done(psql, task["id"])
    assert t["status"] == "completed", t
    assert_money(psql, task["id"], c["id"])


def test_one_failing_item_makes_a_partial_task(client, expect_ok, customer, psql, ai):
    c = customer()
    task = submit(client, expect_ok, c, 3)
    bad = work_rows(psql, task["id"])[1]["id"]
    ai.fault(mode="400", model="*", work_id=bad)
    t = dispatch_until_done(psql, task["id"])
    assert t["status"] == "partial" and t["done"] == 2 and t["failed"] == 1
    _, works = assert_money(psql, task["id"], c["id"])
    assert [w["status"] for w in works] == ["succeeded", "failed", "succeeded"]


def test_failover_to_the_next_model(client, expect_ok, customer, psql, ai):
    c = customer()
    ai.fault(mode="500", model="sim-image-1")  # the OpenAI-style model of priority 10
    task = submit(client, expect_ok, c, 2)
    t = dispatch_until_done(psql, task["id"])
    assert t["status"] == "completed"
    rows = psql(f"SELECT attempt, ai_model_id FROM works WHERE task_id = {task['id']}")
    assert all(r == ["2", "2"] for r in rows), rows  # second attempt on the DashScope model
    assert_money(psql, task["id"], c["id"])


def test_async_job_lost_by_the_provider_is_submitted_again(client, expect_ok, customer, psql,
                                                            ai):
    c = customer()
    psql("UPDATE ai_models SET active = (provider = 'dashscope') WHERE name LIKE 'sim-%'")
    ai.fault(mode="failed", model="*", stage="poll", times=1, code="InternalError")
    task = submit(client, expect_ok, c, 1)
    t = dispatch_until_done(psql, task["id"])
    assert t["status"] == "completed"
    w = work_rows(psql, task["id"])[0]
    assert w["attempt"] == 2 and ai.submissions(w["id"]) == 2
    assert_money(psql, task["id"], c["id"])


def test_content_policy_refusal_of_an_async_job_is_final(client, expect_ok, customer, psql, ai):
    c = customer()
    psql("UPDATE ai_models SET active = (provider = 'dashscope') WHERE name LIKE 'sim-%'")
    ai.fault(mode="failed", model="*", stage="poll", code="DataInspectionFailed")
    task = submit(client, expect_ok, c, 1)
    t = dispatch_until_done(psql, task["id"])
    assert t["status"] == "failed"
    _, works = assert_money(psql, task["id"], c["id"])
    assert works[0]["attempt"] == 1 and works[0]["error"] == "DataInspectionFailed"


# --------------------------------------------------------------------------- LISTEN/NOTIFY


def first_request_at(ai, wid):
    items = ai.call("GET", "/__sim/ai/requests")["requests"]
    times = [r["at"] for r in items if r.get("work_id") == wid and r.get("stage") == "submit"]
    return min(times) if times else None


def test_listening_run_starts_new_tasks_within_a_second_and_ends_with_its_budget(
        client, expect_ok, customer, psql, ai):
    """A run started as cron starts it (no option) waits on LISTEN between claims: tasks
    created while it waits reach the provider within about a second, not at the next tick;
    the run still exits when its budget is spent."""
    c = customer()
    ai.config(latency_ms=100)
    budget = 8
    started = time.monotonic()
    proc = subprocess.Popen([str(DISPATCH)],
                            env=dict(os.environ, **dict(FAST, DISPATCH_BUDGET_SECONDS=str(budget))),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # the run has drained the queue and waits
        delays = []
        for _ in range(3):
            created = time.time()
            task = submit(client, expect_ok, c, 1)
            wid = work_rows(psql, task["id"])[0]["id"]
            at = wait_for(lambda: first_request_at(ai, wid), timeout=budget)
            delays.append(at - created)
            time.sleep(0.7)  # a moment the run is idle again
        assert max(delays) < 1.5, delays
        _, err = proc.communicate(timeout=budget + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wall = time.monotonic() - started
    assert proc.returncode == 0, err[-2000:]
    assert budget - 0.5 <= wall < budget + 10, wall  # it waited out its budget, then ended
    assert "3 claimed" in err and "3 succeeded" in err, err[-2000:]
    assert "3 tasks notified" in err, err[-2000:]


def test_retry_notifies_and_is_claimed_when_due(client, expect_ok, customer, psql, ai):
    """A retried item is claimed by the listening run when its back-off ends, not at the
    next run: the run knows the earliest run_after."""
    c = customer()
    task = submit(client, expect_ok, c, 1)
    wid = work_rows(psql, task["id"])[0]["id"]
    ai.fault(mode="500", model="*", work_id=wid, times=1)
    proc = subprocess.Popen([str(DISPATCH)],
                            env=dict(os.environ, **dict(FAST, DISPATCH_BUDGET_SECONDS="6",
                                                        DISPATCH_RETRY_BASE_MS="1500")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    t, works = assert_money(psql, task["id"], c["id"])
    assert t["status"] == "completed" and works[0]["attempt"] == 2, (t, works)
    assert ai.submissions(wid) == 2


# --------------------------------------------------------------------------- races and crashes


@pytest.mark.parametrize("round_no", range(4))
def test_cancel_racing_the_dispatcher(client, expect_ok, customer, psql, ai, round_no):
    c = customer()
    ai.config(latency_ms=200)
    task = submit(client, expect_ok, c, 10)
    proc = subprocess.Popen([str(DISPATCH), "--until-idle"], env=dict(os.environ, **FAST,
                                                      DISPATCH_CONCURRENCY="3"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.05 * round_no)
    got = expect_ok(client.post(f"/tasks/{task['id']}/cancel", token=c["token"]))
    assert got["id"] == task["id"]
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    t = dispatch_until_done(psql, task["id"])
    t, works = assert_money(psql, task["id"], c["id"])
    states = {w["status"] for w in works}
    assert states <= {"succeeded", "canceled"}, works
    for w in works:
        # a canceled item was never sent to the provider; a sent one was never canceled
        if w["status"] == "canceled":
            assert ai.submissions(w["id"]) == 0 and w["attempt"] == 0
        else:
            assert ai.submissions(w["id"]) == 1
    assert t["canceled"] == sum(1 for w in works if w["status"] == "canceled")


def wait_for(pred, timeout=20, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    pytest.fail("condition not met in time")


def test_sigkill_mid_call_is_rescued_and_charged_once(client, expect_ok, customer, psql, ai):
    c = customer()
    task = submit(client, expect_ok, c, 1)
    wid = work_rows(psql, task["id"])[0]["id"]
    ai.fault(mode="hang", model="*", work_id=wid, times=1)
    lease = {"DISPATCH_LEASE_SECONDS": "3"}
    proc = subprocess.Popen([str(DISPATCH), "--until-idle"], env=dict(os.environ, **FAST, **lease),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: ai.submissions(wid) == 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    w = work_rows(psql, task["id"])[0]
    assert w["status"] == "running" and w["attempt"] == 1
    left = float(only(psql, f"SELECT EXTRACT(EPOCH FROM lease_until - now()) FROM works "
                            f"WHERE id = {wid}")[0])
    if left > 1.0:
        run_dispatch(lease)  # the lease has not expired yet: the item is left alone
        assert work_rows(psql, task["id"])[0]["status"] == "running"
    time.sleep(3.2)
    t = dispatch_until_done(psql, task["id"], lease)
    assert t["status"] == "completed"
    w = work_rows(psql, task["id"])[0]
    assert w["attempt"] == 2 and ai.submissions(wid) == 2
    assert_money(psql, task["id"], c["id"])


def test_rescued_async_item_polls_instead_of_submitting_again(client, expect_ok, customer, psql,
                                                              ai):
    c = customer()
    psql("UPDATE ai_models SET active = (provider = 'dashscope') WHERE name LIKE 'sim-%'")
    task = submit(client, expect_ok, c, 1)
    wid = work_rows(psql, task["id"])[0]["id"]
    ai.fault(mode="hang", model="*", work_id=wid, stage="poll", times=1)
    lease = {"DISPATCH_LEASE_SECONDS": "3"}
    proc = subprocess.Popen([str(DISPATCH), "--until-idle"], env=dict(os.environ, **FAST, **lease),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: ai.stats()["polls"].get(str(wid), 0) >= 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    job = only(psql, f"SELECT provider_job_id FROM works WHERE id = {wid}")[0]
    assert job
    time.sleep(3.2)
    t = dispatch_until_done(psql, task["id"], lease)
    assert t["status"] == "completed"
    assert ai.submissions(wid) == 1  # paid once at the provider
    assert only(psql, f"SELECT provider_job_id FROM works WHERE id = {wid}")[0] == job
    assert_money(psql, task["id"], c["id"])


def test_zombie_dispatcher_writes_nothing(client, expect_ok, customer, psql, ai):
    """A claims the item and calls the provider, then stalls (SIGSTOP) past its lease.
    B rescues the item and completes it.  When A wakes up, its lease extension is fenced out
    and it abandons the item: one completion, no refund, the image of B."""
    c = customer()
    task = submit(client, expect_ok, c, 1)
    wid = work_rows(psql, task["id"])[0]["id"]
    ai.fault(mode="hang", model="*", work_id=wid, times=1, seconds=8)
    lease = {"DISPATCH_LEASE_SECONDS": "2"}
    a = subprocess.Popen([str(DISPATCH), "--until-idle"], env=dict(os.environ, **FAST, **lease),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: ai.submissions(wid) == 1)
        a.send_signal(signal.SIGSTOP)
        time.sleep(2.5)  # A's lease expires while it cannot extend it
        run_dispatch(lease)  # B: rescue, claim (attempt 2), succeed
        w = work_rows(psql, task["id"])[0]
        assert w["status"] == "succeeded" and w["attempt"] == 2, w
        image = w["image_url"]
    finally:
        a.send_signal(signal.SIGCONT)
    _, err = a.communicate(timeout=60)
    assert a.returncode == 0
    assert "lease lost" in err or "no longer ours" in err, err[-2000:]
    w = work_rows(psql, task["id"])[0]
    assert w["status"] == "succeeded" and w["attempt"] == 2 and w["image_url"] == image
    assert_money(psql, task["id"], c["id"])


def test_two_dispatchers_at_once_never_process_an_item_twice(client, expect_ok, customer, psql,
                                                             ai):
    c = customer()
    ai.config(latency_ms=150)
    task = submit(client, expect_ok, c, 50)
    env = dict(os.environ, **FAST, DISPATCH_CONCURRENCY="6")
    procs = [subprocess.Popen([str(DISPATCH), "--until-idle"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    logs = [p.communicate(timeout=90)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), logs
    t = dispatch_until_done(psql, task["id"])
    assert t["status"] == "completed"
    _, works = assert_money(psql, task["id"], c["id"])
    st = ai.stats()
    assert all(st["submissions"][str(w["id"])] == 1 and w["attempt"] == 1 for w in works)
    # both took part, and the maintenance section ran in one of them only
    assert sum("maintenance lock" in log for log in logs) <= 1


def test_overlapping_claimers_claim_each_item_once(psql, make_user):
    uid = make_user()
    n_tasks, per = 40, 50
    psql(f"""
        WITH t AS (
          INSERT INTO tasks (user_id, type, count, price, scene_id)
          SELECT {uid}, 'photography', {per}, 0, 1 FROM generate_series(1, {n_tasks})
          RETURNING id)
        INSERT INTO works (task_id, user_id, type, scene_id)
        SELECT t.id, {uid}, 'photography', 1 FROM t, generate_series(1, {per})""")
    procs = [subprocess.Popen([str(DISPATCH), "--claim-only"], env=dict(os.environ),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    claimed = sum(int(o[0].strip()) for o in outs)
    assert claimed == n_tasks * per
    rows = psql(f"SELECT status, attempt, count(*) FROM works WHERE user_id = {uid} "
                f"GROUP BY 1, 2")
    assert rows == [["succeeded", "1", str(n_tasks * per)]], rows
    assert psql(f"SELECT count(*) FROM tasks WHERE user_id = {uid} AND status = 'completed' "
                f"AND done = count")[0][0] == str(n_tasks)


# --------------------------------------------------------------------------- notifications


def test_one_template_message_per_ended_task(client, expect_ok, customer, psql, ai, sim, unique):
    c = customer()
    openid = "o_dispatch_" + unique
    psql(f"INSERT INTO wechat_identities (user_id, app_kind, appid, openid, subscribed) "
         f"VALUES ({c['id']}, 'oa', '{os.environ['WECHAT_APPID']}', '{openid}', true)")
    task = submit(client, expect_ok, c, 2)
    dispatch_until_done(psql, task["id"])
    run_dispatch()
    run_dispatch()
    sent = [m for m in sim.templates() if m.get("touser") == openid]
    assert len(sent) == 1, sent
    assert sent[0]["template_id"] == "sim-task-done-template"
    assert str(task["id"]) in str(sent[0]["data"])
    assert only(psql, f"SELECT notified_at IS NOT NULL FROM tasks WHERE id = {task['id']}") == ["t"]


def test_a_backlog_of_template_messages_does_not_hold_back_new_tasks(
        client, expect_ok, customer, psql, ai, sim, unique):
    """Template messages are HTTP calls to WeChat made by the run that claims.  A run makes one
    per pass of its loop, between claims, so a task created while a backlog of ended tasks is
    being announced still reaches its provider within a second.  (A run used to send every
    pending message once one of its tasks ended, before it claimed again: 20,000 tasks completed
    by the queue benchmark kept a run from claiming for 8-10 s.)"""
    c = customer()
    openid = "o_backlog_" + unique
    psql(f"INSERT INTO wechat_identities (user_id, app_kind, appid, openid, subscribed) "
         f"VALUES ({c['id']}, 'oa', '{os.environ['WECHAT_APPID']}', '{openid}', true)")
    backlog = 30
    psql(f"""
        WITH t AS (INSERT INTO tasks (user_id, type, count, price, scene_id)
                   SELECT {c['id']}, 'photography', 1, 0, 1 FROM generate_series(1, {backlog})
                   RETURNING id)
        INSERT INTO works (task_id, user_id, type, scene_id)
        SELECT t.id, {c['id']}, 'photography', 1 FROM t""")
    done = subprocess.run([str(DISPATCH), "--claim-only"], capture_output=True, text=True,
                          timeout=60, cwd=REPO)  # they end without their messages
    assert done.returncode == 0 and done.stdout.strip() == str(backlog), done
    ai.config(latency_ms=100)
    sim.call("POST", "/__sim/templates/config", {"latency_ms": 100})  # 30 sends = 3 s
    budget = 10
    proc = subprocess.Popen([str(DISPATCH)],
                            env=dict(os.environ, **dict(FAST, DISPATCH_BUDGET_SECONDS=str(budget))),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first = submit(client, expect_ok, c, 1)  # a task of the run's own has ended
        wait_for(lambda: task_row(psql, first["id"])["status"] == "completed", timeout=budget)
        created = time.time()
        task = submit(client, expect_ok, c, 1)
        wid = work_rows(psql, task["id"])[0]["id"]
        delay = wait_for(lambda: first_request_at(ai, wid), timeout=budget) - created
        sending = len([m for m in sim.templates() if m.get("touser") == openid])
        _, err = proc.communicate(timeout=budget + 30)
    finally:
        sim.call("POST", "/__sim/templates/config", {"latency_ms": 0})
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert delay < 1.0, (delay, err[-2000:])
    assert sending < backlog, "the backlog was sent before the new task was measured"
    sent = [m for m in sim.templates() if m.get("touser") == openid]
    assert len(sent) == backlog + 2, len(sent)  # each ended task once
    assert only(psql, f"SELECT count(*) FROM tasks WHERE user_id = {c['id']} "
                      f"AND notified_at IS NULL")[0] == "0"


# --------------------------------------------------------------------------- orders, database


def test_dispatcher_reconciles_unpaid_orders(client, expect_ok, make_user, token_for, psql, sim,
                                             unique):
    uid = make_user()
    openid = "o_pay_" + unique
    psql(f"INSERT INTO wechat_identities (user_id, app_kind, appid, openid, subscribed) "
         f"VALUES ({uid}, 'oa', '{os.environ['WECHAT_APPID']}', '{openid}', true)")
    sim.know_openid(openid, "oa")
    tok = token_for(uid)
    order = expect_ok(client.post("/payment/create-order", token=tok, json={"package_id": 1}))
    no = order["out_trade_no"]
    sim.call("POST", "/__sim/pay/pay", {"out_trade_no": no, "notify": False})
    run_dispatch({"DISPATCH_RECONCILE_AFTER_SECONDS": "0"})
    assert only(psql, f"SELECT status FROM orders WHERE out_trade_no = '{no}'") == ["paid"]
    rows = psql(f"SELECT count(*) FROM credit_ledger WHERE idempotency_key = 'order:{no}'")
    assert rows == [["1"]]


def test_database_down_exits_nonzero_and_loses_nothing(client, expect_ok, customer, psql):
    c = customer()
    task = submit(client, expect_ok, c, 1)
    url = os.environ["DATABASE_URL"]
    # a port nothing listens on: the connection is refused at once
    env = dict(os.environ, DATABASE_URL=url + ("&" if "?" in url else "?") + "port=1")
    proc = subprocess.run([str(DISPATCH)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert work_rows(psql, task["id"])[0]["status"] == "queued"
    t = dispatch_until_done(psql, task["id"])
    assert t["status"] == "completed"


def test_bad_dispatch_setting_exits_1_naming_it_and_check_config_refuses_it_too():
    """DISPATCH_* are rows of lib/config's table: the dispatcher and `aiphotoctl
    check-config` refuse the same value with the same message; the dispatcher's exit codes are
    those its header promises (1 configuration, 2 usage)."""
    ctl = REPO / os.environ.get("AIPHOTO_BUILD", "build") / "aiphotoctl"
    env = dict(os.environ, DISPATCH_LEASE_SECONDS="1")
    for cmd in ([str(ctl), "check-config"], [str(DISPATCH), "--until-idle"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 1, (cmd, proc.returncode, proc.stderr)
        assert "DISPATCH_LEASE_SECONDS: must be seconds between 2 and 86400" in proc.stderr
    proc = subprocess.run([str(DISPATCH), "--bogus"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_units_and_cron_line():
    text = (REPO / "systemd" / "aiphoto-dispatch.service").read_text()
    assert "ExecStart=/usr/bin/aiphoto-dispatch" in text
    assert "EnvironmentFile=/etc/aiphoto/aiphoto.env" in text
    timer = (REPO / "systemd" / "aiphoto-dispatch.timer").read_text()
    assert "OnCalendar=*-*-* *:*:00" in timer
    cron = [l for l in (REPO / "systemd" / "aiphoto-dispatch.cron").read_text().splitlines()
            if l and not l.startswith("#") and "=" not in l.split()[0]]
    assert len(cron) == 1 and cron[0].split()[:6] == ["*", "*", "*", "*", "*", "aiphoto"]


# --------------------------------------------------------------------------- async jobs across runs


def test_async_job_released_at_budget_end_is_polled_not_resubmitted_nor_canceled(
        client, expect_ok, customer, psql, ai):
    c = customer()
    psql("UPDATE ai_models SET active = (provider = 'dashscope') WHERE name LIKE 'sim-%'")
    ai.config(poll_after_ms=4000)
    task = submit(client, expect_ok, c, 1)
    wid = work_rows(psql, task["id"])[0]["id"]
    run_dispatch({"DISPATCH_BUDGET_SECONDS": "1"})
    w = only(psql, f"SELECT status, attempt, provider_job_id IS NOT NULL, provider_job_at "
                   f"IS NOT NULL FROM works WHERE id = {wid}")
    assert w == ["queued", "0", "t", "t"], w  # released: the attempt is given back
    # a cancel now leaves it alone: its job runs (and is paid) at the provider
    got = expect_ok(client.post(f"/tasks/{task['id']}/cancel", token=c["token"]))
    assert got["canceled"] == 0 and got["credits_refunded"] == 0
    psql(f"UPDATE works SET run_after = now() WHERE id = {wid}")
    t = dispatch_until_done(psql, task["id"])
    assert t["status"] == "completed"
    assert ai.submissions(wid) == 1
    assert_money(psql, task["id"], c["id"])


def test_async_job_pending_past_max_wait_is_not_polled_forever(client, expect_ok, customer,
                                                               psql, ai):
    c = customer()
    psql("UPDATE ai_models SET active = (provider = 'dashscope') WHERE name LIKE 'sim-%'")
    ai.config(poll_after_ms=600000)  # the provider never finishes
    task = submit(client, expect_ok, c, 1)
    wid = work_rows(psql, task["id"])[0]["id"]
    env = {"DISPATCH_BUDGET_SECONDS": "1", "DISPATCH_MAX_WAIT_SECONDS": "2"}
    deadline = time.monotonic() + 60
    while task_row(psql, task["id"])["status"] not in ("failed", "completed"):
        assert time.monotonic() < deadline, work_rows(psql, task["id"])
        run_dispatch(env)
        psql(f"UPDATE works SET run_after = now() WHERE id = {wid} AND status = 'queued'")
    t, works = assert_money(psql, task["id"], c["id"])
    assert t["status"] == "failed" and works[0]["error"] == "poll_timeout", works
    assert works[0]["attempt"] == 3 and ai.submissions(wid) == 3


def test_params_postgres_cannot_store_are_a_bad_request(client, expect_error, customer):
    c = customer()
    body = {"scene_id": 1, "asset_ids": [c["asset"]], "count": 1, "params": {"x": "a\u0000b"}}
    expect_error(client.post("/tasks/photography", token=c["token"], json=body), 400,
                 "BAD_REQUEST")
