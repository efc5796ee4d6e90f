#!/usr/bin/env bash
# Installs every build and test dependency of peerlink from Debian 12 packages.
# Used by the README quick start and by .ci/run; safe to run repeatedly.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build ccache pkg-config git
  clang-14 clang-format-14 clang-tidy-14 libclang-rt-14-dev lld-14
  libssl-dev openssl libboost-dev libboost-system-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libcli11-dev nlohmann-json3-dev
  libnetfilter-queue-dev  # tests/netns/delayline.c (NFQUEUE delay line; no tc netem here)
  # tests
  coturn iproute2 iptables iputils-ping python3 python3-aioice procps psmisc
  redis-server  # peerlink signal --redis scale-out test
  libusrsctp-dev  # tests/interop/usrsctp (SCTP interop in process over AF_CONN)
  python3-aiortc  # tests/interop/aiortc (PeerConnection interop, both roles)
  golang-go golang-github-pion-webrtc.v3-dev  # tests/interop/pion (Pion built offline from Debian sources)
  chromium  # tests/interop/chromium (headless, driven by playwright-core from npm)
  firefox-esr  # tests/interop/firefox (headless, driven by puppeteer-core from npm over WebDriver BiDi)
  iperf3  # bench/e2e/run_e2e.py: the UDP limit T1 is compared with
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # coturn's package may enable and start a system-wide turnserver; the tests start their own
  # (tests/netns/coturn.sh). Stop only that packaged service, never a test's server.
  if [[ " ${missing[*]} " == *" coturn "* ]]; then
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now coturn >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/coturn ]; then
      $SUDO /etc/init.d/coturn stop >/dev/null 2>&1 || true
    fi
  fi
fi
# npm packages of the y-webrtc, werift, libdatachannel (node-datachannel, whose npm package
# carries a prebuilt libdatachannel), Chromium (playwright-core) and Firefox (puppeteer-core)
# interop tests, each pinned by its package-lock.json. Neither driver downloads a browser: the
# tests use /usr/bin/chromium and /usr/bin/firefox-esr.
if command -v npm >/dev/null 2>&1; then
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  for dir in ywebrtc werift libdatachannel chromium firefox; do
    [ -f "$root/tests/interop/$dir/package-lock.json" ] || continue
    (cd "$root/tests/interop/$dir" && npm ci --no-audit --no-fund --loglevel=error)
  done
else
  echo "install-deps: npm not found; tests/interop/{ywebrtc,werift,libdatachannel,chromium,firefox} (label interop) will fail" >&2
fi
echo "install-deps: all dependencies present" >&2
