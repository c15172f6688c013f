"""Task notices through the app the task came from (model/notify, dispatcher/main.c): the mini
program's subscribe messages, only as many as the user accepted (POST /user/subscriptions),
the Official Account's template messages for the others, WeChat's refusals recorded and not
retried, passing failures retried from the outbox and sent once, and two dispatcher runs at
once never sending twice.

The simulator (tests/sim/ext_mp.py) records every accepted subscribe message and can be told
its next answers.  A task's channel is the one of the token that created it (a mini-program
login's token is "mp", the Official Account's "oa").
"""

import concurrent.futures
import os
import subprocess
import time

import pytest

from conftest import REPO
from test_dispatch import DISPATCH, FAST, dispatch_until_done, drain, png, run_dispatch

MP_TEMPLATE = "sim-mp-task-done"
OA_TEMPLATE = "sim-task-done-template"


@pytest.fixture(autouse=True)
def _audited(audit):
    yield


@pytest.fixture(autouse=True)
def _notify_config(psql, sim):
    """The seed's notify configuration, and no work of an earlier test left due."""
    drain(psql)
    run_dispatch(check=False)  # earlier tests' notices go out before ours are counted
    yield


class Mp:
    def __init__(self, sim):
        self.sim = sim

    def sent(self, touser):
        return [m for m in self.sim.call("GET", "/__sim/mp/records")["subscribe"]
                if m["touser"] == touser]

    def next(self, *answers):
        return self.sim.call("POST", "/__sim/mp/next", {"api": "subscribe", "answers": list(answers)})

    def config(self, **cfg):
        return self.sim.call("POST", "/__sim/mp/config", cfg)


@pytest.fixture
def mp(sim):
    return Mp(sim)


@pytest.fixture
def person(client, expect_ok, make_user, token_for, psql, unique):
    """person(mp=True, oa=False) -> a user with an uploaded image and the bindings asked for."""
    n = [0]

    def make(mp=True, oa=False, credits=1000):
        n[0] += 1
        uid = make_user(credits=credits)
        tokens = {ch: token_for(uid, channel=ch) for ch in ("oa", "mp", "web")}
        tok = tokens["mp" if mp else "oa"]
        asset = expect_ok(client.request("POST", "/uploads", token=tok,
                                         headers={"Content-Type": "image/png"},
                                         data=png(rgb=(uid % 256, n[0], 99))), 201)
        who = {"id": uid, "token": tok, "tokens": tokens, "asset": asset["asset_id"]}
        if mp:
            who["mp_openid"] = f"o_mp_{unique}_{n[0]}"
            psql(f"INSERT INTO wechat_identities (user_id, app_kind, appid, openid) VALUES "
                 f"({uid}, 'mp', '{os.environ['WECHAT_MP_APPID']}', '{who['mp_openid']}')")
        if oa:
            who["oa_openid"] = f"o_oa_{unique}_{n[0]}"
            psql(f"INSERT INTO wechat_identities (user_id, app_kind, appid, openid, subscribed) "
                 f"VALUES ({uid}, 'oa', '{os.environ['WECHAT_APPID']}', '{who['oa_openid']}', "
                 f"true)")
        return who

    return make


def accept(client, expect_ok, who, *templates, rejected=()):
    data = expect_ok(client.post("/user/subscriptions", token=who["token"],
                                 json={"accepted": list(templates), "rejected": list(rejected)}))
    return {t["template_id"]: t["remaining"] for t in data["templates"]}


def mp_task(client, expect_ok, psql, who, channel="mp", count=1):
    """A task created with a token of that channel: the task remembers it."""
    task = expect_ok(client.post("/tasks/photography", token=who["tokens"][channel],
                                 json={"scene_id": 1, "asset_ids": [who["asset"]],
                                       "count": count}), 202)
    assert psql(f"SELECT channel FROM tasks WHERE id = {task['id']}") == [[channel]]
    return task


def outbox(psql, task_id):
    return [dict(zip(("channel", "status", "attempt", "errcode", "touser", "template_id",
                      "error"), r))
            for r in psql(f"SELECT channel, status, attempt, errcode, touser, template_id, error "
                          f"FROM notify_outbox WHERE task_id = {int(task_id)} ORDER BY id")]


