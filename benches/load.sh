#!/usr/bin/env bash
# slotway against direct cluster access, in one command (about 8 minutes on 2 cores,
# 4-5 more per --peers proxy).
#
#   benches/load.sh [--out FILE] [--threads LIST] [--repeat N] [--profile] [--quick] ...
#
#   --threads LIST    slotway worker threads, one slotway per entry (default 1,2; 0 =
#                     slotway's default, one per core). All run side by side; the idle
#                     ones cost nothing, and each is measured in turn.
#   --repeat N        rounds of each case (default 2). A round runs direct, then each
#                     slotway, then each peer, so a case runs A B A B: noise shows as
#                     min/median/max.
#   --tests LIST      of get,set,mget,mset (default all four)
#   --pipelines LIST  redis-benchmark -P depths (default 1,16,64)
#   --clients LIST    redis-benchmark connections (default 50,1000)
#   --requests N      requests per run at -P 1 (default 100000); -P 2..16 runs send 5x,
#                     deeper pipelines 10x, the -c 1 latency probe 1/5
#   --data-size D     value size in bytes (default 64);  --keyspace K  keys (default 100000)
#   --conns N         connections for the memory test (default 10000; 0 skips it)
#   --conns-seconds S how long the N connections are active (default 10)
#   --profile         also perf-record slotway (first --threads entry) under GET -P 16 -c 50
#   --instructions    also count slotway's user-space instructions per request under
#                     callgrind (one worker thread; GET -P 16 and -P 1, -c 50): a
#                     figure the machine's load does not move (about 2 minutes)
#   --out FILE        write the Markdown report to FILE (the table of docs/performance.md)
#   --raw FILE        keep the per-run measurements (TSV) in FILE
#   --no-build        use target/release/slotway as it is
#   --bin FILE        use this slotway binary (implies --no-build): to measure a
#                     build of another commit, e.g. before and after a change
#   --quick           smoke run: --repeat 1 --requests 20000 --clients 50
#                     --pipelines 1,16 --conns 1000
#   --base-port P     first port of the testbed (default 7400; moved up if busy)
#   --port P          first slotway port (default: first free port from 7390)
#   --peers LIST      peer proxies to run side by side (default: none), any of:
#                     predixy   predixy 1.0.5, cluster-aware (C++, one worker thread:
#                               --WorkerThreads=1), in front of the same cluster as
#                               slotway: it learns the slots from three seeds
#                     corvus    corvus 0.2.7, cluster-aware (C, `thread 1`), the same
#                     twemproxy Debian's nutcracker 0.5.0 (apt-get install nutcracker):
#                               a lean C proxy (one thread, epoll, batching) but not
#                               cluster-aware: it shards by its own hash (fnv1a_64,
#                               ketama, hash tag {}) over three standalone
#                               redis-servers started for it (no replicas, no slots,
#                               no redirects), so it does less work per request than
#                               slotway. Its rows' "nodes CPU" is those three servers'.
#                     Each listens on 127.0.0.1 only, is started and stopped here by
#                     PID, and runs every case after the slotways in each round.
#   --peer-bin DIR    where the predixy and corvus binaries are (default: $PEERS_BIN,
#                     else PATH). Nothing here builds them: build predixy 1.0.5
#                     (github.com/joyieldInc/predixy) and corvus 0.2.7
#                     (github.com/eleme/corvus) from their public sources; a helper
#                     script for that is not part of this repository
#                     (benches/README.md has the notes). corvus must be built to
#                     listen on 127.0.0.1 (upstream binds 0.0.0.0): an upstream
#                     binary is refused.
#
# Cases: GET and SET (-r keyspace -d size) at every pipeline depth and client count,
# through slotway and straight at the cluster (redis-benchmark --cluster); MGET of
# 10 keys in one slot (slotway against the one node owning it) and across slots
# (slotway alone: no Redis Cluster node answers a cross-slot MGET), at -c 50 and
# -P 1 and 16; MSET of 10 keys (redis-benchmark -t mset -r: ten random key:N, so
# across slots, which a proxy splits per slot and merges; direct, --cluster sends
# its ten keys as key:{tag}:N in one slot, the most a cluster client sends in one
# MSET) at the first client count and -P 1 and 16; and a latency probe, GET -P 1
# -c 1, from which the latency slotway adds is read. Per run: ops/s, p50/p99/p99.9
# latency (redis-benchmark's histogram; p99.9 is its first percentile line at or
# above 99.9%), slotway's CPU seconds per million requests (utime+stime from
# /proc/PID/stat; CPU s per 1M requests = CPU us per request), the six nodes' and
# everything's (redis-benchmark + nodes + slotway) CPU per request, slotway's peak
# RSS during the run (VmHWM, reset before each run through /proc/PID/clear_refs),
# and the share of the machine other people's processes took meanwhile (/proc/stat
# busy time minus ours). Then N connections to a fresh slotway, idle and active
# (benches/conns.py): KiB per connection. A Markdown report (--out) has the table,
# the proxies side by side, the targets of docs/performance.md met or not, and the
# profile; benches/report.py writes it.
# Each --peers proxy runs every case too, after the slotways in each round, with
# its CPU, peak RSS and nodes measured the same way (its nodes: the cluster's six
# for predixy and corvus, its own servers for twemproxy).
#
# Read ratios with the machine in mind: redis-benchmark, three primaries, three
# replicas and slotway share the same cores, so slotway's CPU is taken from the
# others. CPU per request is the figure that least depends on that. Everything runs
# on 127.0.0.1 and is stopped on exit, including on Ctrl-C.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
testbed="$root/cluster-testbed/testbed.sh"

