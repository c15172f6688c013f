"""The operator's own api-adapter.js (seed 000) completes a user's journey against aiphoto.

The adapter is the operator's code, not ours: it is extracted at test time from the seed
document (AIPHOTO_SEEDS, default ../shared/seeds beside the checkout) and changed only in its
base URL; the test skips, saying so, where that folder is absent.  adapter_journey.js runs it
under Node with a `wx` shim whose wx.request resolves {data, statusCode, header}; this test
answers the driver's asks (pay an order at the simulator, run the dispatcher) and checks the
money afterwards.
"""

import json
import os
import pathlib
import re
import subprocess

import pytest

from conftest import REPO
from test_cloudfile import Tcb
from test_dispatch import png, run_dispatch

SEEDS = pathlib.Path(os.environ.get("AIPHOTO_SEEDS", REPO.parent / "shared" / "seeds"))
DRIVER = pathlib.Path(__file__).with_name("adapter_journey.js")
SEED_BASE = "https://api.yourdomain.com"


@pytest.fixture(autouse=True)
def _audited(audit):
    yield


def extract_adapter():
    """The adapter class exactly as seed 000 gives it (the code block that defines
    ApiAdapter), or None when the seeds are not beside this checkout."""
    docs = sorted(SEEDS.glob("000_*.txt")) if SEEDS.is_dir() else []
    if not docs:
        return None
    text = docs[0].read_text(encoding="utf-8")
    for block in re.findall(r"```javascript\n(.*?)```", text, re.S):
        if "class ApiAdapter" in block and "module.exports" in block:
            return block
    raise AssertionError(f"{docs[0].name}: no code block defines class ApiAdapter")


@pytest.fixture
def adapter_file(tmp_path, base_url):
    code = extract_adapter()
    if code is None:
        pytest.skip(f"the operator's seeds are not at {SEEDS} (set AIPHOTO_SEEDS): "
                    f"the adapter is their code and is not copied into the project")
    assert code.count(SEED_BASE) == 1, "the seed's base URL moved"
    path = tmp_path / "api-adapter.js"
    path.write_text(code.replace(SEED_BASE, base_url), encoding="utf-8")
    return path


def test_seed_adapter_completes_the_journey(adapter_file, tmp_path, base_url, sim, pay, psql,
                                            ctl):
    openid = "ojourney" + os.urandom(8).hex()
    code = sim.mp_code(openid=openid)["code"]
    (tmp_path / "a.png").write_bytes(png(rgb=(11, 22, 33)))
    cloud_file = Tcb(os.environ["AIPHOTO_SIM_URL"]).put(side=20, rgb=(44, 55, 66))
    env = dict(os.environ, JOURNEY_PNG=str(tmp_path / "a.png"),
               JOURNEY_CLOUD_FILE=cloud_file["file_id"])
    # the server tells the adapter to use it (and where): the cloud database's backend_config
    psql("UPDATE system_config SET value = value || jsonb_build_object('backend_type', 'server', "
         "'gray_release', false, 'server_url', '" + base_url + "') WHERE key = 'backend_config'")
    proc = subprocess.Popen(["node", str(DRIVER), str(adapter_file), base_url, code],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    steps, asks = {}, []
    try:
        for line in proc.stdout:
            msg = json.loads(line)
            if "ask" in msg:
                asks.append(msg["ask"])
                if "pay" in msg["ask"]:
                    paid = pay.pay(msg["ask"]["pay"])
                    assert paid["status"] in (200, 204), paid
                elif "dispatch" in msg["ask"]:
                    run_dispatch()
                proc.stdin.write("ok\n")
                proc.stdin.flush()
            elif "step" in msg:
                steps[msg["step"]] = msg["res"]
            elif "error" in msg:
                pytest.fail(f"journey failed: {msg['error']}\nsteps: {list(steps)}")
        assert proc.wait(timeout=120) == 0, proc.stderr.read()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert steps["config"]["backendType"] == "server"
    me = steps["register"]["data"]
    uid = int(me["_id"])
    assert me["openid"] == openid and me["nickname"] == "旅程用户"
    assert steps["updateUserInfo"]["data"]["nickname"] == "改名了"
    pkg = steps["getPackages"]["data"][0]
    recharge = steps["listRechargeRecords"]["data"]
    assert [r["kind"] for r in recharge] == ["recharge"]
    assert recharge[0]["delta"] == pkg["credits"] + pkg["bonus_credits"]
    assert steps["resolveBefore"]["data"] is None
    reg = steps["registerAsset"]["data"]
    assert reg["fileID"] == cloud_file["file_id"] and reg["sha256"] == cloud_file["sha256"]
    assert steps["resolveAfter"]["data"]["_id"] == reg["_id"]
    prog = steps["getProgress"]["data"]
    assert prog["status"] == "completed" and len(prog["images"]) == 2
    assert steps["getFittingProgress"]["data"]["status"] == "completed"
    works = steps["getWorkList"]["data"]
    assert len(works) == 2 and all(w["user_openid"] == openid for w in works)
    assert len(steps["listWorks"]["data"]) == 1
    assert steps["toggleFavorite"]["data"]["is_favorite"] is True
    assert [w["_id"] for w in steps["listFavorites"]["data"]] == [works[0]["_id"]]
    canceled = steps["cancelTask"]["data"]
    assert canceled["status"] == "canceled"
    assert canceled["credits_refunded"] == canceled["credits_charged"] == 30
    # the balance is exactly what the ledger says: check-in + purchase − 2×10 − 15
    checkin = steps["dailyCheckin"]["data"]["credits_awarded"]
    expected = checkin + pkg["credits"] + pkg["bonus_credits"] - 2 * 10 - 15
    assert steps["getUserInfoAtEnd"]["data"]["credits"] == expected
    assert psql(f"SELECT credits FROM users WHERE id = {uid}")[0][0] == str(expected)
    assert any("pay" in a for a in asks) and any("dispatch" in a for a in asks)
