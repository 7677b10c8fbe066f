#!/usr/bin/env bash
# Stop the Ray nodes that start-head.sh / start-worker.sh started on this host, and only
# those: each `ray start` ran as the leader of its own process group, recorded in
# PARETORAY_CLUSTER_DIR/pgids; every process of those groups gets SIGTERM, then SIGKILL
# after 10 s. (Plain `ray stop` would stop every Ray on the host, other users' included.)
set -uo pipefail
CLUSTER_DIR=${PARETORAY_CLUSTER_DIR:-${TMPDIR:-/tmp}/paretoray-cluster-$(id -u)}
pgids="$CLUSTER_DIR/pgids"
[ -s "$pgids" ] || { echo "nothing to stop ($pgids is empty or missing)"; exit 0; }
alive() { for g in $(cat "$pgids"); do kill -0 -- "-$g" 2>/dev/null && return 0; done; return 1; }
for g in $(cat "$pgids"); do kill -TERM -- "-$g" 2>/dev/null; done
for _ in $(seq 1 20); do alive || break; sleep 0.5; done
for g in $(cat "$pgids"); do kill -KILL -- "-$g" 2>/dev/null; done
for _ in $(seq 1 20); do alive || break; sleep 0.5; done
if alive; then echo "some processes of $(tr '\n' ' ' < "$pgids") survived SIGKILL" >&2; exit 1; fi
echo "stopped process groups $(tr '\n' ' ' < "$pgids")"
rm -rf "$pgids" "$CLUSTER_DIR"/worker-*.log "$CLUSTER_DIR"/ray-worker-*
