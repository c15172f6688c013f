"""Operations: the lighttpd and systemd files, the app socket, and the stack script.

Runs inside the suite (scripts/test-integration), which exports the running stack's
AIPHOTO_VAR, PORT and AIPHOTO_BASE_URL. One test brings up a second, independent stack in a
temporary directory on another port and checks that `down` leaves no process behind.
"""

import os
import pathlib
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import urllib.error
import urllib.request

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
STACK = REPO / "scripts" / "stack"
LIGHTTPD = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
UNIT = REPO / "systemd" / "aiphoto-fcgi.service"
ENV_EXAMPLE = REPO / "systemd" / "aiphoto.env.example"

# The configuration variables of the design (section 8) and of the contract.
CONFIG_VARS = [
    "DATABASE_URL", "REDIS_URL", "JWT_SECRET", "PUBLIC_BASE_URL", "MEDIA_DIR",
    "WECHAT_APPID", "WECHAT_SECRET", "WECHAT_TOKEN", "WECHAT_AES_KEY", "WECHAT_MSG_MODE",
    "WECHAT_MP_APPID", "WECHAT_MP_SECRET",
    "WXPAY_MCHID", "WXPAY_SERIAL", "WXPAY_PRIVATE_KEY_FILE", "WXPAY_APIV3_KEY",
    "WXPAY_PUBLIC_KEY_FILE", "WXPAY_PUBLIC_KEY_ID",
    "WECHAT_API_BASE", "WECHAT_OPEN_BASE", "WXPAY_API_BASE",
    "AIPHOTO_ENV", "LOG_LEVEL", "DB_STATEMENT_TIMEOUT_MS", "JWT_ISSUER", "JWT_TTL",
    "UPLOAD_QUOTA_BYTES", "UPLOAD_QUOTA_FILES",
    "MEDIA_BACKEND", "S3_ENDPOINT", "S3_BUCKET", "S3_REGION", "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY", "S3_PATH_STYLE", "MEDIA_CDN_BASE",
]
# Variables that describe one particular stack; a second stack must not inherit them.
STACK_VARS = ["DATABASE_URL", "REDIS_URL", "JWT_SECRET", "PUBLIC_BASE_URL", "MEDIA_DIR",
              "AIPHOTO_ENV", "AIPHOTO_VAR", "PORT", "AIPHOTO_BASE_URL",
              # the WeChat simulator's port and the development credentials it hands out
              "SIM_PORT", "AIPHOTO_SIM_URL", "WECHAT_APPID", "WECHAT_SECRET", "WECHAT_TOKEN",
              "WECHAT_AES_KEY", "WECHAT_MSG_MODE", "WECHAT_MP_APPID", "WECHAT_MP_SECRET", "WECHAT_API_BASE",
              "WECHAT_OPEN_BASE"]


def var_dir():
    value = os.environ.get("AIPHOTO_VAR")
    if not value:
        pytest.fail("AIPHOTO_VAR is not set: run the suite through scripts/test-integration",
                    pytrace=False)
    return pathlib.Path(value)


