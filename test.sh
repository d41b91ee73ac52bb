#!/usr/bin/env bash
# Every test: unit tests, property tests, and integration tests against real
# six-node Redis Clusters that the tests start themselves (on free ports, in
# temporary folders) and stop again.
#
#   ./test.sh [extra arguments for cargo nextest / cargo test]
#
# Installs redis-server/redis-tools if missing, and Valkey 8.1 and Redis 8.0 into
# target/servers/ (cluster-testbed/ensure-server.sh). SLOTWAY_TEST_SERVER=valkey-8.1
# (or redis-8.0, or a binary's absolute path) runs every cluster on that server.
# Uses cargo-nextest when present (one process per test), else cargo test.
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
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast "$@"
else
    cargo test --no-fail-fast "$@"
fi