threads_list=1,2
repeat=2
tests_list=get,set,mget,mset
pipelines_list=1,16,64
clients_list=50,1000
requests=100000
data_size=64
keyspace=100000
conns=10000
conns_seconds=10
profile=0
instructions=0
bin_given=""
out=""
raw=""
build=1
base_port=7400
port=""
peers_list=""
peer_bin="${PEERS_BIN:-}" # --peer-bin
run_timeout=180 # seconds any single redis-benchmark run may take

die() { echo "load: $*" >&2; exit 1; }
usage() { sed -n '4,4p' "$0" | sed 's/^# \{0,1\}//' >&2; echo "(--help for all options)" >&2; exit 2; }
help() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0; }
num() { [[ "$2" =~ ^[0-9]+$ ]] || die "$1 needs a number, got '$2'"; }
list() { [[ "$2" =~ ^[0-9a-z]+(,[0-9a-z]+)*$ ]] || die "$1 needs a comma-separated list, got '$2'"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --threads) list "$1" "${2:-}"; threads_list="$2"; shift 2 ;;
        --repeat) num "$1" "${2:-}"; repeat="$2"; shift 2 ;;
        --tests) list "$1" "${2:-}"; tests_list="$2"; shift 2 ;;
        --pipelines) list "$1" "${2:-}"; pipelines_list="$2"; shift 2 ;;
        --clients) list "$1" "${2:-}"; clients_list="$2"; shift 2 ;;
        --requests) num "$1" "${2:-}"; requests="$2"; shift 2 ;;
        --data-size) num "$1" "${2:-}"; data_size="$2"; shift 2 ;;
        --keyspace) num "$1" "${2:-}"; keyspace="$2"; shift 2 ;;
        --conns) num "$1" "${2:-}"; conns="$2"; shift 2 ;;
        --conns-seconds) num "$1" "${2:-}"; conns_seconds="$2"; shift 2 ;;
        --profile) profile=1; shift ;;
        --instructions) instructions=1; shift ;;
        --out) out="${2:?--out needs a file}"; shift 2 ;;
        --raw) raw="${2:?--raw needs a file}"; shift 2 ;;
        --no-build) build=0; shift ;;
        --bin) bin_given="${2:?--bin needs a file}"; build=0; shift 2 ;;
        --quick) repeat=1; requests=20000; clients_list=50; pipelines_list=1,16; conns=1000; conns_seconds=3; shift ;;
        --base-port) num "$1" "${2:-}"; base_port="$2"; shift 2 ;;
        --port) num "$1" "${2:-}"; port="$2"; shift 2 ;;
        --peers) list "$1" "${2:-}"; peers_list="$2"; shift 2 ;;
        --peer-bin) peer_bin="${2:?--peer-bin needs a folder}"; shift 2 ;;
        -h | --help) help ;;
        *) usage ;;
    esac
done
IFS=, read -r -a threads <<<"$threads_list"
IFS=, read -r -a tests <<<"$tests_list"
IFS=, read -r -a pipelines <<<"$pipelines_list"
IFS=, read -r -a clients <<<"$clients_list"
peers=()
[ -n "$peers_list" ] && [ "$peers_list" != none ] && IFS=, read -r -a peers <<<"$peers_list"
for t in "${tests[@]}"; do [[ "$t" =~ ^(get|set|mget|mset)$ ]] || die "unknown test '$t' (get, set, mget, mset)"; done
[ -z "$peer_bin" ] || [ -d "$peer_bin" ] || die "--peer-bin (or PEERS_BIN) $peer_bin is not a folder"

# peer_binary NAME: sets peer_bin_out to the peer's executable, from --peer-bin
# (or PEERS_BIN), else PATH; or says how to get it.
peer_binary() {
    local name="$1" version
    case "$name" in predixy) version=1.0.5 ;; corvus) version=0.2.7 ;; esac
    if [ -n "$peer_bin" ] && [ -x "$peer_bin/$name" ]; then
        peer_bin_out="$(cd "$peer_bin" && pwd)/$name"
    elif [ -z "$peer_bin" ] && command -v "$name" >/dev/null; then
        peer_bin_out="$(command -v "$name")"
    else
        die "--peers $name needs the $name binary ($name $version), not found in ${peer_bin:-PATH}${peer_bin:+ (--peer-bin or PEERS_BIN)}.
      Build predixy 1.0.5 (github.com/joyieldInc/predixy) and corvus 0.2.7
      (github.com/eleme/corvus) from their public sources (a helper script for that is
      not part of this repository; benches/README.md has the build notes), then pass
      --peer-bin DIR or set PEERS_BIN=DIR (or put them on PATH)."
    fi
}

declare -A peer_exe=() # name -> binary
for t in "${peers[@]}"; do
    [ -z "${peer_exe[$t]:-}" ] || die "--peers names $t twice"
    case "$t" in
        twemproxy)
            command -v nutcracker >/dev/null || die "--peers twemproxy needs nutcracker (apt-get install nutcracker)"
            peer_exe[$t]="$(command -v nutcracker)" ;;
        predixy | corvus)
            peer_binary "$t"
            peer_exe[$t]="$peer_bin_out" ;;
        *) die "unknown peer '$t' (predixy, corvus, twemproxy)" ;;
    esac
done
# Upstream corvus listens on 0.0.0.0 (src/corvus.c hard-codes it in proxy_init):
# such a build would open the port to the network, so it is not started.
if [ -n "${peer_exe[corvus]:-}" ] && grep -aq '0\.0\.0\.0' "${peer_exe[corvus]}"; then
    die "${peer_exe[corvus]} looks like an upstream build, which listens on all interfaces (0.0.0.0 in src/corvus.c);
      rebuild it with \"127.0.0.1\" there (benches/README.md)"