def run(args, timeout=60, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def lighttpd_check(conf):
    proc = run([LIGHTTPD, "-tt", "-f", conf], cwd="/")
    assert proc.returncode == 0, f"lighttpd -tt -f {conf}: {proc.stdout}{proc.stderr}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


# --------------------------------------------------------------------------- lighttpd


def test_lighttpd_standalone_example_passes_tt():
    # lighttpd.conf includes aiphoto.conf, so this checks the production snippet too.
    lighttpd_check(REPO / "lighttpd" / "lighttpd.conf")


def test_lighttpd_snippet_fits_debian_layout(tmp_path):
    """The snippet enabled in a copy of Debian's own lighttpd.conf."""
    stock = pathlib.Path("/etc/lighttpd/lighttpd.conf")
    include = 'include "/etc/lighttpd/conf-enabled/*.conf"'
    if not stock.exists() or include not in stock.read_text():
        pytest.skip("no Debian lighttpd.conf with a conf-enabled include on this host")
    enabled = tmp_path / "conf-enabled"
    enabled.mkdir()
    shutil.copy(REPO / "lighttpd" / "aiphoto.conf", enabled / "50-aiphoto.conf")
    main = tmp_path / "lighttpd.conf"
    main.write_text(stock.read_text().replace(include, f'include "{enabled}/*.conf"'))
    lighttpd_check(main)


def test_lighttpd_snippet_routes():
    text = (REPO / "lighttpd" / "aiphoto.conf").read_text()
    assert '"socket"          => "/run/aiphoto/fcgi.sock"' in text
    assert '"check-local"     => "disable"' in text
    assert "bin-path" not in re.sub(r"#.*", "", text)
    assert "server.max-request-size = 10304" in text
    assert '"/wechat/" => "/usr/share/aiphoto/wechat-pages/"' in text
    assert '"/admin/"  => "/usr/share/aiphoto/admin-console/"' in text
    assert '"/media/"  => "/var/lib/aiphoto/media/"' in text
    # compression (Debian's lighttpd-mod-deflate): loaded, for the pages and the JSON
    assert '"mod_deflate"' in text and '"application/json"' in text


def test_lighttpd_dev_config_of_running_stack():
    conf = var_dir() / "lighttpd.conf"
    assert conf.exists(), f"{conf} is missing; is the stack up?"
    lighttpd_check(conf)
    text = conf.read_text()
    assert 'server.bind          = "127.0.0.1"' in text
    assert f"server.port          = {os.environ['PORT']}" in text
    assert f'"socket"          => "{var_dir()}/run/fcgi.sock"' in text
    assert "@" not in re.sub(r"#.*", "", text), "unrendered placeholder left"
    assert f'"/admin/"  => "{REPO}/admin-console/"' in text


def test_lighttpd_listens_on_loopback_only():
    port = int(os.environ["PORT"])
    listeners = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                addr, hexport = fields[1].split(":")
                if fields[3] == "0A" and int(hexport, 16) == port:
                    listeners.append((table, addr))
    assert listeners, f"nothing listens on port {port}"
    assert all(addr == "0100007F" for _, addr in listeners), listeners


# --------------------------------------------------------------------------- systemd


def test_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (systemd could not be installed here)")
    # Binaries that are not installed on this host would be reported; point those at /bin/true.
    lines = []
    for line in UNIT.read_text().splitlines():
        m = re.match(r"^(Exec\w+=[-@+!:]*)(/\S+)(.*)$", line)
        if m and not os.access(m.group(2), os.X_OK):
            line = m.group(1) + "/bin/true" + m.group(3)
        lines.append(line)
    unit = tmp_path / UNIT.name
    unit.write_text("\n".join(lines) + "\n")
    proc = run([analyze, "verify", unit], cwd=tmp_path)
    mentions = [l for l in (proc.stdout + proc.stderr).splitlines() if UNIT.name in l]
    assert proc.returncode == 0 and not mentions, proc.stdout + proc.stderr


def test_systemd_unit_settings():
    text = UNIT.read_text()
    settings = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, value)
    assert settings["User"] == "aiphoto"
    assert settings["Group"] == "www-data"
    assert settings["RuntimeDirectory"] == "aiphoto"
    assert settings["RuntimeDirectoryPreserve"] == "yes"
    assert settings["EnvironmentFile"] == "/etc/aiphoto/aiphoto.env"
    assert settings["Restart"] == "always"
    # SIGTERM to the supervisor alone (it stops its workers); a supervisor that keeps
    # exiting (workers refusing their configuration) leaves the unit failed
    assert settings["KillMode"] == "mixed"
    assert int(settings["StartLimitBurst"]) >= 3 and int(settings["StartLimitIntervalSec"]) > 0
    assert settings["ExecStartPre"] == "/usr/bin/aiphotoctl check-config"
    assert settings["ExecStart"] == (
        "/usr/bin/spawn-fcgi -n -s /run/aiphoto/fcgi.sock -M 0660 -- "
        "/usr/sbin/aiphoto-fcgi --workers 4")
    for key in ("NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectHome",
                "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
                "RestrictNamespaces", "LockPersonality", "MemoryDenyWriteExecute"):
        assert settings.get(key) == "yes", key
    assert settings["ProtectSystem"] == "strict"
    assert settings["CapabilityBoundingSet"] == ""
    # lighttpd's snippet talks to the socket this unit creates.
    assert "/run/aiphoto/fcgi.sock" in (REPO / "lighttpd" / "aiphoto.conf").read_text()


