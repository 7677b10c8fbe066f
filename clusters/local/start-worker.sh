#!/usr/bin/env bash
# Start one Ray worker node and join it to a paretoray head, token authentication on.
#
#   clusters/local/start-worker.sh HEAD_IP:PORT [IP]
#
# On another host, first copy the head's token there (same PARETORAY_CLUSTER_DIR/auth_token,
# or RAY_AUTH_TOKEN). Run it several times for several nodes on one host (tests do that).
# Each node on a host gets its own Ray temp dir: nodes sharing one would share a session
# directory, and one node's cleanup of a job's working_dir would delete another's.
# Environment: NUM_CPUS, NUM_GPUS (default: what Ray detects), AGENT_PORT (default: free).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/_env.sh"
HEAD=${1:?usage: start-worker.sh HEAD_IP:PORT [IP]}
IP=${2:-$(hostname -I | awk '{print $1}')}
if [ -z "${RAY_AUTH_TOKEN:-}" ] && [ ! -s "$RAY_AUTH_TOKEN_PATH" ]; then
    echo "no token: copy the head's auth_token to $RAY_AUTH_TOKEN_PATH or set RAY_AUTH_TOKEN" >&2
    exit 1
fi
n=$(find "$CLUSTER_DIR" -maxdepth 1 -name "worker-*.log" | wc -l)
log="$CLUSTER_DIR/worker-$n.log"
agent_port=${AGENT_PORT:-$("$PY" -c 'import socket; s=socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')}
args=(--address "$HEAD" --node-ip-address "$IP" --dashboard-agent-listen-port "$agent_port"
      --temp-dir "$CLUSTER_DIR/ray-worker-$n" --disable-usage-stats)
[ -n "${NUM_CPUS:-}" ] && args+=(--num-cpus "$NUM_CPUS")
[ -n "${NUM_GPUS:-}" ] && args+=(--num-gpus "$NUM_GPUS")
start_group "${args[@]}" > "$log" 2>&1 || { cat "$log" >&2; exit 1; }
echo "worker node $n joined $HEAD (log: $log)"