fi
for v in "${threads[@]}" "${pipelines[@]}" "${clients[@]}"; do num "a list entry" "$v"; done
[ "$repeat" -gt 0 ] && [ "$requests" -gt 0 ] || die "--repeat and --requests must be positive"
for tool in redis-server redis-cli redis-benchmark cargo getconf python3; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
if [ "$profile" = 1 ]; then command -v perf >/dev/null || die "--profile needs perf (linux-perf)"; fi
if [ "$instructions" = 1 ]; then
    command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
        die "--instructions needs valgrind (callgrind)"
fi

# 1,000 benchmark clients, 10,000 test connections: raise the open-file limit for
# this script and everything it starts (slotway, redis-benchmark, conns.py).
want_fds=$((conns + 2000 > 4096 ? conns + 2000 : 4096))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
    ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" ||
        die "cannot raise the open-file limit to $want_fds (hard limit $(ulimit -Hn))"
fi
if [ "$conns" -gt 0 ] && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -le $((conns + 100)) ]; then
    die "--conns $conns needs an open-file limit above $((conns + 100)); the hard limit is $(ulimit -Hn)"
fi

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
slotway_pids=()
peer_pids=() # every process a peer needs (proxy and its servers), for cleanup
testbed_started=0
bench_pid=""

stop_pid() {
    local pid="$1"
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    # Bounded wait for the graceful shutdown, then KILL.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$? pid
    trap - EXIT INT TERM
    [ -n "$bench_pid" ] && kill -TERM "$bench_pid" 2>/dev/null || true
    for pid in "${slotway_pids[@]}" "${peer_pids[@]}"; do stop_pid "$pid"; done
    if [ "$testbed_started" = 1 ]; then
        "$testbed" stop --dir "$work/testbed" --clean >/dev/null 2>&1 || true
    fi
    if [ "$status" != 0 ]; then
        for log in "$work"/slotway-*.log "$work"/peer-*.log; do
            [ -s "$log" ] || continue
            echo "load: last lines of $log:" >&2
            tail -n 20 "$log" >&2
        done
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started_at=$SECONDS
loadavg_start="$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"
# Share of the machine's CPU time that was idle while the benchmark ran (others'
# work shows here: on a shared machine this is the context for every ratio).
idle_ticks() { awk '/^cpu / { print $5 + $6; t = 0; for (i = 2; i <= NF; i++) t += $i; print t }' /proc/stat | paste -sd' '; }
read -r idle_start total_start <<<"$(idle_ticks)"
log() { printf '[%3ds] %s\n' $((SECONDS - started_at)) "$*" >&2; }

bin="${bin_given:-$root/target/release/slotway}"
if [ "$build" = 1 ]; then
    log "building slotway (release)"
    (cd "$root" && cargo build --release --quiet --bin slotway)
fi
[ -x "$bin" ] || die "no binary at $bin"

for ((tries = 0; tries < 20; tries++)); do
    testbed_ports_free "$base_port" && break
    base_port=$((base_port + 10))
done
testbed_ports_free "$base_port" || die "no free testbed ports found"

# next_port FROM: sets `port_out` to the first free port at or after FROM, outside
# the testbed's range and not yet handed out. It sets a variable rather than
# printing: in a $(...) subshell it could not remember what it handed out.
taken_ports=" "
next_port() {
    local p="$1"
    while port_busy "$p" || [[ "$taken_ports" == *" $p "* ]] ||
        { [ "$p" -ge "$base_port" ] && [ "$p" -lt $((base_port + 6)) ]; } ||
        { [ "$p" -ge $((base_port + 10000)) ] && [ "$p" -lt $((base_port + 10006)) ]; }; do
        p=$((p + 1))
    done
    taken_ports+="$p "
    port_out="$p"
}

log "starting the cluster testbed on 127.0.0.1:$base_port-$((base_port + 5))"
testbed_started=1
"$testbed" start --base-port "$base_port" --dir "$work/testbed" >/dev/null
node_pids=()
for ((i = 0; i < 6; i++)); do node_pids+=("$(cat "$work/testbed/$((base_port + i))/redis.pid")"); done

# wait_for SECONDS WHAT PID COMMAND...: until COMMAND succeeds, while PID lives.
wait_for() {
    local seconds="$1" what="$2" pid="$3"
    shift 3
    for _ in $(seq $((seconds * 10))); do
        kill -0 "$pid" 2>/dev/null || die "$what exited during startup"
        "$@" && return 0
        sleep 0.1
    done
    die "$what did not start within $seconds s"
}
answers_set() { [ "$(redis-cli -p "$1" set slotway:load:probe 1 2>/dev/null)" = OK ]; }

# start_slotway NAME PORT THREADS [EXTRA ARGS...]: starts it and waits until it
# routes a SET; sets started_pid.
start_slotway() {
    local name="$1" p="$2" t="$3"
    shift 3
    local args=(--listen "127.0.0.1:$p" --cluster "127.0.0.1:$base_port" "$@")
    [ "$t" != 0 ] && args+=(--threads "$t")
    log "starting slotway ($name) ${args[*]}"
    "$bin" "${args[@]}" >"$work/slotway-$name.log" 2>&1 &
    started_pid=$!
    slotway_pids+=("$started_pid")
    # PING alone may be answered before the topology is loaded; a SET must reach a node.
    wait_for 15 "slotway ($name)" "$started_pid" answers_set "$p"
}

first_port="${port:-7390}"
sw_names=() sw_ports=() sw_pids=()
for t in "${threads[@]}"; do
    next_port "$first_port"; p="$port_out"
    [ -n "$port" ] && [ "${#sw_ports[@]}" = 0 ] && [ "$p" != "$port" ] && die "port $port is in use"
    name="t$t"
    [ "$t" = 0 ] && name="default"
    start_slotway "$name" "$p" "$t"
    sw_names+=("slotway $name") sw_ports+=("$p") sw_pids+=("$started_pid")
done

# start_twemproxy NAME: three standalone redis-servers and nutcracker over them.
# Sets started_pid (nutcracker), started_port and started_nodes (the servers' PIDs).
# The servers are set up like the testbed's nodes (no persistence, 127.0.0.1) but
# without cluster mode or replicas: twemproxy shards by key itself. hash_tag "{}"
# keeps {mget}:N on one server, as one slot is on one node for slotway.
start_twemproxy() {
    local name="$1" dir="$work/peer-$1" servers="" ports="" p pid i
    mkdir -p "$dir"
    started_nodes=()
    for i in 1 2 3; do
        next_port "$first_port"; p="$port_out"
        redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
            --logfile "$dir/redis-$p.log" >/dev/null 2>&1 &
        pid=$!
        peer_pids+=("$pid") started_nodes+=("$pid")
        wait_for 10 "redis-server for $name on port $p" "$pid" answers_set "$p"
        servers+="    - 127.0.0.1:$p:1 s$i"$'\n' ports+=" $p"
    done
    next_port "$first_port"; started_port="$port_out"
    # server_connections 1 and preconnect: one connection per server, opened at
    # start, as slotway keeps one per node; auto_eject off: a slow server stays.
    cat >"$dir/nutcracker.yml" <<CONF
$name:
  listen: 127.0.0.1:$started_port
  redis: true
  hash: fnv1a_64
  hash_tag: "{}"
  distribution: ketama
  server_connections: 1
  auto_eject_hosts: false
  preconnect: true
  servers:
$servers
CONF
    "${peer_exe[$name]}" -t -c "$dir/nutcracker.yml" >"$dir/conf-test.log" 2>&1 ||
        { cat "$dir/conf-test.log" >&2; die "nutcracker rejected $dir/nutcracker.yml"; }
    # Its stats server listens on 0.0.0.0:22222 by default: keep it on a free local port.
    next_port "$first_port"
    local stats_port="$port_out"
    log "starting $name (nutcracker) on port $started_port over redis-servers on ports$ports"
    "${peer_exe[$name]}" -c "$dir/nutcracker.yml" -s "$stats_port" -a 127.0.0.1 \
        -o "$work/peer-$name.log" -p "$dir/nutcracker.pid" >/dev/null 2>&1 &
    started_pid=$!
    peer_pids+=("$started_pid")
    wait_for 15 "$name" "$started_pid" answers_set "$started_port"
}

# loopback_only PORT: no socket listens on PORT at an address other than 127.0.0.1
# (/proc/net/tcp and tcp6: local address in hex, state 0A = LISTEN).
loopback_only() {
    local hex
    hex="$(printf '%04X' "$1")"
    ! awk -v port="$hex" '$4 == "0A" && $2 ~ (":" port "$") &&
        $2 != "0100007F:" port && $2 != "00000000000000000000000001000000:" port { found = 1 }
        END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# start_peer_process NAME CONFIG-DIR COMMAND...: runs COMMAND in CONFIG-DIR (its own
# log, stdin closed), waits until a SET through it is answered OK (the slot map is
# loaded: a cluster-aware proxy may answer before it has one), and checks it listens
# on 127.0.0.1 only. Sets started_pid; started_port must be set.
start_peer_process() {
    local name="$1" dir="$2"
    shift 2
    log "starting $name on 127.0.0.1:$started_port: $*"
    (cd "$dir" && exec "$@") </dev/null >"$work/peer-$name.log" 2>&1 &
    started_pid=$!
    peer_pids+=("$started_pid")
    wait_for 20 "$name" "$started_pid" answers_set "$started_port"
    loopback_only "$started_port" || die "$name listens on port $started_port beyond 127.0.0.1"
}

# The cluster-aware peers: in front of the testbed's cluster, as slotway is, given
# three of its nodes as seeds; one worker thread each; their "nodes" are the
# cluster's six. Sets started_pid, started_port and started_nodes.
start_predixy() {
    local name="$1" dir="$work/peer-$1" seeds="" i
    mkdir -p "$dir"
    next_port "$first_port"; started_port="$port_out"
    for ((i = 0; i < 3; i++)); do seeds+="        + 127.0.0.1:$((base_port + i))"$'\n'; done
    # Reads from primaries only (replica priorities 0), as slotway does by default.
    # Bind and WorkerThreads are in the file and on the command line (which wins).
    cat >"$dir/predixy.conf" <<CONF
Name slotway-load-$name
Bind 127.0.0.1:$started_port
WorkerThreads 1
ClusterServerPool {
    MasterReadPriority 100
    StaticSlaveReadPriority 0
    DynamicSlaveReadPriority 0
    Servers {
$seeds    }
}
CONF
    start_peer_process "$name" "$dir" "${peer_exe[$name]}" "$dir/predixy.conf" \
        "--Bind=127.0.0.1:$started_port" --WorkerThreads=1
    started_nodes=("${node_pids[@]}")
}

start_corvus() {
    local name="$1" dir="$work/peer-$1"
    mkdir -p "$dir"
    next_port "$first_port"; started_port="$port_out"
    # `bind` is a port only: the address is compiled in (127.0.0.1, checked above).
    # Reads from primaries (read-strategy master, the default); no statsd.
    cat >"$dir/corvus.conf" <<CONF
bind $started_port
node 127.0.0.1:$base_port,127.0.0.1:$((base_port + 1)),127.0.0.1:$((base_port + 2))
thread 1
loglevel warn
syslog 0
CONF
    start_peer_process "$name" "$dir" "${peer_exe[$name]}" "$dir/corvus.conf"
    started_nodes=("${node_pids[@]}")
}

# Per peer: its name (the report's target), port, proxy PID and its nodes' PIDs.
peer_names=() peer_ports=() peer_proxy_pids=() peer_node_pids=() peer_versions=()
for t in "${peers[@]}"; do
    "start_$t" "$t"
    peer_names+=("$t") peer_ports+=("$started_port") peer_proxy_pids+=("$started_pid")
    peer_node_pids+=("${started_nodes[*]}")
    # The version it reports (INFO for the proxies that answer it, else its binary).
    v=""
    case "$t" in
        predixy) v="$(redis-cli -p "$started_port" info 2>/dev/null | tr -d '\r' | sed -n 's/^Version:/predixy /p')" || true ;;
        corvus) v="$(redis-cli -p "$started_port" info 2>/dev/null | tr -d '\r' | sed -n 's/^version:/corvus /p')" || true ;;
        twemproxy) v="nutcracker $(nutcracker -V 2>&1 | sed -n 's/.*nutcracker-\([0-9.]*\).*/\1/p')" || true ;;
    esac
    peer_versions+=("${v:-$t}")