def test_env_example_names_every_variable():
    names = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))
    missing = [n for n in CONFIG_VARS if n not in names]
    assert not missing, f"missing from {ENV_EXAMPLE.name}: {missing}"
    for secret in ("JWT_SECRET", "WECHAT_SECRET", "WXPAY_APIV3_KEY", "WECHAT_MP_SECRET"):
        assert re.search(rf"^{secret}=$", ENV_EXAMPLE.read_text(), re.M), f"{secret} must be empty"


# --------------------------------------------------------------------------- the app socket


def unix_socket_inodes():
    """inode -> path of the unix sockets in /proc/net/unix."""
    table = {}
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            fields = line.split()
            if len(fields) >= 8:
                table[fields[6]] = fields[7]
    return table


def tcp_listen_inodes():
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "0A":
                    found.add(fields[9])
    return found


def test_app_socket_is_a_private_unix_socket():
    sock = var_dir() / "run" / "fcgi.sock"
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode), f"{sock} is not a socket"
    assert stat.S_IMODE(st.st_mode) in (0o600, 0o660), oct(stat.S_IMODE(st.st_mode))

    supervisor = int((var_dir() / "run" / "fcgi.pid").read_text().strip())
    workers = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                data = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = data[data.rindex(")") + 2:].split()
            if int(fields[1]) == supervisor and fields[0] != "Z":
                workers.append(int(entry))
    assert workers, f"supervisor {supervisor} has no workers"
    unix = unix_socket_inodes()
    listening = tcp_listen_inodes()
    for pid in [supervisor] + workers:
        link = os.readlink(f"/proc/{pid}/fd/0")
        m = re.fullmatch(r"socket:\[(\d+)\]", link)
        assert m, f"fd 0 of {pid} is {link}, not a socket"
        assert unix.get(m.group(1)) == str(sock), f"fd 0 of {pid} is not {sock}"
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            m = re.fullmatch(r"socket:\[(\d+)\]", target)
            assert not (m and m.group(1) in listening), f"{pid} listens on TCP (fd {fd})"


# --------------------------------------------------------------------------- scripts/stack


