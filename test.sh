#!/usr/bin/env bash
# Runs every test of the workspace. As root on Debian it first installs the
# system packages the build and the end-to-end tests need.
set -euo pipefail
cd "$(dirname "$0")"

packages=(libpcap-dev pkg-config tcpdump tshark nginx-light wrk curl iproute2)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test.sh: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "test.sh: missing packages: ${missing[*]} (run as root to install them; tests that need them skip)" >&2
    fi
fi

cargo test --workspace --locked "$@"
