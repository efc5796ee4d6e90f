#!/bin/sh
# Builds pion_interop.go OFFLINE from Debian's Go source packages (golang-go,
# golang-github-pion-webrtc.v3-dev and its dependencies in /usr/share/gocode/src).
#   build_pion_interop.sh OUTPUT_BINARY WORK_DIR [SOURCE.go]
# SOURCE.go defaults to pion_interop.go here (bench/e2e/pion/build.sh passes its adapter's). The
# packaged Pion version is stamped into main.pionVersion (ignored by a program without it).
# GOPATH mode (GO111MODULE=off, GOPROXY=off: nothing is fetched). Debian installs some major
# versions under their plain path (github.com/pion/webrtc holds module .../webrtc/v3), which GOPATH
# mode cannot resolve, so WORK_DIR/gopath gets a symlink .../webrtc/v3 -> .../webrtc for each.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$1
work=$2
source=${3:-$here/pion_interop.go}
src=/usr/share/gocode/src
gopath=$work/gopath
for m in github.com/pion/webrtc/v3 github.com/pion/sdp/v3 github.com/pion/transport/v2 github.com/pion/udp/v2 \
         github.com/pion/dtls/v2 github.com/pion/ice/v2 github.com/pion/srtp/v2 github.com/pion/turn/v2; do
  [ -d "$src/$m" ] && continue  # Debian already has the /vN directory
  base=${m%/v*}
  [ -d "$src/$base" ] || { echo "build_pion_interop: $src/$base missing (scripts/install-deps.sh)" >&2; exit 1; }
  mkdir -p "$gopath/src/$(dirname "$m")"
  ln -sfn "$src/$base" "$gopath/src/$m"
done
version=$(dpkg-query -W -f='${Version}' golang-github-pion-webrtc.v3-dev 2>/dev/null || echo unknown)
cd "$(dirname "$source")"
GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH="$gopath:/usr/share/gocode" GOCACHE="$work/gocache" \
  exec go build -ldflags "-X main.pionVersion=$version" -o "$out" "$(basename "$source")"