done

clk_tck="$(getconf CLK_TCK)"

# utime+stime of processes in clock ticks. Fields are counted after the last ')',
# because the command name in field 2 may itself contain spaces or parentheses.
cpu_ticks() {
    local pid stat rest total=0
    for pid in "$@"; do
        stat="$(cat "/proc/$pid/stat")" || die "process $pid is gone"
        rest="${stat##*) }"
        # rest starts at field 3 (state); utime and stime are fields 14 and 15.
        total=$((total + $(awk '{ print $12 + $13 }' <<<"$rest")))
    done
    echo "$total"
}

# CPU ticks (user+system) of this script's waited-for children (redis-benchmark,
# through `timeout`) into $children. From bash's `times`, whose second line is
# "XmY.YYYs XmY.YYYs"; it must run in this shell: a $(...) subshell has no children.
children_ticks() {
    times >"$work/times.txt"
    children="$(awk -v hz="$clk_tck" 'NR == 2 {
        t = 0
        for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
        printf "%d\n", t * hz + 0.5 }' "$work/times.txt")"
}

# Busy and total ticks of the whole machine (all cores), from /proc/stat: busy is
# user+nice+system+steal. Interrupt time is left out of both sides: loopback TCP
# runs much of its receive path there, and it is not charged to any process.
machine_ticks() {
    awk '/^cpu / { print $2 + $3 + $4 + $9, $2 + $3 + $4 + $5 + $6 + $9 }' /proc/stat
}

