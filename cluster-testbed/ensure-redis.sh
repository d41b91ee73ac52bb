#!/usr/bin/env bash
# Make sure redis-server and redis-cli exist: CI machines and fresh developer
# machines start without them, and the testbed and integration tests need both.
# Silent when they are already there, so callers can run it every time.
set -euo pipefail

have_redis() { command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; }
have_redis && exit 0

# Parallel tests each start a cluster: let one of them install while the others
# wait, instead of all fighting over apt's locks.
exec 9>"${TMPDIR:-/tmp}/slotway-ensure-redis.lock"
flock 9
have_redis && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi

echo "ensure-redis: installing redis-server and redis-tools" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends redis-server redis-tools >&2

# The Debian package starts a system redis on 6379; tests never use it, but
# stop it so it does not linger (ignore failure: containers have no systemd).
if command -v service >/dev/null 2>&1; then
    $sudo service redis-server stop >/dev/null 2>&1 || true
fi

have_redis
