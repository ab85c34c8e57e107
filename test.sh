#!/usr/bin/env bash
# Runs every test of the workspace. As root on Debian it first installs the
# system packages the build and the end-to-end tests need.
set -euo pipefail
cd "$(dirname "$0")"

packages=(libpcap-dev pkg-config tcpdump tshark nginx-light wrk curl iproute2 util-linux chromium)
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
        echo "test.sh: missing packages: ${missing[*]} (run as root to install them; tests that need them are ignored, and fail in CI)" >&2
    fi
fi

# Tests that need root or a tool are #[ignore]d with their reason, so a
# plain `cargo test` lists them as ignored. In CI (CI=true) and as root they
# are included, and one whose requirement is missing fails with its reason
# (capture/tests/support/gate.rs): nothing passes without having run.
args=("$@")
if [ "${CI:-}" = true ] || [ "$(id -u)" = 0 ]; then
    # After the caller's own `--`, if any, so `./test.sh -- --nocapture` works.
    if printf '%s\n' "${args[@]}" | grep -qx -- '--'; then
        args+=(--include-ignored)
    else
        args+=(-- --include-ignored)
    fi
else
    echo "test.sh: not root and not CI: tests that need root or tools are listed as ignored" >&2
fi
cargo test --workspace --locked "${args[@]}"