# Peak RSS (KiB) since the last reset_peak; reset_peak needs Linux >= 4.0 and
# permission to write the process's clear_refs (own processes).
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || peak_is_lifetime=1; }
peak_is_lifetime=0
peak_rss() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# Parse a redis-benchmark (non-CSV, --precision 3) output: "rps p50 p99 p99.9" in ms.
parse_bench() {
    tr '\r' '\n' <"$1" | awk '
        /^[0-9.]+% <= [0-9.]+ milliseconds/ && p999 == "" { pct = $1; sub(/%/, "", pct); if (pct + 0 >= 99.9) p999 = $3 }
        /throughput summary:/ { rps = $3 }
        /avg +min +p50 +p95 +p99 +max/ { getline; p50 = $3; p99 = $5 }
        END { if (rps == "") exit 1; print rps, p50, p99, (p999 == "" ? p99 : p999) }'
}

# Lines that report errors (redis-benchmark prints at most one "Error from server" a second).
errors_in() { tr '\r' '\n' <"$1" | grep -ciE '^error|error from server|connection (refused|reset)|closed' || true; }

mget_args() { # mget_args KEY-PREFIX: MGET and ten random keys
    printf 'MGET'
    for _ in 1 2 3 4 5 6 7 8 9 10; do printf ' %s__rand_int__' "$1"; done
}

raw_file="$work/raw.tsv"
printf 'case\ttest\tpipeline\tclients\trequests\ttarget\tround\trps\tp50_ms\tp99_ms\tp999_ms\tproxy_cpu_s_per_m\tnodes_cpu_s_per_m\tall_cpu_s_per_m\tothers_pct\tpeak_rss_kib\terrors\n' >"$raw_file"

# Every process of ours besides redis-benchmark: the cluster's nodes, each slotway,
# each peer and its servers. Idle ones cost next to nothing, but their CPU is ours,
# not other people's. Each once: the cluster-aware peers' nodes are the cluster's.
# (peer_node_pids entries are space-separated PID lists.)
mapfile -t our_pids < <(printf '%s\n' "${node_pids[@]}" "${sw_pids[@]}" "${peer_proxy_pids[@]}" "${peer_node_pids[@]}" |
    tr ' ' '\n' | sed '/^$/d' | sort -un)

per_m() { # per_m TICKS N: CPU seconds per million requests (= CPU us per request)
    awk -v t="$1" -v hz="$clk_tck" -v n="$2" 'BEGIN { printf "%.3f", t / hz / (n / 1e6) }'
}

