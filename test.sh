#!/usr/bin/env bash
# Every test: unit tests, property tests, and integration tests against real
# six-node Redis Clusters that the tests start themselves (on free ports, in
# temporary folders) and stop again.
#
#   ./test.sh [extra arguments for cargo nextest / cargo test]
#
# Installs redis-server/redis-tools if missing. Uses cargo-nextest when present
# (one process per test), else cargo test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v cargo >/dev/null || { echo "test.sh: cargo is missing: install Rust (https://rustup.rs)" >&2; exit 1; }
cluster-testbed/ensure-redis.sh

# Benchmarks are not run here (speed is not tested by timing), but they must build.
cargo build --quiet --benches --tests
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast "$@"
else
    cargo test --no-fail-fast "$@"
fi
