#!/usr/bin/env bash
# Every test: unit tests, property tests, and integration tests against real
# six-node Redis Clusters that the tests start themselves (on free ports, in
# temporary folders) and stop again.
#
#   ./test.sh [extra arguments for cargo nextest / cargo test]
#
# Installs redis-server/redis-tools if missing, and Valkey 8.1 and Redis 8.0 into
# target/servers/ (cluster-testbed/ensure-server.sh). Uses cargo-nextest when
# present (one process per test), else cargo test.
#
# The suite runs three times, once per server line slotway is tested against: every
# test against Redis 7.0 (the default), then every test but tests/tls.rs against
# Valkey 8.1 and against Redis 8.0 (their builds here have no TLS, so the TLS
# clusters cannot start). On a 2-core machine each run takes 2 to 3 minutes and
# test.sh about 6 in all (after a first build), so the whole suite runs on each
# server rather than a subset. Extra arguments go to every run (a filter of your
# own then replaces the TLS exclusion: leave out binary(tls) yourself).
# SLOTWAY_TEST_SERVER=valkey-8.1 (or redis-8.0, or a binary's absolute path) runs
# the suite once, against that server alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v cargo >/dev/null || { echo "test.sh: cargo is missing: install Rust (https://rustup.rs)" >&2; exit 1; }
cluster-testbed/ensure-redis.sh
# The other servers tests/servers.rs runs clusters of (and SLOTWAY_TEST_SERVER may
# name), cached in target/servers/: the first run on a machine builds Redis 8.0,
# a few minutes that belong here rather than inside one test's time limit.
for server in valkey-8.1 redis-8.0; do cluster-testbed/ensure-server.sh "$server" >/dev/null; done

# The tree is formatted and lint-free (issue 12): checked before anything runs,
# cheap next to the build.
echo "test.sh: checking formatting (cargo fmt --check)" >&2
cargo fmt --check
echo "test.sh: linting (cargo clippy --all-targets -- -D warnings; the first build takes a few minutes)" >&2
cargo clippy --quiet --all-targets -- -D warnings

# Benchmarks are not run here (speed is not tested by timing), but they must build.
echo "test.sh: building the tests and benchmarks" >&2
cargo build --quiet --benches --tests

# One run against the server $1, with the arguments after it.
run_against() {
    local server="$1"
    shift
    if cargo nextest --version >/dev/null 2>&1; then
        SLOTWAY_TEST_SERVER="$server" cargo nextest run --no-fail-fast "$@"
    else
        SLOTWAY_TEST_SERVER="$server" cargo test --no-fail-fast "$@"
    fi
}

# Every test target but tests/tls.rs, for a server without TLS.
without_tls() {
    if cargo nextest --version >/dev/null 2>&1; then
        printf '%s\n' -E 'not binary(tls)'
    else
        printf '%s\n' --lib --bins
        for file in tests/*.rs; do
            name="$(basename "$file" .rs)"
            [ "$name" = tls ] || printf '%s\n' --test "$name"
        done
    fi
}

if [ -n "${SLOTWAY_TEST_SERVER:-}" ]; then
    run_against "$SLOTWAY_TEST_SERVER" "$@"
    exit
fi
failed=()
for server in redis-7.0 valkey-8.1 redis-8.0; do
    args=("$@")
    if [ "$server" != redis-7.0 ] && [ $# -eq 0 ]; then
        mapfile -t args < <(without_tls)
    fi
    echo "test.sh: the suite against $server${args[*]:+ (${args[*]})}" >&2
    started=$SECONDS
    run_against "$server" "${args[@]}" || failed+=("$server")
    echo "test.sh: $server took $((SECONDS - started)) s" >&2
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "test.sh: failures against: ${failed[*]}" >&2
    exit 1
fi