# bench CASE TEST P C N TARGET ROUND TARGET-ARGS... -- COMMAND-ARGS...
# One redis-benchmark run; appends a line to the raw file. TARGET is direct, one
# of sw_names or one of peer_names: the proxy's CPU and peak RSS are measured for
# the last two, and "nodes" are the cluster's six or, for a peer, its own servers.
bench() {
    local case="$1" test="$2" p="$3" c="$4" n="$5" target="$6" round="$7"
    shift 7
    local target_args=() cmd_args=() file="$work/run.out" proxy_pid="" nodes=("${node_pids[@]}")
    while [ "$1" != -- ]; do target_args+=("$1"); shift; done
    shift
    cmd_args=("$@")
    local i
    for i in "${!sw_names[@]}"; do [ "${sw_names[$i]}" = "$target" ] && proxy_pid="${sw_pids[$i]}"; done
    for i in "${!peer_names[@]}"; do
        if [ "${peer_names[$i]}" = "$target" ]; then
            proxy_pid="${peer_proxy_pids[$i]}"
            read -r -a nodes <<<"${peer_node_pids[$i]}"
        fi
    done
    [ -n "$proxy_pid" ] && reset_peak "$proxy_pid"
    local proxy_before=0 proxy_after=0 nodes_before nodes_after bench_before bench_after all_before all_after
    local busy_before total_before busy_after total_after
    [ -n "$proxy_pid" ] && proxy_before="$(cpu_ticks "$proxy_pid")"
    nodes_before="$(cpu_ticks "${nodes[@]}")"
    all_before="$(cpu_ticks "${our_pids[@]}")"
    children_ticks
    bench_before="$children"
    read -r busy_before total_before <<<"$(machine_ticks)"
    if ! timeout "$run_timeout" redis-benchmark "${target_args[@]}" -c "$c" -P "$p" -n "$n" \
        --precision 3 "${cmd_args[@]}" >"$file" 2>&1; then
        log "redis-benchmark ($case, $target) failed or timed out:"
        tr '\r' '\n' <"$file" | tail -n 5 >&2
    fi
    read -r busy_after total_after <<<"$(machine_ticks)"
    children_ticks
    bench_after="$children"
    nodes_after="$(cpu_ticks "${nodes[@]}")"
    all_after="$(cpu_ticks "${our_pids[@]}")"
    [ -n "$proxy_pid" ] && proxy_after="$(cpu_ticks "$proxy_pid")"
    # Everything this benchmark ran (client, nodes, slotways, peers) per request, and
    # the share of the machine that other people's work took meanwhile.
    local ours=$((bench_after - bench_before + all_after - all_before))
    local all_cpu others
    all_cpu="$(per_m "$ours" "$n")"
    others="$(awk -v b=$((busy_after - busy_before)) -v o="$ours" -v t=$((total_after - total_before)) \
        'BEGIN { x = (t > 0) ? (b - o) * 100 / t : 0; printf "%.0f", (x < 0 ? 0 : x) }')"
    local parsed
    parsed="$(parse_bench "$file")" || parsed="0 0 0 0"
    local rps p50 p99 p999
    read -r rps p50 p99 p999 <<<"$parsed"
    local proxy_cpu="" peak="" errs
    if [ -n "$proxy_pid" ]; then
        proxy_cpu="$(per_m $((proxy_after - proxy_before)) "$n")"
        peak="$(peak_rss "$proxy_pid")"
    fi
    local nodes_cpu
    nodes_cpu="$(per_m $((nodes_after - nodes_before)) "$n")"
    errs="$(errors_in "$file")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$test" "$p" "$c" "$n" \
        "$target" "$round" "$rps" "$p50" "$p99" "$p999" "$proxy_cpu" "$nodes_cpu" "$all_cpu" "$others" "$peak" "$errs" >>"$raw_file"
    log "  $case  $target  round $round: $(printf '%.0f' "$rps") ops/s  p50 $p50  p99 $p99  p99.9 $p999 ms${proxy_cpu:+  CPU $proxy_cpu s/1M}  all $all_cpu s/1M  others ${others}%${errs:+ }$([ "$errs" != 0 ] && echo "ERRORS: $errs")"
}

requests_for() { # requests_for P: a run long enough to be read, short enough for the budget
    if [ "$1" -le 1 ]; then echo "$requests"
    elif [ "$1" -le 16 ]; then echo $((requests * 5))
    else echo $((requests * 10)); fi
}

# The direct side for MGET in one slot: the node that owns {mget}'s slot.
mget_tag='{mget}:'
mget_node_port="$base_port"
moved="$(redis-cli -p "$base_port" get "${mget_tag}probe" 2>&1 || true)"
if [[ "$moved" =~ MOVED\ [0-9]+\ [0-9.]*:([0-9]+) ]]; then mget_node_port="${BASH_REMATCH[1]}"; fi

# Keys for GET and MGET to find: the keys slotway's runs use (key:N, {mget}:N) and
# the keys redis-benchmark --cluster uses (key:{tag}:N).
value="$(head -c "$data_size" /dev/zero | tr '\0' x)"
log "filling the keyspace ($keyspace keys per pattern)"
fill_n=$((keyspace * 3))
# fill_through NAME PORT: key:N and {mget}:N through a proxy (a slotway or a peer).
fill_through() {
    timeout "$run_timeout" redis-benchmark -p "$2" -c 50 -P 64 -n "$fill_n" -r "$keyspace" -q \
        SET 'key:__rand_int__' "$value" >/dev/null 2>&1 || die "filling key:N through $1 failed"
    timeout "$run_timeout" redis-benchmark -p "$2" -c 50 -P 64 -n "$fill_n" -r "$keyspace" -q \
        SET "${mget_tag}__rand_int__" "$value" >/dev/null 2>&1 || die "filling {mget}:N through $1 failed"
}
fill_through slotway "${sw_ports[0]}"
# twemproxy has servers of its own: the same keys there, so its GETs hit too (the
# cluster-aware peers read the cluster slotway filled).
for i in "${!peer_names[@]}"; do
    if [ "${peer_names[$i]}" = twemproxy ]; then fill_through "${peer_names[$i]}" "${peer_ports[$i]}"; fi
done
timeout "$run_timeout" redis-benchmark --cluster -p "$base_port" -c 50 -P 64 -n "$fill_n" -r "$keyspace" \
    -d "$data_size" -t set -q >/dev/null 2>&1 || die "filling key:{tag}:N through the cluster failed"

