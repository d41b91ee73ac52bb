#!/usr/bin/env bash
# Load comparison: redis-benchmark straight at a six-node cluster (`--cluster`)
# versus the same load through slotway, for GET and SET at pipeline depths 1 and 16.
#
#   benches/load.sh [--requests N] [--clients C] [--threads T] [--out FILE]
#                   [--base-port P] [--port P] [--data-size D] [--keyspace K]
#
#   --requests N   requests per test (default 200000)
#   --clients C    redis-benchmark connections (default 50)
#   --threads T    slotway worker threads (default: slotway's own default)
#   --out FILE     also write the table as Markdown to FILE
#   --base-port P  first port of the testbed (default 7400; moved up if busy)
#   --port P       slotway's listen port (default: first free port from 7390)
#
# Prints, per test and pipeline depth: direct ops/s, slotway ops/s, their ratio,
# and slotway's CPU seconds (user+system, from /proc/PID/stat) per million requests.
# Everything runs on 127.0.0.1 and is stopped on exit, including on Ctrl-C.
#
# Read the ratio with the machine in mind: on a small box redis-benchmark, three
# primaries, three replicas and slotway all share the same cores, so slotway's CPU
# is taken from the others. CPU per request is the figure that does not depend on that.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
testbed="$root/cluster-testbed/testbed.sh"

requests=200000
clients=50
threads=""
out=""
base_port=7400
port=""
data_size=64
keyspace=100000
pipelines=(1 16)
tests=(set get) # SET first, so GET finds keys

die() { echo "load: $*" >&2; exit 1; }
usage() { sed -n '5,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
num() { [[ "$2" =~ ^[0-9]+$ ]] || die "$1 needs a number, got '$2'"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --requests) num "$1" "${2:-}"; requests="$2"; shift 2 ;;
        --clients) num "$1" "${2:-}"; clients="$2"; shift 2 ;;
        --threads) num "$1" "${2:-}"; threads="$2"; shift 2 ;;
        --out) out="${2:?--out needs a file}"; shift 2 ;;
        --base-port) num "$1" "${2:-}"; base_port="$2"; shift 2 ;;
        --port) num "$1" "${2:-}"; port="$2"; shift 2 ;;
        --data-size) num "$1" "${2:-}"; data_size="$2"; shift 2 ;;
        --keyspace) num "$1" "${2:-}"; keyspace="$2"; shift 2 ;;
        -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) usage ;;
    esac
done
if [ "$requests" -eq 0 ] || [ "$clients" -eq 0 ]; then die "--requests and --clients must be positive"; fi
for tool in redis-server redis-cli redis-benchmark cargo getconf; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A base port whose six node ports and six bus ports (+10000) are all free.
testbed_ports_free() {
    local i
    for ((i = 0; i < 6; i++)); do
        port_busy $(($1 + i)) && return 1
        port_busy $(($1 + i + 10000)) && return 1
    done
    return 0
}

work="$(mktemp -d "${TMPDIR:-/tmp}/slotway-load.XXXXXX")"
slotway_pid=""
testbed_started=0

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$slotway_pid" ] && kill -0 "$slotway_pid" 2>/dev/null; then
        kill -TERM "$slotway_pid" 2>/dev/null || true
        # Bounded wait for the graceful shutdown, then KILL.
        for _ in $(seq 50); do kill -0 "$slotway_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$slotway_pid" 2>/dev/null || true
        wait "$slotway_pid" 2>/dev/null || true
    fi
    if [ "$testbed_started" = 1 ]; then
        "$testbed" stop --dir "$work/testbed" --clean >/dev/null 2>&1 || true
    fi
    if [ "$status" != 0 ] && [ -s "$work/slotway.log" ]; then
        echo "load: last lines of the slotway log:" >&2
        tail -n 20 "$work/slotway.log" >&2
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== building slotway (release)" >&2
(cd "$root" && cargo build --release --quiet --bin slotway)
bin="$root/target/release/slotway"
[ -x "$bin" ] || die "no binary at $bin"

for ((tries = 0; tries < 20; tries++)); do
    testbed_ports_free "$base_port" && break
    base_port=$((base_port + 10))
done
testbed_ports_free "$base_port" || die "no free testbed ports found"
if [ -z "$port" ]; then
    port=7390
    while port_busy "$port" || { [ "$port" -ge "$base_port" ] && [ "$port" -lt $((base_port + 6)) ]; }; do
        port=$((port + 1))
    done
fi
port_busy "$port" && die "port $port is in use"

echo "== starting the cluster testbed on 127.0.0.1:$base_port-$((base_port + 5))" >&2
testbed_started=1
"$testbed" start --base-port "$base_port" --dir "$work/testbed" >/dev/null

slotway_args=(--listen "127.0.0.1:$port" --cluster "127.0.0.1:$base_port")
[ -n "$threads" ] && slotway_args+=(--threads "$threads")
echo "== starting slotway ${slotway_args[*]}" >&2
"$bin" "${slotway_args[@]}" >"$work/slotway.log" 2>&1 &
slotway_pid=$!