def test_stack_status_reports_all_up():
    proc = run([STACK, "status"], cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("postgres", "redis", "fcgi", "lighttpd", "health"):
        assert re.search(rf"^{name}:\s+up", proc.stdout, re.M), proc.stdout


def test_stack_env_matches_the_environment():
    proc = run(["bash", "-c", 'eval "$("$0" env)" && '
                'printf "%s\\n" "$AIPHOTO_VAR" "$PORT" "$AIPHOTO_BASE_URL" "$DATABASE_URL"',
                STACK], cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [os.environ["AIPHOTO_VAR"], os.environ["PORT"],
                                        os.environ["AIPHOTO_BASE_URL"],
                                        os.environ["DATABASE_URL"]]


def test_stack_up_is_idempotent():
    pidfile = var_dir() / "run" / "fcgi.pid"
    before = pidfile.read_text()
    proc = run([STACK, "up"], cwd=REPO, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == os.environ["AIPHOTO_BASE_URL"] + "/api/v1"
    assert pidfile.read_text() == before, "a second `up` restarted the workers"


def second_stack_env(var, port):
    env = {k: v for k, v in os.environ.items() if k not in STACK_VARS}
    env.update(AIPHOTO_VAR=str(var), PORT=str(port), WORKERS="2")
    return env


def processes_referencing(paths):
    """(pid, cmdline) of live processes whose command line or cwd mentions one of paths."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            cmd = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            cmd = cmd.decode(errors="replace")
        except OSError:
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            cwd = ""
        for p in paths:
            if p in cmd or cwd == p or cwd.startswith(p + "/"):
                found.append((int(entry), cmd.strip()))
                break
    return found


def test_port_taken_by_someone_else_is_refused():
    with tempfile.TemporaryDirectory(prefix="aiphoto-ops-") as tmp, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        var = pathlib.Path(tmp) / "var"
        proc = run([STACK, "up"], cwd=REPO, env=second_stack_env(var, port))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "in use" in proc.stderr
        assert not var.exists(), "up started something before refusing"


def test_simulator_port_taken_is_refused():
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="aiphoto-ops-") as tmp, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        env = second_stack_env(pathlib.Path(tmp) / "var", port)
        env["SIM_PORT"] = str(s.getsockname()[1])
        proc = run([STACK, "up"], cwd=REPO, env=env)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "SIM_PORT" in proc.stderr and "in use" in proc.stderr
        assert not (pathlib.Path(tmp) / "var").exists(), "up started something before refusing"


def test_second_stack_side_by_side():
    """A second stack (own var dir, own port) comes up next to the suite's one, answers
    /health, and `down` leaves no process of it behind."""
    tmp = tempfile.mkdtemp(prefix="aiphoto-ops-")
    var = pathlib.Path(tmp) / "var"
    port = free_port()
    env = second_stack_env(var, port)
    pg_real = None
    try:
        proc = run([STACK, "up"], cwd=REPO, env=env, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip().splitlines()[-1] == f"http://127.0.0.1:{port}/api/v1"
        pg_real = os.path.realpath(var / "pg")
        assert http_status(f"http://127.0.0.1:{port}/api/v1/health") == 200
        proc = run([STACK, "status"], cwd=REPO, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert re.search(rf"^sim:\s+up \(http://127\.0\.0\.1:{port + 10}\b", proc.stdout, re.M), \
            proc.stdout
        # Both stacks answer; they share nothing.
        assert http_status(os.environ["AIPHOTO_BASE_URL"] + "/api/v1/health") == 200
        assert processes_referencing([str(var), pg_real])

        proc = run([STACK, "down"], cwd=REPO, env=env, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        left = processes_referencing([str(var), pg_real])
        assert not left, f"left behind after down: {left}"
        assert run([STACK, "status"], cwd=REPO, env=env).returncode == 3
        # The suite's stack is untouched.
        assert http_status(os.environ["AIPHOTO_BASE_URL"] + "/api/v1/health") == 200
    finally:
        run([STACK, "reset"], cwd=REPO, env=env, timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)
    assert not var.exists()
    if pg_real:
        assert not os.path.exists(pg_real), f"{pg_real} was not removed by reset"


def test_down_stops_everything_when_a_component_is_already_gone():
    """`down` goes on past a component that is already dead or whose pid file is lost, stops
    the dispatcher loop and a run in flight, and leaves no process behind."""
    tmp = tempfile.mkdtemp(prefix="aiphoto-ops-")
    var = pathlib.Path(tmp) / "var"
    env = second_stack_env(var, free_port())
    env.update(DISPATCH_LOOP="1", DISPATCH_EVERY="1")
    pg_real = None
    stand_in = None
    try:
        proc = run([STACK, "up"], cwd=REPO, env=env, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        pg_real = os.path.realpath(var / "pg")
        run_dir = var / "run"
        # A dispatcher run that takes its time (a stand-in with the binary's name, started
        # from the var dir as the loop starts its runs), outside the loop's process group.
        dispatch_bin = REPO / os.environ.get("AIPHOTO_BUILD", "build") / "aiphoto-dispatch"
        stand_in = subprocess.Popen(["bash", "-c", 'exec -a "$0" sleep 300', str(dispatch_bin)],
                                    cwd=var, start_new_session=True,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        # Redis dies first; lighttpd's, the simulator's and the loop's pid files are lost.
        redis_pid = int((run_dir / "redis.pid").read_text().strip())
        os.kill(redis_pid, signal.SIGKILL)
        for name in ("lighttpd.pid", "sim.pid", "dispatch.pid"):
            (run_dir / name).unlink()
        assert processes_referencing([str(var), pg_real])

        proc = run([STACK, "down"], cwd=REPO, env=env, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert stand_in.wait(timeout=5) is not None
        left = processes_referencing([str(var), pg_real])
        assert not left, f"left behind after down: {left}\n{proc.stderr}"
        assert run([STACK, "status"], cwd=REPO, env=env).returncode == 3
        # the suite's own stack is untouched
        assert http_status(os.environ["AIPHOTO_BASE_URL"] + "/api/v1/health") == 200
    finally:
        if stand_in is not None and stand_in.poll() is None:
            stand_in.kill()
            stand_in.wait()
        run([STACK, "reset"], cwd=REPO, env=env, timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)