# run_case CASE TEST P C N DIRECT-ARGS(or "none") SLOTWAY-CMD...: rounds of direct,
# then each slotway, then each peer.
run_case() {
    local case="$1" test="$2" p="$3" c="$4" n="$5" direct="$6"
    shift 6
    local round i
    log "$case (-P $p -c $c, $n requests)"
    for ((round = 1; round <= repeat; round++)); do
        case "$direct" in
            none) ;;
            cluster) bench "$case" "$test" "$p" "$c" "$n" direct "$round" --cluster -h 127.0.0.1 -p "$base_port" -- "$@" ;;
            node:*) bench "$case" "$test" "$p" "$c" "$n" direct "$round" -h 127.0.0.1 -p "${direct#node:}" -- "$@" ;;
        esac
        for i in "${!sw_names[@]}"; do
            bench "$case" "$test" "$p" "$c" "$n" "${sw_names[$i]}" "$round" -h 127.0.0.1 -p "${sw_ports[$i]}" -- "$@"
        done
        for i in "${!peer_names[@]}"; do
            bench "$case" "$test" "$p" "$c" "$n" "${peer_names[$i]}" "$round" -h 127.0.0.1 -p "${peer_ports[$i]}" -- "$@"
        done
    done
}

bench_args=(-r "$keyspace" -d "$data_size")

# Latency slotway adds: one client, one request at a time.
if [[ " ${tests[*]} " == *" get "* ]]; then
    run_case "GET latency" get 1 1 $((requests / 5)) cluster "${bench_args[@]}" -t get
fi
for c in "${clients[@]}"; do
    for p in "${pipelines[@]}"; do
        for t in "${tests[@]}"; do
            case "$t" in
                get | set) run_case "${t^^}" "$t" "$p" "$c" "$(requests_for "$p")" cluster "${bench_args[@]}" -t "$t" ;;
            esac
        done
    done
done
if [[ " ${tests[*]} " == *" mget "* ]]; then
    c="${clients[0]}"
    for p in "${pipelines[@]}"; do
        [ "$p" -le 16 ] || continue
        n=$(($(requests_for "$p") / 2))
        # shellcheck disable=SC2046 # word splitting of the generated MGET is intended
        run_case "MGET 10 keys, 1 slot" mget "$p" "$c" "$n" "node:$mget_node_port" -r "$keyspace" $(mget_args "$mget_tag")
        # shellcheck disable=SC2046
        run_case "MGET 10 keys, 10 slots" mget "$p" "$c" "$n" none -r "$keyspace" $(mget_args 'key:')
    done
fi

# MSET of ten keys: through a proxy ten random key:N (across slots: split per slot,
# replies merged); direct, redis-benchmark --cluster's key:{tag}:N, one slot.
if [[ " ${tests[*]} " == *" mset "* ]]; then
    c="${clients[0]}"
    for p in "${pipelines[@]}"; do
        [ "$p" -le 16 ] || continue
        run_case "MSET 10 keys" mset "$p" "$c" $(($(requests_for "$p") / 2)) cluster "${bench_args[@]}" -t mset
    done
fi

profile_file=""
if [ "$profile" = 1 ]; then
    profile_file="$work/profile.txt"
    log "profiling ${sw_names[0]} under GET -P 16 -c 50 (perf record -g, 10 s)"
    redis-benchmark -h 127.0.0.1 -p "${sw_ports[0]}" -c 50 -P 16 -n 100000000 -r "$keyspace" -d "$data_size" \
        -t get -q >/dev/null 2>&1 &
    bench_pid=$!
    sleep 1
    sw_before="$(cpu_ticks "${sw_pids[0]}")"
    req_before="$(redis-cli -p "${sw_ports[0]}" info stats | tr -d '\r' | sed -n 's/^total_commands_processed://p')"
    timeout 60 perf record -q -F 999 -g -p "${sw_pids[0]}" -o "$work/perf.data" -- sleep 10 >/dev/null 2>&1 ||
        log "perf record failed (perf_event_paranoid? try as root or sysctl kernel.perf_event_paranoid=1)"
    req_after="$(redis-cli -p "${sw_ports[0]}" info stats | tr -d '\r' | sed -n 's/^total_commands_processed://p')"
    sw_after="$(cpu_ticks "${sw_pids[0]}")"
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
    bench_pid=""
    if [ -s "$work/perf.data" ]; then
        {
            awk -v t=$((sw_after - sw_before)) -v hz="$clk_tck" -v a="${req_before:-0}" -v b="${req_after:-0}" 'BEGIN {
                n = b - a
                printf "profiled: %.1f CPU s of slotway over 10 s, %d requests (%.0f/s), %.2f CPU s per 1M requests\n",
                    t / hz, n, n / 10, (n > 0 ? t / hz / (n / 1e6) : 0) }'
            echo
            echo "by binary (share of slotway's samples):"
            # awk reads to the end: `head` would SIGPIPE perf, and pipefail would end the script.
            timeout 120 perf report -i "$work/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
                awk '/^ +[0-9]/ && n++ < 6' || true
            echo
            echo "top symbols by own samples (user space [.], kernel [k]):"
            timeout 120 perf report -i "$work/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null |
                awk '/^ +[0-9]/ && n++ < 40' || true
        } >"$profile_file"
        cat "$profile_file" >&2
    fi
fi

