#!/usr/bin/env bash
# Make sure a headless-capable Chromium exists: the admin page test renders the
# status page in a real browser, and fresh machines (CI included) start without one.
# Prints the browser's path on stdout; exits non-zero with a reason if it cannot.
set -euo pipefail

find_chromium() { command -v chromium || command -v chromium-browser || command -v google-chrome || true; }
found=$(find_chromium)
[ -n "$found" ] && { echo "$found"; exit 0; }

# Parallel tests may all land here: one installs, the others wait for it.
exec 9>"${TMPDIR:-/tmp}/slotway-ensure-chromium.lock"
flock 9
found=$(find_chromium)
[ -n "$found" ] && { echo "$found"; exit 0; }

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "ensure-chromium: not root and no sudo: install Debian's chromium by hand" >&2; exit 1; }
    sudo="sudo"
fi

echo "ensure-chromium: installing Debian's chromium" >&2
export DEBIAN_FRONTEND=noninteractive
fail() { echo "ensure-chromium: could not install Debian's chromium ($1)" >&2; exit 1; }
$sudo apt-get update -qq >&2 || fail "apt-get update"
# Fonts are recommends, which we skip; without one the page renders as boxes.
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2 || fail "apt-get install"

found=$(find_chromium)
[ -n "$found" ] || { echo "ensure-chromium: chromium still missing after apt-get install" >&2; exit 1; }
echo "$found"
