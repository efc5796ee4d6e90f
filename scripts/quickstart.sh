#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine: install dependencies, build, run the main demo.
# The demo is `peerlink demo`: an embedded signaling server and two processes (a sender and a
# receiver) that meet there and connect over UDP on loopback through the whole stack (ICE,
# DTLS 1.2, SCTP, a data channel), move 256 MiB, compare SHA-256 digests and print path and rate.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
JOBS=${JOBS:-2}
export CCACHE_DIR=${CCACHE_DIR:-${HOME:-$PWD/build}/.cache/ccache}

echo "==== installing dependencies"
bash scripts/install-deps.sh

echo "==== configuring build/ (g++, RelWithDebInfo)"
CC=gcc CXX=g++ cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPEERLINK_BUILD_TESTS=ON -DPEERLINK_BUILD_BENCH=ON -DPEERLINK_SANITIZE=OFF -DPEERLINK_BUILD_FUZZ=OFF

# Build just the CLI when the tree has it (Ninja accepts an output path as a target), so the
# quick start does not wait for every test binary; otherwise build everything.
tool=tools/peerlink/peerlink
echo "==== building"
if ninja -C build -t targets all 2>/dev/null | grep -q "^$tool:"; then
  cmake --build build -j "$JOBS" --target "$tool"
else
  cmake --build build -j "$JOBS"
fi

if [ ! -x "build/$tool" ]; then
  echo "quickstart.sh: ERROR: build/$tool was not built: the peerlink CLI (tools/peerlink/) is not in this tree yet." >&2
  echo "quickstart.sh: the libraries built; run ./scripts/test.sh for the test suite." >&2
  exit 1
fi

echo "==== build/$tool demo"
exec timeout -k 5 "${DEMO_TIMEOUT:-120}" "build/$tool" demo