def remaining(psql, uid, template=MP_TEMPLATE):
    rows = psql(f"SELECT remaining FROM user_subscriptions WHERE user_id = {uid} "
                f"AND template_id = '{template}'")
    return int(rows[0][0]) if rows else None


def templates_to(sim, openid):
    return [m for m in sim.templates() if m.get("touser") == openid]


# --------------------------------------------------------------------------- the API


def test_subscriptions_count_each_accept_and_keep_them_on_reject(client, expect_ok, person):
    who = person()
    assert accept(client, expect_ok, who, MP_TEMPLATE) == {MP_TEMPLATE: 1}
    # a template given twice in one answer is one accept
    assert accept(client, expect_ok, who, MP_TEMPLATE, MP_TEMPLATE, "other-tpl") == \
        {MP_TEMPLATE: 2, "other-tpl": 1}
    # a reject keeps what was accepted before
    assert accept(client, expect_ok, who, rejected=[MP_TEMPLATE]) == {MP_TEMPLATE: 2}
    assert accept(client, expect_ok, who, rejected=["never-accepted"]) == {"never-accepted": 0}


@pytest.mark.parametrize("body, field", [
    ({}, "accepted"),
    ({"accepted": [], "rejected": []}, "accepted"),
    ({"accepted": "tpl"}, "accepted"),
    ({"accepted": [1]}, "accepted"),
    ({"accepted": ["bad id!"]}, "accepted"),
    ({"accepted": ["x" * 129]}, "accepted"),
    ({"accepted": [f"t{i}" for i in range(21)]}, "accepted"),
    ({"rejected": [None]}, "rejected"),
    ({"accepted": ["a"], "rejected": ["a"]}, "rejected"),
])
def test_subscriptions_bad_input_is_400_naming_the_field(client, expect_error, person, body,
                                                         field):
    who = person(mp=False)
    msg = expect_error(client.post("/user/subscriptions", token=who["token"], json=body), 400,
                       "BAD_REQUEST")
    assert msg.startswith(field + ":"), msg


def test_subscriptions_need_a_user(client, expect_error):
    expect_error(client.post("/user/subscriptions", json={"accepted": ["a"]}), 401,
                 "UNAUTHORIZED")


# --------------------------------------------------------------------------- channels


def test_mini_program_task_ends_with_exactly_one_subscribe_message(client, expect_ok, person,
                                                                   psql, sim, mp):
    who = person(mp=True, oa=True)
    accept(client, expect_ok, who, MP_TEMPLATE)
    task = mp_task(client, expect_ok, psql, who, count=2)
    dispatch_until_done(psql, task["id"])
    run_dispatch()
    run_dispatch()
    sent = mp.sent(who["mp_openid"])
    assert len(sent) == 1, sent
    msg = sent[0]
    assert msg["template_id"] == MP_TEMPLATE
    assert msg["page"] == f"pages/works/works?task_id={task['id']}"
    assert msg["miniprogram_state"] == "formal" and msg["lang"] == "zh_CN"
    assert msg["data"]["character_string3"]["value"] == str(task["id"])
    assert msg["data"]["phrase2"]["value"] == "已完成"
    assert msg["data"]["thing1"]["value"] == "AI写真"
    assert msg["data"]["thing5"]["value"] == "已生成2张，共2张"
    # no Official Account message for a mini-program task
    assert templates_to(sim, who["oa_openid"]) == []
    assert [(r["channel"], r["status"], r["attempt"]) for r in outbox(psql, task["id"])] == \
        [("mp", "sent", "1")]
    assert remaining(psql, who["id"]) == 0  # the one accept is spent


def test_no_subscribe_message_without_an_accepted_template(client, expect_ok, person, psql, mp):
    who = person(mp=True)
    accept(client, expect_ok, who, "some-other-template")
    task = mp_task(client, expect_ok, psql, who)
    dispatch_until_done(psql, task["id"])
    run_dispatch()
    assert mp.sent(who["mp_openid"]) == []
    rows = outbox(psql, task["id"])
    assert [(r["channel"], r["status"]) for r in rows] == [("mp", "skipped")], rows
    assert "no accepted subscription" in rows[0]["error"], rows


