# scripts/lib.sh — shell helpers shared by scripts/stack, scripts/test-integration and
# tests/browser/run.  Sourced, never run; defines functions only, changes nothing by itself.
# shellcheck shell=bash

# The configuration variables (DESIGN §8, the simulator's, the stack's URLs) a developer may
# have exported for another stack.  A runner that starts a stack of its own unsets them all
# (MEDIA_BACKEND stays: it chooses the backend the runner's stack uses).
AIPHOTO_DEV_ENV_VARS=(
	DATABASE_URL REDIS_URL JWT_SECRET PUBLIC_BASE_URL MEDIA_DIR AIPHOTO_ENV AIPHOTO_BASE_URL
	MEDIA_URL_KEY MEDIA_URL_BASE MEDIA_KEEP_ORIGINAL MEDIA_CDN_BASE
	S3_ENDPOINT S3_BUCKET S3_REGION S3_ACCESS_KEY_ID S3_SECRET_ACCESS_KEY S3_PATH_STYLE S3_PORT
	WECHAT_APPID WECHAT_SECRET WECHAT_TOKEN WECHAT_AES_KEY WECHAT_MSG_MODE WECHAT_MP_APPID
	WECHAT_MP_SECRET WECHAT_MP_TOKEN WECHAT_MP_AES_KEY WECHAT_API_BASE WECHAT_OPEN_BASE
	WECHAT_MP_BASE WECHAT_CLOUD_ENV CLOUD_STORAGE_URL_PREFIX METRICS_FILE METRICS_ALLOW
	METRICS_ENABLED DISPATCH_METRICS_FILE
	WXPAY_MCHID WXPAY_SERIAL WXPAY_PRIVATE_KEY_FILE WXPAY_APIV3_KEY WXPAY_PUBLIC_KEY_FILE
	WXPAY_PUBLIC_KEY_ID WXPAY_API_BASE WXPAY_NOTIFY_URL WXPAY_REFUND_NOTIFY_URL
	AIPHOTO_SIM_URL SIM_PORT AIPHOTO_SIM_KEY
)

# Unsets every variable of AIPHOTO_DEV_ENV_VARS.
unset_developer_env() { unset "${AIPHOTO_DEV_ENV_VARS[@]}"; }

# port_free PORT... — status 0 when every PORT can be bound on 127.0.0.1 now.  Uses
# /usr/bin/python3 (Debian's; the first python3 on PATH may be another); without it, a port
# counts as free when nothing accepts a connection on it.
port_free() {
	if [[ -x /usr/bin/python3 ]]; then
		/usr/bin/python3 - "$@" <<'PYEOF'
import socket, sys
for port in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(port)))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
PYEOF
	else
		local p
		for p in "$@"; do
			if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then return 1; fi
		done
	fi
}

# any_free_port — prints a port the kernel has just handed out (free a moment ago).
any_free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
