# Sourced by the scripts in clusters/local/: one place for the Python, the token and the state.
#
# PARETORAY_PYTHON   the interpreter whose environment has torch, ray and (optionally)
#                    paretoray; default: `python` on PATH. Its bin/ goes first on PATH, so
#                    the `python` of a job's entrypoint is this one, not the system's.
# PARETORAY_CLUSTER_DIR  token, process groups and Ray's temp dir of this host's nodes;
#                    default: ${TMPDIR:-/tmp}/paretoray-cluster-<uid> (mode 700).
# RAY_AUTH_TOKEN     the cluster's token; default: PARETORAY_CLUSTER_DIR/auth_token, created
#                    (mode 600) by start-head.sh and copied by you to every worker host.
set -euo pipefail
PY=$(command -v "${PARETORAY_PYTHON:-python}") || { echo "no python: set PARETORAY_PYTHON" >&2; exit 1; }
BIN=$(dirname "$("$PY" -c 'import sys; print(sys.executable)')")
export PATH="$BIN:$PATH"
if ! "$PY" -c "import torch, ray" 2>/dev/null; then
    echo "$PY cannot import torch and ray: point PARETORAY_PYTHON at the environment" \
         "that has them (pip install 'torch>=2.4,<2.14' 'ray[default,tune,train]')" >&2
    exit 1
fi
CLUSTER_DIR=${PARETORAY_CLUSTER_DIR:-${TMPDIR:-/tmp}/paretoray-cluster-$(id -u)}
mkdir -p "$CLUSTER_DIR"
chmod 700 "$CLUSTER_DIR"
export RAY_AUTH_MODE=token
if [ -z "${RAY_AUTH_TOKEN:-}" ]; then
    export RAY_AUTH_TOKEN_PATH="$CLUSTER_DIR/auth_token"
fi
export RAY_USAGE_STATS_ENABLED=0

# Run `ray start ARGS...` as the leader of a new process group and remember the group, so
# stop.sh ends exactly these processes and no other Ray on the host.
start_group() {
    setsid "$BIN/ray" start "$@" &
    local pid=$!
    echo "$pid" >> "$CLUSTER_DIR/pgids"
    wait "$pid"
}
