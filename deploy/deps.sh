#!/bin/sh
# deps.sh -- install the Debian packages coord needs, idempotently.
#
# Usage: deploy/deps.sh [build|test|bench|all]   (default: all)
#   build  compile coordd, libcoord, coordctl
#   test   build + what `make test` runs (cmocka, clang/libFuzzer, iptables)
#   bench  test + what the benchmarks compare against (ZooKeeper, etcd, Go)
# Quiet when everything is present; runs `apt-get update` only when a package
# is missing. Must run as root (or via sudo) when something is missing.
set -eu

group=${1:-all}

build_pkgs="build-essential pkg-config librocksdb-dev libmsgpack-dev
libsodium-dev libev-dev libsystemd-dev libinih-dev libmicrohttpd-dev"
test_pkgs="libcmocka-dev clang libclang-rt-dev iptables iproute2 util-linux
procps psmisc systemd"
bench_pkgs="zookeeper libzookeeper-mt-dev etcd-server etcd-client golang-go
golang-etcd-server-dev gnuplot-nox linux-perf"

case "$group" in
build) pkgs="$build_pkgs" ;;
test) pkgs="$build_pkgs $test_pkgs" ;;
bench | all) pkgs="$build_pkgs $test_pkgs $bench_pkgs" ;;
*)
    echo "usage: $0 [build|test|bench|all]" >&2
    exit 2
    ;;
esac

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
        grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "deps: missing packages:$missing; run as root" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
