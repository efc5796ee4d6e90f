#!/bin/sh
# Builds pion_e2e.go OFFLINE from Debian's Go source packages, with the interop test's build
# script (tests/interop/pion/build_pion_interop.sh: GOPATH mode, nothing fetched).
#   build.sh OUTPUT_BINARY WORK_DIR
set -eu
out=$1
work=$2
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
case $work in /*) ;; *) work=$(pwd)/$work ;; esac
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../../tests/interop/pion/build_pion_interop.sh" "$out" "$work" "$here/pion_e2e.go"