def test_each_accept_allows_one_message(client, expect_ok, person, psql, mp):
    who = person(mp=True)
    accept(client, expect_ok, who, MP_TEMPLATE)
    first = mp_task(client, expect_ok, psql, who)
    second = mp_task(client, expect_ok, psql, who)
    dispatch_until_done(psql, first["id"])
    dispatch_until_done(psql, second["id"])
    run_dispatch()
    assert len(mp.sent(who["mp_openid"])) == 1
    statuses = sorted(outbox(psql, t["id"])[0]["status"] for t in (first, second))
    assert statuses == ["sent", "skipped"], statuses


@pytest.mark.parametrize("channel", ["oa", "web"])
def test_official_account_task_gets_one_template_message(client, expect_ok, person, psql, sim,
                                                         mp, channel):
    """A task from the H5 pages or a QR-code login is announced by the Official Account."""
    who = person(mp=True, oa=True)
    accept(client, expect_ok, who, MP_TEMPLATE)
    task = mp_task(client, expect_ok, psql, who, channel=channel)
    dispatch_until_done(psql, task["id"])
    run_dispatch()
    run_dispatch()
    sent = templates_to(sim, who["oa_openid"])
    assert len(sent) == 1, sent
    assert sent[0]["template_id"] == OA_TEMPLATE
    assert sent[0]["data"]["character_string5"]["value"] == str(task["id"])
    assert mp.sent(who["mp_openid"]) == []
    assert remaining(psql, who["id"]) == 1  # nothing reserved for an OA notice
    assert [(r["channel"], r["status"]) for r in outbox(psql, task["id"])] == [("oa", "sent")]


def test_user_of_the_mini_program_only_is_told_there(client, expect_ok, person, psql, sim, mp):
    """A task the OA cannot announce (no OA binding) goes to the mini program when the user
    accepted its template: a mini-program user is told with no Official Account involved."""
    who = person(mp=True, oa=False)
    accept(client, expect_ok, who, MP_TEMPLATE)
    task = mp_task(client, expect_ok, psql, who, channel="oa")
    dispatch_until_done(psql, task["id"])
    run_dispatch()
    assert len(mp.sent(who["mp_openid"])) == 1
    assert [(r["channel"], r["status"]) for r in outbox(psql, task["id"])] == [("mp", "sent")]


# --------------------------------------------------------------------------- WeChat's answers


@pytest.mark.parametrize("errcode", [43101, 40037, 47003])
def test_refusal_is_recorded_and_not_retried(client, expect_ok, person, psql, sim, mp, errcode):
    who = person(mp=True)
    accept(client, expect_ok, who, MP_TEMPLATE)
    task = mp_task(client, expect_ok, psql, who)
    calls = sim.stats()["subscribe_calls"]
    mp.next({"errcode": errcode})
    dispatch_until_done(psql, task["id"])
    run_dispatch()
    time.sleep(0.3)
    run_dispatch()
    assert sim.stats()["subscribe_calls"] == calls + 1
    assert mp.sent(who["mp_openid"]) == []
    rows = outbox(psql, task["id"])
    assert [(r["status"], r["attempt"], r["errcode"]) for r in rows] == \
        [("failed", "1", str(errcode))], rows
    # 43101: the user has none left; a refusal that spent nothing gives the accept back
    assert remaining(psql, who["id"]) == (0 if errcode == 43101 else 1)


@pytest.mark.parametrize("answer", [{"http": 500}, {"hang": 6}, {"errcode": -1},
                                    {"errcode": 45009}])
def test_passing_failure_is_retried_and_sent_once(client, expect_ok, person, psql, sim, mp,
                                                  answer):
    who = person(mp=True)
    accept(client, expect_ok, who, MP_TEMPLATE)
    task = mp_task(client, expect_ok, psql, who)
    mp.next(answer)
    # the run in which the task ends makes the first attempt; its retry waits 30 s ± 10 %
    dispatch_until_done(psql, task["id"], {"DISPATCH_RETRY_BASE_MS": "30000"})
    rows = outbox(psql, task["id"])
    assert [(r["status"], r["attempt"]) for r in rows] == [("pending", "1")], rows
    assert mp.sent(who["mp_openid"]) == []
    wait = float(psql(f"SELECT extract(epoch FROM run_after - now()) FROM notify_outbox "
                      f"WHERE task_id = {int(task['id'])}")[0][0])
    assert 20 < wait <= 33, wait  # the back-off was applied (less whatever time has passed)
    run_dispatch()  # not due yet: nothing happens
    assert outbox(psql, task["id"])[0]["attempt"] == "1"
    # the back-off passes (moved rather than slept, so a slow machine cannot make it due early)
    psql(f"UPDATE notify_outbox SET run_after = now() - interval '1 second' "
         f"WHERE task_id = {int(task['id'])}")
    run_dispatch()
    rows = outbox(psql, task["id"])
    assert [(r["status"], r["attempt"]) for r in rows] == [("sent", "2")], rows
    run_dispatch()
    assert len(mp.sent(who["mp_openid"])) == 1
    assert remaining(psql, who["id"]) == 0


