#!/usr/bin/env bash
# Makes sure the external programs the tests, demo and benchmarks run are installed.
#
#   scripts/install-deps.sh [GROUP...]     GROUP: test (default), demo, bench, all
#
#   test  = memcached, redis-server, nginx, openssl   (integration tests start their own instances;
#           openssl makes the certificates of the Redis TLS tests)
#   demo  = memcached, redis-server, nginx   (`msm demo --store redis` runs Redis nodes)
#   bench = memcached, memcaslap (libmemcached-tools), wrk, nginx,
#           redis-server, redis-benchmark (redis-tools), postgresql (Vapor's FluentSessions rows),
#           perf (linux-perf: flame graphs of `make bench-http`)
#
# Idempotent: installs only what is missing, via apt-get (with sudo when not root).
# Note: on Debian, installing nginx/redis-server/postgresql also starts their system services
# (ports 80, 6379 and 5432); that is harmless - our tests and benchmarks only use ports they allocate themselves,
# and `msm demo --store redis` defaults to ports 16379 and 16380.
set -euo pipefail

groups=("$@")
if [ "${#groups[@]}" -eq 0 ]; then
    groups=(test)
fi

# command -> Debian package providing it
declare -A package_of=(
    [memcached]=memcached
    [memcaslap]=libmemcached-tools
    [nginx]=nginx
    [redis-server]=redis-server
    [redis-benchmark]=redis-tools
    [wrk]=wrk
    [pg_ctlcluster]=postgresql
    [perf]=linux-perf
    [openssl]=openssl
)

commands=()
for group in "${groups[@]}"; do
    case "$group" in
        test)  commands+=(memcached redis-server nginx openssl) ;;
        demo)  commands+=(memcached redis-server nginx) ;;
        bench) commands+=(memcached memcaslap wrk nginx redis-server redis-benchmark pg_ctlcluster perf) ;;
        all)   commands+=(memcached redis-server nginx openssl memcaslap wrk redis-benchmark pg_ctlcluster perf) ;;
        -h|--help)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
            exit 0
            ;;
        *)
            echo "install-deps: unknown group '$group' (expected: test, demo, bench, all)" >&2
            exit 2
            ;;
    esac
done

# nginx and redis-server live in /usr/sbin on Debian, which is not in a normal user's PATH.
have() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

missing_packages=()
missing_commands=()
for cmd in "${commands[@]}"; do
    if ! have "$cmd"; then
        pkg="${package_of[$cmd]}"
        case " ${missing_packages[*]-} " in
            *" $pkg "*) ;;
            *) missing_packages+=("$pkg"); missing_commands+=("$cmd") ;;
        esac
    fi
done

if [ "${#missing_packages[@]}" -eq 0 ]; then
    echo "install-deps: all test dependencies present (${groups[*]})"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing ${missing_commands[*]}; no apt-get here - install packages" \
        "${missing_packages[*]} with your package manager (e.g. brew install memcached libmemcached nginx redis wrk)" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-deps: need root to install ${missing_packages[*]} and sudo is not available" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "install-deps: installing ${missing_packages[*]} (for ${missing_commands[*]})"
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q)
"${apt[@]}" update </dev/null >/dev/null
"${apt[@]}" install -y --no-install-recommends "${missing_packages[@]}" </dev/null >/dev/null

for cmd in "${missing_commands[@]}"; do
    if ! have "$cmd"; then
        echo "install-deps: installed ${package_of[$cmd]} but '$cmd' is still not found" >&2
        exit 1
    fi
done
