#!/usr/bin/env bash
# Checks the real-network test infrastructure end to end (registered with CTest, label netns):
# topology up, reachability and isolation, the NAT behaviour each router is documented to have,
# the loss helper, coturn in the public namespace (STUN from behind both NATs, TURN allocate +
# relay with both credential modes), coturn on loopback, and a clean teardown.
# Needs root. Every wait is bounded; everything started here is stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
export PL_NS_PREFIX=${PL_NS_PREFIX:-st$(($$ % 100000))}
P=$PL_NS_PREFIX
WORK=$(mktemp -d "${TMPDIR:-/tmp}/peerlink-netns-selftest.XXXXXX")
step=0
checks=0

cleanup() {
  local rc=$?
  "$HERE/coturn.sh" stop "$P-pub" 203.0.113.10 "$WORK/coturn" >/dev/null 2>&1 || true
  "$HERE/coturn.sh" stop-local "$WORK/coturn-local" >/dev/null 2>&1 || true
  "$HERE/topology.sh" down >/dev/null 2>&1 || true
  if [ "$rc" -ne 0 ]; then
    echo "selftest: FAILED at step $step (logs kept in $WORK)" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT

say() {
  step=$((step + 1))
  echo "-- [$step] $*"
}
ok() {
  checks=$((checks + 1))
  echo "   ok: $*"
}
fail() {
  echo "selftest: FAIL: $*" >&2
  exit 1
}
in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

[ "$(id -u)" -eq 0 ] || fail "must run as root: the real-network tests need network namespaces"

say "topology up (prefix $P)"
"$HERE/topology.sh" up

say "reachability through the NATs, isolation of the LANs"
in_ns "$P-a" ping -c 1 -W 2 203.0.113.10 >/dev/null || fail "$P-a cannot ping 203.0.113.10"
in_ns "$P-b" ping -c 1 -W 2 203.0.113.10 >/dev/null || fail "$P-b cannot ping 203.0.113.10"
ok "a and b reach the public server address"
if in_ns "$P-pub" ping -c 1 -W 1 10.0.1.2 >/dev/null 2>&1; then fail "pub reached a private LAN address"; fi
if in_ns "$P-a" ping -c 1 -W 1 10.0.2.2 >/dev/null 2>&1; then fail "$P-a reached $P-b's private address"; fi
ok "private addresses are unreachable from pub and from the other LAN"
# pub has a default route into a sink (see topology.sh): a send to a private address must
# succeed locally and vanish, as on a real server, not fail with ENETUNREACH.
in_ns "$P-pub" "$PY" -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('203.0.113.10', 0))
assert s.sendto(b'x', ('10.0.1.2', 9)) == 1
" || fail "pub cannot send to an unroutable private address without an error"
ok "sends from pub to a private address leave via the upstream sink without a local error"

say "NAT behaviour (RFC 4787) measured against a reflector in pub"
in_ns "$P-pub" "$PY" "$HERE/nettool.py" reflector --listen 203.0.113.10:7000 --listen 203.0.113.10:7001 \
  --listen 203.0.113.11:7000 --seconds 60 --ready "$WORK/reflector.ready" >"$WORK/reflector.log" 2>&1 &
for _ in $(seq 1 50); do
  [ -f "$WORK/reflector.ready" ] && break
  sleep 0.1
done
[ -f "$WORK/reflector.ready" ] || fail "reflector did not start"
refl=(--reflector 203.0.113.10:7000 --reflector 203.0.113.10:7001 --reflector 203.0.113.11:7000)
in_ns "$P-a" "$PY" "$HERE/nettool.py" nat-behaviour "${refl[@]}" \
  --expect-mapping endpoint-independent --expect-filtering address-and-port-dependent | tee "$WORK/nat1.txt"
grep -q ' mapped 203\.0\.113\.21:' "$WORK/nat1.txt" || fail "$P-a's traffic is not mapped to 203.0.113.21"
# Port preservation: plain MASQUERADE keeps the source port when nothing collides.
local_port=$(sed -n 's/^local [0-9.]*:\([0-9]*\) .*/\1/p' "$WORK/nat1.txt")
grep -q " mapped 203\.0\.113\.21:$local_port " "$WORK/nat1.txt" || fail "nat1 did not preserve port $local_port"
ok "nat1: endpoint-independent, port-preserving mapping; address-and-port-dependent filtering"
in_ns "$P-b" "$PY" "$HERE/nettool.py" nat-behaviour "${refl[@]}" \
  --expect-mapping address-and-port-dependent --expect-filtering address-and-port-dependent | tee "$WORK/nat2.txt"
