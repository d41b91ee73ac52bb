#!/usr/bin/env bash
# The main job: a local six-node Redis Cluster with slotway in front of it.
#
#   ./run.sh [--base-port 7000] [--listen 127.0.0.1:6380] [-- extra slotway flags]
#
# Installs redis-server/redis-tools if missing, builds slotway (release), starts the
# cluster, then runs slotway in the foreground. Ctrl-C stops slotway and the cluster.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

base_port=7000
listen=127.0.0.1:6380
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --base-port) base_port="${2:?}"; shift 2 ;;
        --listen) listen="${2:?}"; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "usage: $0 [--base-port N] [--listen HOST:PORT] [-- slotway flags]" >&2; exit 2 ;;
    esac
done

command -v cargo >/dev/null || { echo "run.sh: cargo is missing: install Rust (https://rustup.rs)" >&2; exit 1; }
cluster-testbed/ensure-redis.sh
cargo build --release --quiet

dir="cluster-testbed/run"
cluster-testbed/testbed.sh start --base-port "$base_port" --dir "$dir"
trap 'cluster-testbed/testbed.sh stop --dir "$dir"' EXIT INT TERM

echo
echo "slotway on $listen, in front of the cluster at 127.0.0.1:$base_port..$((base_port + 5))"
echo "try:  redis-cli -p ${listen##*:} set hello world"
echo "      redis-benchmark -p ${listen##*:} -t get,set -c 50 -P 16 -q"
echo "Ctrl-C stops slotway and the cluster."
echo
target/release/slotway --listen "$listen" --cluster "127.0.0.1:$base_port" --cluster "127.0.0.1:$((base_port + 1))" \
    --cluster "127.0.0.1:$((base_port + 2))" "${extra[@]}" &
slotway_pid=$!
trap 'kill "$slotway_pid" 2>/dev/null; wait "$slotway_pid" 2>/dev/null; cluster-testbed/testbed.sh stop --dir "$dir"' EXIT INT TERM
wait "$slotway_pid"
