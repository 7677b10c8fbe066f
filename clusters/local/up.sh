#!/usr/bin/env bash
# A head and N worker nodes on this host (N=0: the head alone).
#
#   clusters/local/up.sh [N] [IP]
#
# Same environment as start-head.sh; NUM_CPUS applies to each node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
N=${1:-1}
IP=${2:-$(hostname -I | awk '{print $1}')}
"$here/start-head.sh" "$IP"
for _ in $(seq 1 "$N"); do
    "$here/start-worker.sh" "$IP:${RAY_PORT:-6379}" "$IP"
done
