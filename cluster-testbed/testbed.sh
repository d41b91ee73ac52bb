#!/usr/bin/env bash
# A six-node Redis Cluster (3 primaries, 3 replicas) as local processes on
# 127.0.0.1, for the integration tests, CI and hand testing.
#
#   testbed.sh start  [--base-port N] [--dir DIR] [--node-timeout MS] [--tls CERTDIR]
#                     [--requirepass PW | --acl-user NAME:PW] [--server BIN]
#   testbed.sh stop   [--dir DIR] [--clean]
#   testbed.sh status [--dir DIR]
#
# `start` returns only once every node agrees on the whole topology, so a test
# that runs right after it never races the gossip.
#
# --tls CERTDIR: TLS only (`port 0`, `tls-port`), with TLS on the cluster bus and
# for replication too. CERTDIR holds ca.crt, node.crt and node.key (node.crt is
# also the nodes' client certificate, so it must allow client and server use).
#
# --requirepass PW: every node wants `AUTH PW` (`requirepass`; `masterauth` so
# replicas can sync). --acl-user NAME:PW: every node has the ACL user NAME with
# every permission, the `default` user is off (nothing works without logging in
# as NAME), and replicas sync as NAME (`masteruser`/`masterauth`).
# Like --tls, the login is remembered in DIR, so stop and status need no option.
#
# --server BIN: the server binary the nodes run (default: redis-server on PATH),
# e.g. a Valkey or Redis 8 from ensure-server.sh. Remembered in DIR as well: stop
# tells a live node from a reused PID by the binary's name in its command line.
# redis-cli (Debian's 7.0) creates the cluster and runs the checks whatever BIN is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODES=6
BUS_OFFSET=10000 # Redis's fixed offset from a node's port to its cluster bus port

die() { echo "testbed: $*" >&2; exit 1; }
usage() { sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd="${1:-}"
[ -n "$cmd" ] || usage
shift
base_port=7000
dir="${TESTBED_DIR:-$here/run}"
node_timeout=5000
clean=0
certs=""
login="" # "requirepass PW" or "acl-user NAME:PW"
server="" # the server binary, an absolute path once resolved
while [ $# -gt 0 ]; do
    case "$1" in
        --base-port) base_port="${2:?}"; shift 2 ;;
        --dir) dir="${2:?}"; shift 2 ;;
        --node-timeout) node_timeout="${2:?}"; shift 2 ;;
        --clean) clean=1; shift ;;
        --tls) certs="$(cd "${2:?}" && pwd)"; shift 2 ;;
        --requirepass) login="requirepass ${2:?}"; shift 2 ;;
        --acl-user) login="acl-user ${2:?}"; shift 2 ;;
        --server) server="${2:?}"; shift 2 ;;
        *) usage ;;
    esac
done

# A TLS testbed remembers its certificates, so stop and status need no --tls.
tls_args=()
load_tls() {
    [ -z "$certs" ] && [ -f "$dir/tls-certs" ] && certs="$(cat "$dir/tls-certs")"
    [ -z "$certs" ] && return 0
    tls_args=(--tls --cacert "$certs/ca.crt" --cert "$certs/node.crt" --key "$certs/node.key")
}

# The server binary: --server, else what this testbed remembers, else
# redis-server. Stop needs only its name, so it works even if the binary is gone.
load_server() {
    [ -z "$server" ] && [ -f "$dir/server" ] && server="$(cat "$dir/server")"
    [ -n "$server" ] || server=redis-server
    server_name="$(basename "$server")"
}