# instructions_for LABEL P N: slotway --threads 1 under callgrind, instrumented only
# while redis-benchmark runs N GETs at -P P -c 50 (after a warm-up of the same);
# appends "instructions per request" and the top inclusive functions to $instr_file.
instructions_for() {
    local label="$1" p="$2" n="$3" cport vg_pid out before after total
    next_port "$first_port"; cport="$port_out"
    out="$work/callgrind.$label"
    # The slow log off: under callgrind every command takes over 10 ms end to end, so
    # all of them would be logged, which never happens at the speed measured here.
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out.%p" \
        "$bin" --listen "127.0.0.1:$cport" --cluster "127.0.0.1:$base_port" --threads 1 \
        --slowlog-log-slower-than -1 \
        >"$work/slotway-callgrind-$label.log" 2>&1 &
    vg_pid=$!
    slotway_pids+=("$vg_pid")
    for _ in $(seq 240); do
        [ "$(redis-cli -p "$cport" set slotway:load:probe 1 2>/dev/null)" = OK ] && break
        sleep 0.25
    done
    local bench=(redis-benchmark -h 127.0.0.1 -p "$cport" -t get -c 50 -P "$p" -r "$keyspace" -d "$data_size" -q)
    timeout 60 callgrind_control -i on "$vg_pid" >/dev/null 2>&1 || { log "callgrind_control failed"; stop_pid "$vg_pid"; return; }
    timeout "$run_timeout" "${bench[@]}" -n $((n / 5)) >/dev/null 2>&1 || true
    timeout 60 callgrind_control -z "$vg_pid" >/dev/null 2>&1
    before="$(redis-cli -p "$cport" info stats | tr -d '\r' | sed -n 's/^total_commands_processed://p')"
    timeout "$run_timeout" "${bench[@]}" -n "$n" >/dev/null 2>&1 || true
    after="$(redis-cli -p "$cport" info stats | tr -d '\r' | sed -n 's/^total_commands_processed://p')"
    timeout 60 callgrind_control -d "$vg_pid" >/dev/null 2>&1
    stop_pid "$vg_pid"
    local dump
    # The dump asked for above is "<out>.<pid>.1"; the one written at exit is not it.
    dump="$(ls "$out".*.1 2>/dev/null | head -n 1)"
    [ -s "$dump" ] || { log "no callgrind dump for $label"; return; }
    n=$((after - before - 1)) # the INFO that read `before`
    total="$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')"
    {
        echo "GET -P $p -c 50, $n requests: $((total / n)) user-space instructions per request"
        echo "  inclusive, per request (function: instructions):"
        callgrind_annotate --auto=no --threshold=100 "$dump" 2>/dev/null | awk -v n="$n" '
            $2 ~ /^\(/ && /malloc\.c:|arena\.c:/ { gsub(",", "", $1); t += $1 }
            END { printf "    %6d  glibc malloc/free (own instructions)\n", t / n }'
        callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$dump" 2>/dev/null |
            awk -v n="$n" '/^ *[0-9,]+ \( *[0-9.]+%\)  / {
                # "1,234 ( 5.67%)  file:function [binary]": the function, without file and binary.
                count = $1; gsub(",", "", count)
                name = $0; sub(/^[^)]*\)  /, "", name); sub(/ \[[^]]*\]$/, "", name); sub(/^[^:]*:/, "", name)
                if (name ~ /^slotway::/ && !seen[name]++ && shown++ < 14) printf "    %6d  %s\n", count / n, name
            }'
        echo
    } >>"$instr_file"
}

instr_file=""
if [ "$instructions" = 1 ]; then
    instr_file="$work/instructions.txt"
    log "counting instructions per request under callgrind (slotway --threads 1)"
    instructions_for p16 16 $((requests))
    instructions_for p1 1 $((requests / 5))
    cat "$instr_file" >&2
fi

conns_file=""
if [ "$conns" -gt 0 ]; then
    conns_file="$work/conns.txt"
    next_port "$first_port"; cp_port="$port_out"
    start_slotway conns "$cp_port" "${threads[-1]}" --maxclients $((conns + 100))
    conns_pid="$started_pid"
    log "memory: $conns connections to a fresh slotway (${threads[-1]} threads), idle, then active for ${conns_seconds}s"
    if timeout $((conns_seconds + 180)) python3 "$here/conns.py" --port "$cp_port" --pid "$conns_pid" \
        --conns "$conns" --active-seconds "$conns_seconds" --keyspace "$keyspace" >"$conns_file"; then
        :
    else
        log "the connection test failed"
        conns_file=""
    fi
    stop_pid "$conns_pid"
fi

commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$root" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || commit+="+dirty"
loadavg="$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"
read -r idle_end total_end <<<"$(idle_ticks)"
idle_pct=$(( (idle_end - idle_start) * 100 / (total_end - total_start + 1) ))
meta="date=$(date -u +%Y-%m-%dT%H:%MZ) commit=$commit cores=$(nproc) threads=$threads_list repeat=$repeat"
meta+=" requests=$requests data=${data_size}B keyspace=$keyspace redis=$(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')"
if [ "${#peer_versions[@]}" -gt 0 ]; then
    meta+=" peers=$(IFS=,; echo "${peer_versions[*]}" | tr ' ' '-') peer_threads=1"
fi
meta+=" loadavg_start=$loadavg_start loadavg_end=$loadavg machine_idle=${idle_pct}% peak_rss_per_run=$([ "$peak_is_lifetime" = 1 ] && echo lifetime || echo reset)"
log "done in $((SECONDS - started_at)) s"

report_args=(--raw "$raw_file" --meta "$meta")
[ -n "$conns_file" ] && report_args+=(--conns "$conns_file")
[ -n "$profile_file" ] && report_args+=(--profile "$profile_file")
[ -n "$instr_file" ] && [ -s "$instr_file" ] && report_args+=(--instructions "$instr_file")
echo
python3 "$here/report.py" "${report_args[@]}" --format text
if [ -n "$out" ]; then
    python3 "$here/report.py" "${report_args[@]}" --format markdown >"$out"
    log "report written to $out"
fi
if [ -n "$raw" ]; then
    cp "$raw_file" "$raw"
    log "per-run measurements written to $raw"
fi