def test_two_dispatcher_runs_at_once_never_send_twice(client, expect_ok, person, psql, sim, mp):
    people = [person(mp=True) for _ in range(6)]
    tasks = []
    for who in people:
        accept(client, expect_ok, who, MP_TEMPLATE)
        tasks.append(mp_task(client, expect_ok, psql, who))
    ids = ",".join(str(t["id"]) for t in tasks)
    uids = ",".join(str(w["id"]) for w in people)
    # the tasks end and are notified; their notices are then made new again (outbox rows
    # gone, tasks unnotified, one accept each), so that both runs meet all of them at once
    for t in tasks:
        dispatch_until_done(psql, t["id"])
    run_dispatch()
    psql(f"DELETE FROM notify_outbox WHERE task_id IN ({ids})")
    psql(f"UPDATE user_subscriptions SET remaining = 1 WHERE user_id IN ({uids})")
    psql(f"UPDATE tasks SET notified_at = NULL WHERE id IN ({ids})")
    before = {w["mp_openid"]: len(mp.sent(w["mp_openid"])) for w in people}
    mp.config(latency_ms=150)  # every send takes a while: the runs overlap
    try:
        env = dict(os.environ, **FAST)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            procs = list(pool.map(
                lambda _: subprocess.run([str(DISPATCH), "--until-idle"], env=env, cwd=REPO,
                                         capture_output=True, text=True, timeout=90),
                range(2)))
    finally:
        mp.config(latency_ms=0)
    for p in procs:
        assert p.returncode == 0, p.stderr[-2000:]
    for w in people:
        assert len(mp.sent(w["mp_openid"])) - before[w["mp_openid"]] == 1, w
    rows = psql(f"SELECT status, attempt, count(*) FROM notify_outbox WHERE task_id IN ({ids}) "
                f"GROUP BY 1, 2")
    assert rows == [["sent", "1", "6"]], rows


def test_a_send_cut_short_by_a_crash_is_not_sent_again(client, expect_ok, person, psql, mp):
    """At most once: a row left 'sending' by a run that died is marked unknown, never resent."""
    who = person(mp=True)
    accept(client, expect_ok, who, MP_TEMPLATE)
    task = mp_task(client, expect_ok, psql, who)
    dispatch_until_done(psql, task["id"])
    run_dispatch()
    psql(f"UPDATE notify_outbox SET status = 'sending', attempt = attempt + 1, "
         f"lease_until = now() - interval '1 second' WHERE task_id = {task['id']}")
    run_dispatch()
    rows = outbox(psql, task["id"])
    assert [(r["status"], r["attempt"]) for r in rows] == [("unknown", "2")], rows
    run_dispatch()
    assert len(mp.sent(who["mp_openid"])) == 1


def test_database_down_is_503(client, expect_ok, expect_error, person):
    who = person(mp=False)
    stack = REPO / "scripts" / "stack"
    try:
        subprocess.run([str(stack), "pg-stop"], cwd=REPO, check=True, capture_output=True,
                       timeout=60)
        expect_error(client.post("/user/subscriptions", token=who["token"],
                                 json={"accepted": [MP_TEMPLATE]}), 503, "UNAVAILABLE")
    finally:
        subprocess.run([str(stack), "pg-start"], cwd=REPO, check=True, capture_output=True,
                       timeout=60)
    for _ in range(50):
        resp = client.post("/user/subscriptions", token=who["token"],
                           json={"accepted": [MP_TEMPLATE]})
        if resp.status_code == 200:
            break
        time.sleep(0.2)
    assert expect_ok(resp)["templates"] == [{"template_id": MP_TEMPLATE, "remaining": 1}]