# For start: an absolute path (nodes daemonize; stop may run with another PATH).
resolve_server() {
    if [[ "$server" != */* ]]; then
        server="$(command -v "$server")" || die "no $server on PATH"
    fi
    { [ -f "$server" ] && [ -x "$server" ]; } || die "--server: $server is not an executable"
    server="$(cd "$(dirname "$server")" && pwd)/$(basename "$server")"
}

# A testbed with a login remembers it too; auth_args is how redis-cli logs in.
auth_args=()
login_user=""
login_pass=""
load_login() {
    [ -z "$login" ] && [ -f "$dir/login" ] && login="$(cat "$dir/login")"
    [ -z "$login" ] && return 0
    local mode="${login%% *}" value="${login#* }"
    # Words in redis.conf and on redis-cli's command line: no spaces or quotes.
    [[ "$value" =~ ^[^[:space:]\"\']+$ ]] || die "--$mode: no spaces or quotes allowed in '$value'"
    case "$mode" in
        requirepass)
            login_pass="$value"
            auth_args=(-a "$login_pass" --no-auth-warning) ;;
        acl-user)
            [[ "$value" == ?*:?* ]] || die "--acl-user wants NAME:PW, got '$value'"
            login_user="${value%%:*}"
            login_pass="${value#*:}"
            auth_args=(--user "$login_user" --pass "$login_pass" --no-auth-warning) ;;
        *) die "unknown login '$login' in $dir/login" ;;
    esac
}

# The login lines of a node's redis.conf.
login_conf() {
    case "${login%% *}" in
        requirepass) printf 'requirepass %s\nmasterauth %s\n' "$login_pass" "$login_pass" ;;
        acl-user) printf 'user default off\nuser %s on >%s ~* &* +@all\nmasteruser %s\nmasterauth %s\n' \
            "$login_user" "$login_pass" "$login_user" "$login_pass" ;;
    esac
}

cli() { redis-cli -h 127.0.0.1 -p "$1" "${tls_args[@]}" "${auth_args[@]}" "${@:2}" 2>/dev/null; }

# Microseconds since the epoch, from bash itself: no subprocess per poll.
now_us() { local t="${EPOCHREALTIME/./}"; echo "${t#0}"; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll every 100 ms, fail loudly on timeout.
wait_for() {
    local secs="$1" what="$2"; shift 2
    local deadline=$(( $(now_us) + secs * 1000000 ))
    until "$@"; do
        [ "$(now_us)" -lt "$deadline" ] || die "timed out after ${secs}s waiting for $what"
        sleep 0.1
    done
}

# Anything accepting connections? /dev/tcp avoids depending on ss/netstat.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Node dirs of an existing testbed, one per port.
node_dirs() { find "$dir" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' 2>/dev/null | sort; }

# Is PID still one of our nodes? Servers keep their binary's name in the process
# title ("redis-server 127.0.0.1:7000 [cluster]", "valkey-server ...").
is_server() { grep -qF -- "$server_name" "/proc/$1/cmdline" 2>/dev/null; }

# The PID in a pidfile, only if it is still our server (PIDs get reused).
live_pid() {
    local pid
    pid="$(cat "$1/redis.pid" 2>/dev/null)" || return 1
    [ -n "$pid" ] && is_server "$pid" && echo "$pid"
}

# Up means: the server answering on the port is the one this testbed started.
# Checking the pid, not just PING, matters when parallel test processes race
# for the same ports: the loser's redis-server exits, and a PING would be
# answered by the winner's node.
node_up() {
    local port="$1" nd="$dir/$1" pid logpid
    if pid="$(live_pid "$nd")"; then
        [ "$(cli "$port" info server | tr -d '\r' | sed -n 's/^process_id://p')" = "$pid" ]
        return
    fi
    # No pidfile yet: the server may still be starting, or may have died (bind failure).
    logpid="$(sed -n 's/^\([0-9]\{1,\}\):.*/\1/p' "$nd/redis.log" 2>/dev/null | tail -1)"
    if [ -n "$logpid" ] && ! kill -0 "$logpid" 2>/dev/null; then
        tail -n 5 "$nd/redis.log" >&2
        die "$server_name on port $port exited during startup"
    fi
    return 1
}

# Converged means every node sees the same finished cluster.
node_converged() {
    local port="$1" info nodes
    info="$(cli "$port" cluster info | tr -d '\r')" || return 1
    grep -qx 'cluster_state:ok' <<<"$info" || return 1
    grep -qx 'cluster_slots_assigned:16384' <<<"$info" || return 1
    grep -qx 'cluster_slots_ok:16384' <<<"$info" || return 1
    grep -qx "cluster_known_nodes:$NODES" <<<"$info" || return 1
    nodes="$(cli "$port" cluster nodes)" || return 1
    # Field 3 is the flags; a node still in handshake or suspected failing is not settled.
    awk -v want=$((NODES / 2)) '
        $3 ~ /handshake|fail|noaddr/ { bad = 1 }
        $3 ~ /master/ { m++ }
        $3 ~ /slave/ && $4 != "-" { s++ }
        END { exit !(!bad && m == want && s == want) }' <<<"$nodes" || return 1
    # Replicas must have finished their first sync, or replica reads race it.
    if cli "$port" role | head -1 | grep -qx slave; then
        cli "$port" info replication | tr -d '\r' | grep -qx 'master_link_status:up' || return 1
    fi
}

all_converged() {
    local p
    for p in "${ports[@]}"; do node_converged "$p" || return 1; done
}

start() {
    "$here/ensure-redis.sh"
    ports=()
    local i p
    for ((i = 0; i < NODES; i++)); do ports+=($((base_port + i))); done
    for p in "${ports[@]}"; do
        port_busy "$p" && die "port $p is in use"
        port_busy $((p + BUS_OFFSET)) && die "cluster bus port $((p + BUS_OFFSET)) is in use"
    done

    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)" # redis-server needs absolute paths once daemonized
    rm -f "$dir/tls-certs" "$dir/login" "$dir/server"
    load_server
    resolve_server
    echo "$server" >"$dir/server"
    load_login
    # Only the user running the testbed may read the password.
    [ -z "$login" ] || (umask 077 && echo "$login" >"$dir/login")
    if [ -n "$certs" ]; then
        for f in ca.crt node.crt node.key; do [ -r "$certs/$f" ] || die "--tls: cannot read $certs/$f"; done
        echo "$certs" >"$dir/tls-certs"
    fi
    load_tls
    # A half-started testbed is useless and holds ports: take it down on any failure.
    started=() # global: the EXIT trap outlives this function
    for p in "${ports[@]}"; do started+=("$dir/$p"); done
    trap 'stop_nodes "${started[@]}"' EXIT
    for p in "${ports[@]}"; do
        local nd="$dir/$p"
        # A leftover nodes.conf would make the node refuse to join a new cluster.
        rm -rf "$nd" && mkdir -p "$nd"
        if [ -n "$certs" ]; then
            listen="port 0
tls-port $p
tls-cert-file $certs/node.crt
tls-key-file $certs/node.key
tls-ca-cert-file $certs/ca.crt
tls-cluster yes
tls-replication yes"
        else
            listen="port $p"
        fi
        cat >"$nd/redis.conf" <<CONF
$listen
bind 127.0.0.1
dir $nd
daemonize yes
pidfile $nd/redis.pid
logfile $nd/redis.log
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout $node_timeout
appendonly no
save ""
# Tests use DEBUG (e.g. DEBUG SLEEP) to script slow or failing nodes.
enable-debug-command local
# The default 5 s delay before a diskless full sync would dominate startup.
repl-diskless-sync-delay 0
$(login_conf)
CONF
        "$server" "$nd/redis.conf"
    done
    for p in "${ports[@]}"; do wait_for 10 "$server_name on port $p" node_up "$p"; done

    local addrs=()
    for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
    # redis-cli prints a long plan; keep it for debugging instead of flooding test output.
    if ! redis-cli "${tls_args[@]}" "${auth_args[@]}" --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
        >"$dir/cluster-create.log" 2>&1; then
        cat "$dir/cluster-create.log" >&2
        die "redis-cli --cluster create failed"
    fi
    wait_for 30 "all nodes to agree on the cluster (3 primaries, 3 replicas, 16384 slots)" all_converged

    trap - EXIT
    printf '%s\n' "${addrs[@]}"
}

# stop_nodes NODE_DIR...: TERM the nodes, then KILL the ones that linger.
stop_nodes() {
    local nd pid pids=()
    for nd in "$@"; do
        if pid="$(live_pid "$nd")"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    # Bounded wait, then KILL: a stuck node must not hang the test that owns it.
    local deadline=$(( $(now_us) + 5000000 ))
    # Liveness is judged by /proc/PID/cmdline: it empties once the process is a
    # zombie (a container's PID 1 may never reap it) and changes if the PID is reused.
    for pid in "${pids[@]}"; do
        while is_server "$pid" && [ "$(now_us)" -lt "$deadline" ]; do sleep 0.05; done
        if is_server "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
}

stop() {
    local nd nds=()
    while read -r nd; do [ -n "$nd" ] && nds+=("$nd"); done < <(node_dirs)
    [ "${#nds[@]}" -eq 0 ] || load_server
    stop_nodes "${nds[@]}"
    if [ "$clean" = 1 ]; then
        while read -r nd; do [ -n "$nd" ] && rm -rf "$nd"; done < <(node_dirs)
        rm -f "$dir/cluster-create.log" "$dir/tls-certs" "$dir/login" "$dir/server"
        rmdir "$dir" 2>/dev/null || true
    fi
}

status() {
    local nd port pid state role
    [ -n "$(node_dirs)" ] || die "no testbed in $dir"
    load_server
    load_tls
    load_login
    while read -r nd; do
        port="$(basename "$nd")"
        if pid="$(live_pid "$nd")"; then
            role="$(cli "$port" role | head -1)"
            state="$(cli "$port" cluster info | tr -d '\r' | sed -n 's/^cluster_state://p')"
            echo "127.0.0.1:$port pid=$pid role=${role:-?} cluster_state=${state:-?}"
        else
            echo "127.0.0.1:$port down"
        fi
    done < <(node_dirs)
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) usage ;;
esac
