#!/usr/bin/env bash
# Start the Ray head node of a paretoray cluster, token authentication on.
#
#   clusters/local/start-head.sh [IP]
#
# IP: the address the other hosts reach this one by (default: the first of `hostname -I`).
# Ray turns 127.0.0.1 into the host's address for its own services, so give the real one.
# Environment (besides those of _env.sh): RAY_PORT (6379), DASHBOARD_HOST (127.0.0.1:
# submit from this host or through an ssh tunnel; set it to IP to submit from elsewhere),
# DASHBOARD_PORT (8265), CLIENT_PORT (10001), AGENT_PORT (52365), NUM_CPUS, NUM_GPUS
# (default: what Ray detects).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/_env.sh"
IP=${1:-$(hostname -I | awk '{print $1}')}
if [ -z "${RAY_AUTH_TOKEN:-}" ] && [ ! -s "$RAY_AUTH_TOKEN_PATH" ]; then
    (umask 077 && "$PY" -c "import secrets; print(secrets.token_hex(32))" > "$RAY_AUTH_TOKEN_PATH")
    echo "new token in $RAY_AUTH_TOKEN_PATH (copy it to every worker host and to the submitter)"
fi
args=(--head --node-ip-address "$IP" --port "${RAY_PORT:-6379}"
      --dashboard-host "${DASHBOARD_HOST:-127.0.0.1}" --dashboard-port "${DASHBOARD_PORT:-8265}"
      --ray-client-server-port "${CLIENT_PORT:-10001}"
      --dashboard-agent-listen-port "${AGENT_PORT:-52365}"
      --temp-dir "$CLUSTER_DIR/ray" --disable-usage-stats)
[ -n "${NUM_CPUS:-}" ] && args+=(--num-cpus "$NUM_CPUS")
[ -n "${NUM_GPUS:-}" ] && args+=(--num-gpus "$NUM_GPUS")
start_group "${args[@]}" > "$CLUSTER_DIR/head.log" 2>&1 || { cat "$CLUSTER_DIR/head.log" >&2; exit 1; }
echo "head: $IP:${RAY_PORT:-6379}   dashboard: http://${DASHBOARD_HOST:-127.0.0.1}:${DASHBOARD_PORT:-8265}"
echo "Ray's log of this start: $CLUSTER_DIR/head.log"