# PING alone may be answered before the topology is loaded; a SET must reach a node.
ready=0
for _ in $(seq 150); do
    kill -0 "$slotway_pid" 2>/dev/null || die "slotway exited during startup"
    if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] &&
        [ "$(redis-cli -p "$port" set slotway:load:probe 1 2>/dev/null)" = OK ]; then
        ready=1
        break
    fi
    sleep 0.1
done
[ "$ready" = 1 ] || die "slotway did not answer PING and SET within 15 s"

clk_tck="$(getconf CLK_TCK)"

# utime+stime of a process in clock ticks. Fields are counted after the last ')',
# because the command name in field 2 may itself contain spaces or parentheses.
cpu_ticks() {
    local stat rest
    stat="$(cat "/proc/$1/stat")" || die "slotway (pid $1) is gone"
    rest="${stat##*) }"
    # rest starts at field 3 (state); utime and stime are fields 14 and 15.
    awk '{ print $12 + $13 }' <<<"$rest"
}

# rps of TEST in a `redis-benchmark --csv` output file ("GET","123.45",...); empty if absent.
csv_rps() {
    local name="${2^^}"
    awk -F',' -v t="\"$name\"" '$1 == t { gsub(/"/, "", $2); print $2; exit }' "$1"
}

# Lines that report errors (redis-benchmark prints at most one "Error from server" a second).
errors_in() { grep -iE 'error|closed|refused|reset' "$1" | sort | uniq -c | sort -rn | head -n 5 || true; }

# run_bench LABEL OUTFILE PIPELINE TEST TARGET-ARGS...
run_bench() {
    local label="$1" file="$2" p="$3" t="$4"
    shift 4
    if ! timeout 300 redis-benchmark "$@" -t "$t" -c "$clients" -P "$p" -n "$requests" \
        -r "$keyspace" -d "$data_size" --csv >"$file" 2>&1; then
        echo "load: redis-benchmark ($label, $t, -P $p) failed:" >&2
        tail -n 5 "$file" >&2
    fi
}

rows=()
error_report=""
for p in "${pipelines[@]}"; do
    for t in "${tests[@]}"; do
        echo "== $t -P $p: direct" >&2
        run_bench direct "$work/direct.out" "$p" "$t" --cluster -h 127.0.0.1 -p "$base_port"
        direct_rps="$(csv_rps "$work/direct.out" "$t")"

        echo "== $t -P $p: slotway" >&2
        before="$(cpu_ticks "$slotway_pid")"
        run_bench slotway "$work/slotway.out" "$p" "$t" -h 127.0.0.1 -p "$port"
        after="$(cpu_ticks "$slotway_pid")"
        slotway_rps="$(csv_rps "$work/slotway.out" "$t")"

        for side in direct slotway; do
            errs="$(errors_in "$work/$side.out")"
            [ -z "$errs" ] || error_report+="${t^^} -P $p $side:"$'\n'"$errs"$'\n'
        done

        row="$(awk -v t="${t^^}" -v p="$p" -v d="${direct_rps:-0}" -v s="${slotway_rps:-0}" \
            -v ticks=$((after - before)) -v hz="$clk_tck" -v n="$requests" 'BEGIN {
                ratio = (d > 0 && s > 0) ? sprintf("%.2f", s / d) : "n/a"
                cpu = ticks / hz / (n / 1e6)
                printf "%s\t%s\t%s\t%s\t%s\t%.2f\n", t, p, (d > 0 ? sprintf("%.0f", d) : "n/a"),
                    (s > 0 ? sprintf("%.0f", s) : "n/a"), ratio, cpu
            }')"
        rows+=("$row")
    done
done

commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$root" diff --quiet HEAD 2>/dev/null || commit+="+dirty"
summary="requests=$requests clients=$clients data=${data_size}B keyspace=$keyspace threads=${threads:-default} cores=$(nproc) commit=$commit"

headers=(test pipeline "direct ops/s" "slotway ops/s" "ratio" "slotway CPU s/1M req")
echo
echo "$summary"
{
    printf '%s\t' "${headers[@]}"; echo
    printf '%s\n' "${rows[@]}"
} | column -t -s $'\t'

if [ -n "$error_report" ]; then
    echo
    echo "redis-benchmark reported errors (count, line):"
    printf '%s' "$error_report"
else
    echo
    echo "redis-benchmark reported no errors."
fi

if [ -n "$out" ]; then
    {
        echo "Load comparison, $(date -u +%Y-%m-%dT%H:%MZ): $summary"
        echo
        echo "| test | pipeline | direct ops/s | slotway ops/s | ratio | slotway CPU s / 1M req |"
        echo "|---|---:|---:|---:|---:|---:|"
        for row in "${rows[@]}"; do
            IFS=$'\t' read -r a b c d e f <<<"$row"
            echo "| $a | $b | $c | $d | $e | $f |"
        done
        echo
        if [ -n "$error_report" ]; then
            echo "redis-benchmark errors:"
            echo
            echo '```'
            printf '%s' "$error_report"
            echo '```'
        else
            echo "redis-benchmark reported no errors."
        fi
    } >"$out"
    echo "table written to $out" >&2
fi