grep -q ' mapped 203\.0\.113\.22:' "$WORK/nat2.txt" || fail "$P-b's traffic is not mapped to 203.0.113.22"
ok "nat2: address-and-port-dependent (symmetric) mapping and filtering"

say "loss helper"
"$HERE/topology.sh" loss "$P-nat1" wan 1.0 in
if in_ns "$P-a" ping -c 2 -i 0.2 -W 1 203.0.113.10 >/dev/null 2>&1; then fail "100% loss let packets through"; fi
"$HERE/topology.sh" loss "$P-nat1" wan 0
in_ns "$P-a" ping -c 1 -W 2 203.0.113.10 >/dev/null || fail "removing the loss rule did not restore traffic"
ok "probability 1.0 drops everything; 0 removes the rule"

say "coturn in $P-pub, long-term credentials"
"$HERE/coturn.sh" start "$P-pub" 203.0.113.10 "$WORK/coturn" static
in_ns "$P-a" "$PY" "$HERE/nettool.py" stun 203.0.113.10 3478 --expect-mapped 203.0.113.21
in_ns "$P-b" "$PY" "$HERE/nettool.py" stun 203.0.113.10 3478 --expect-mapped 203.0.113.22
ok "STUN Binding from behind both NATs returns the routers' WAN addresses"
in_ns "$P-b" "$PY" "$HERE/nettool.py" turn 203.0.113.10 3478 --user user --password pass --peer 203.0.113.11:7000
for _ in $(seq 1 30); do
  grep -q "got b'turn-probe' from 203.0.113.10:" "$WORK/reflector.log" && break
  sleep 0.1
done
grep -q "got b'turn-probe' from 203.0.113.10:" "$WORK/reflector.log" || fail "relayed data did not reach the peer"
ok "TURN Allocate + CreatePermission + Send reaches a TEST-NET-3 peer from the relay address"
if in_ns "$P-b" "$PY" "$HERE/nettool.py" turn 203.0.113.10 3478 --user user --password wrong 2>/dev/null; then
  fail "TURN accepted a wrong password"
fi
ok "a wrong password is rejected"
"$HERE/coturn.sh" stop "$P-pub" 203.0.113.10 "$WORK/coturn"

say "coturn in $P-pub, TURN REST shared secret"
"$HERE/coturn.sh" start "$P-pub" 203.0.113.10 "$WORK/coturn" secret
in_ns "$P-a" "$PY" "$HERE/nettool.py" turn 203.0.113.10 3478 --secret s3cret
if in_ns "$P-a" "$PY" "$HERE/nettool.py" turn 203.0.113.10 3478 --secret wrong 2>/dev/null; then
  fail "TURN accepted a credential derived from the wrong secret"
fi
ok "use-auth-secret accepts s3cret-derived credentials and rejects others"
"$HERE/coturn.sh" stop "$P-pub" 203.0.113.10 "$WORK/coturn"

say "coturn on loopback (no namespace), relaying to a loopback peer"
# coturn listens on port (UDP and TCP) and port + 1 (TLS, DTLS). A fixed formula here once picked
# a pair inside the ephemeral range, and another test's TCP connection held port + 1 (EADDRINUSE):
# ask the kernel for a port and take it only if both ports are free for both protocols right now.
port=$("$PY" - <<'EOF'
import socket, sys
for _ in range(50):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    if port >= 65535:
        continue
    held = []
    try:
        for p in (port, port + 1):
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                held.append(s)
                s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        for s in held:
            s.close()
    print(port)
    sys.exit(0)
sys.exit("no free pair of loopback ports in 50 tries")
EOF
)
"$HERE/coturn.sh" start-local "$WORK/coturn-local" "$port" static
"$PY" - "$HERE/nettool.py" "$port" <<'EOF'
import socket, subprocess, sys
tool, port = sys.argv[1], sys.argv[2]
peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
peer.bind(("127.0.0.1", 0))
peer.settimeout(3)
cmd = ["/usr/bin/python3", tool, "turn", "127.0.0.1", port, "--user", "user", "--password", "pass",
       "--peer", "127.0.0.1:%d" % peer.getsockname()[1]]
subprocess.run(cmd, check=True, timeout=20)
data, src = peer.recvfrom(100)
assert data == b"turn-probe", data
print("   loopback peer received %r from relay %s:%d" % (data, src[0], src[1]))
EOF
ok "allow-loopback-peers lets the local coturn relay to 127.0.0.1"
"$HERE/coturn.sh" stop-local "$WORK/coturn-local"

say "topology down"
"$HERE/topology.sh" down
for ns in pub nat1 nat2 a b; do
  [ ! -e "/var/run/netns/$P-$ns" ] || fail "namespace $P-$ns still exists after down"
done
ok "all namespaces removed"

echo "selftest: $checks checks passed"
