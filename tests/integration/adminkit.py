"""What the admin API tests (tests/integration/test_admin_*.py) share: admins of each role
made through `aiphotoctl admin add`, their tokens, and reads of the audit log.

Each test module imports the fixtures it uses (`from adminkit import admins  # noqa: F401`).
Admins get names of their own, so tests never depend on the stack's demo admins.
"""

import json
import subprocess
import time
import uuid

import pytest

from conftest import CTL, REPO, RUN_SECRETS

ROLES = ("viewer", "support", "operator", "owner")
RANK = {r: i for i, r in enumerate(ROLES)}


def ctl_run(*args, stdin=None):
    """Runs aiphotoctl; returns the CompletedProcess (never raises on a failure)."""
    return subprocess.run([str(CTL), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def new_admin(role, prefix="it"):
    """Creates an admin of role; returns {"id","username","password","role"}."""
    username = f"{prefix}_{role}_{uuid.uuid4().hex[:10]}"
    password = "pw-" + uuid.uuid4().hex
    RUN_SECRETS.add(password)
    proc = ctl_run("admin", "add", username, "--role", role, stdin=password + "\n")
    assert proc.returncode == 0, f"admin add: {proc.returncode} {proc.stderr}"
    return {"id": int(proc.stdout.strip()), "username": username, "password": password,
            "role": role}


def admin_token(admin_id):
    """An admin token of the admin's current role and session (aiphotoctl token --admin)."""
    proc = ctl_run("token", "--user", str(admin_id), "--admin")
    assert proc.returncode == 0, f"token --admin: {proc.returncode} {proc.stderr}"
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def admins():
    """One admin of each role for the whole session (never changed by a test):
    admins[role] = {"id","username","password","role","token"}."""
    made = {}
    for role in ROLES:
        a = new_admin(role, prefix="it_fixed")
        a["token"] = admin_token(a["id"])
        made[role] = a
    return made


@pytest.fixture
def fresh_admin():
    """fresh_admin(role) -> a new admin with a token, for tests that change or disable it."""

    def make(role):
        a = new_admin(role)
        a["token"] = admin_token(a["id"])
        return a

    return make


def audit_rows(psql, where):
    """The audit rows matching an SQL condition (trusted text), oldest first, as dicts."""
    rows = psql("SELECT id, admin_id, actor, action, target_type, target_id, before::text, "
                "after::text, request_id, address FROM admin_audit WHERE " + where +
                " ORDER BY id")
    out = []
    for r in rows:
        out.append({"id": int(r[0]), "admin_id": None if r[1] is None else int(r[1]),
                    "actor": r[2], "action": r[3], "target_type": r[4], "target_id": r[5],
                    "before": None if r[6] is None else json.loads(r[6]),
                    "after": None if r[7] is None else json.loads(r[7]),
                    "request_id": r[8], "address": r[9]})
    return out


def audit_count(psql):
    return int(psql("SELECT count(*) FROM admin_audit")[0][0])


def settles(request, status, seconds=2.0, times=8):
    """A read served from a worker's memory follows a change once the change's notification
    has reached that worker (milliseconds after the commit): request() answers status within
    seconds, then times in a row (each worker's next request sees it)."""
    deadline = time.monotonic() + seconds
    while request().status_code != status:
        assert time.monotonic() < deadline, f"still not {status} after {seconds} s"
        time.sleep(0.02)
    codes = [request().status_code for _ in range(times)]
    assert codes == [status] * times, codes
