#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real: Chromium for
# the web page, irssi and tmux for the terminal-client tests, WeeChat
# (weechat-headless, and weechat-plugins for its fifo plugin) for the
# client-interop tests, Node.js and npm (only where no node or npm is
# installed: a machine's own Node.js is kept) for the irc-framework tests
# (`make client-deps` installs irc-framework itself), InspIRCd for the
# fan-out benchmark, iproute2 and nftables for the network-namespace tests,
# PostgreSQL for the shared history store's tests (the test starts its own
# server in a temporary directory; the packaged cluster is not used), and
# libfaketime for the test of two servers whose clocks differ, and
# docker.io and debootstrap for the image test (scripts/build-image.sh makes
# its own Debian base; the test starts dockerd when none runs). Skipped
# quietly when not root or not on Debian; the tests that need a missing
# program skip with a message that says which.
set -euo pipefail
PKGS=(chromium irssi tmux weechat-headless weechat-plugins inspircd nftables iproute2 postgresql libfaketime
    docker.io debootstrap)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    PKGS+=(nodejs npm)
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "install-system-deps: not root or no apt-get; skipping ${PKGS[*]}" >&2
    exit 0
fi
missing=()
for p in "${PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
echo "install-system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || \
    echo "install-system-deps: could not install ${missing[*]}; dependent tests will skip" >&2
