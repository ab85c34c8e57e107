#!/usr/bin/env bash
# Builds shadowtap and runs its demo: no root, no network beyond loopback.
# As root on Debian it first installs the one system package the build needs.
set -euo pipefail
cd "$(dirname "$0")"

if ! dpkg-query -W -f='${Status}' libpcap-dev 2>/dev/null | grep -q "install ok installed"; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libpcap-dev pkg-config >/dev/null
    else
        echo "demo.sh: libpcap-dev is missing (run as root to install it)" >&2
        exit 1
    fi
fi

cargo build --release --locked -p shadowtap
exec ./target/release/shadowtap demo "$@"
