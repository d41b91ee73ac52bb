#!/usr/bin/env bash
# The main job: a local six-node Redis Cluster with slotway in front of it.
#
#   ./run.sh [--base-port 7000] [--listen 127.0.0.1:6380] [-- extra slotway flags]
#
# Installs redis-server/redis-tools if missing, builds slotway (release), starts the
# cluster, then runs slotway in the foreground. Ctrl-C (or any signal, or slotway
# exiting by itself) stops slotway and the cluster. SLOTWAY_BIN=path runs that
# binary instead of building one; SLOTWAY_RUN_DIR=dir keeps the cluster's files
# there instead of cluster-testbed/run (the test of this script uses both).
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

# The ports first, before minutes of building: a busy one names the flag that moves it.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in $(seq "$base_port" $((base_port + 5))) $((base_port + 10000)); do
    if port_busy "$port"; then
        echo "run.sh: port $port is in use (a cluster from an earlier run? cluster-testbed/testbed.sh stop" \
            "--dir ${SLOTWAY_RUN_DIR:-cluster-testbed/run} stops it); --base-port N puts the cluster elsewhere" >&2
        exit 1
    fi
done
if port_busy "${listen##*:}"; then
    echo "run.sh: port ${listen##*:} is in use; --listen HOST:PORT puts slotway elsewhere" >&2
    exit 1
fi

command -v cargo >/dev/null || { echo "run.sh: cargo is missing: install Rust (https://rustup.rs)" >&2; exit 1; }
cluster-testbed/ensure-redis.sh
bin="${SLOTWAY_BIN:-target/release/slotway}"
if [ -z "${SLOTWAY_BIN:-}" ]; then
    echo "run.sh: building slotway (release; a few minutes the first time)" >&2
    cargo build --release --quiet
fi

dir="${SLOTWAY_RUN_DIR:-cluster-testbed/run}"
slotway_pid=""
# Runs once, however the script ends (slotway gone by itself, a signal, an error);
# each step may fail without stopping the next one.
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$slotway_pid" ]; then
        kill "$slotway_pid" 2>/dev/null || true
        wait "$slotway_pid" 2>/dev/null || true
    fi
    cluster-testbed/testbed.sh stop --dir "$dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

echo "run.sh: starting the six-node cluster on 127.0.0.1:$base_port..$((base_port + 5))" >&2
cluster-testbed/testbed.sh start --base-port "$base_port" --dir "$dir"

echo
echo "slotway on $listen, in front of the cluster at 127.0.0.1:$base_port..$((base_port + 5))"
echo "try:  redis-cli -p ${listen##*:} set hello world"
echo "      redis-benchmark -p ${listen##*:} -t get,set -c 50 -P 16 -q"
echo "Ctrl-C stops slotway and the cluster."
echo
"$bin" --listen "$listen" --cluster "127.0.0.1:$base_port" --cluster "127.0.0.1:$((base_port + 1))" \
    --cluster "127.0.0.1:$((base_port + 2))" "${extra[@]}" &
slotway_pid=$!
# `wait` returns early on a signal; the INT/TERM trap then cleans up and exits.
status=0
wait "$slotway_pid" || status=$?
exit "$status"
