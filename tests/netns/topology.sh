#!/usr/bin/env bash
# Builds (and tears down) the real-network test topology out of network namespaces, veth pairs
# and iptables NAT. See tests/netns/README.md for the picture and the measured NAT behaviour.
#
#   topology.sh up                      create ${P}-{pub,nat1,nat2,a,b}
#   topology.sh down                    delete them (and end processes still running inside)
#   topology.sh status                  list this prefix's namespaces and addresses
#   topology.sh loss NS IFACE PROB [in|out|both]
#                                       drop packets on IFACE in NS with probability PROB
#                                       (iptables statistic; PROB=0 removes the rules)
#
# P is $PL_NS_PREFIX (default "pl"); use a distinct prefix per concurrently running test.
# Needs root. Fails loudly if anything cannot be created; never skips.
set -euo pipefail

P=${PL_NS_PREFIX:-pl}
NAMESPACES=("$P-pub" "$P-nat1" "$P-nat2" "$P-a" "$P-b")
PUB_IP=203.0.113.10     # coturn / STUN server address
PUB_IP2=203.0.113.11    # a second public address (second reflector, RFC 5780 alternate)
PUB_GW=203.0.113.1      # the bridge's own address in pub

die() {
  echo "topology.sh: ERROR: $*" >&2
  exit 1
}

in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

check_prereqs() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces and iptables need CAP_NET_ADMIN)"
  command -v ip >/dev/null || die "'ip' (iproute2) not installed; run scripts/install-deps.sh"
  command -v iptables >/dev/null || die "'iptables' not installed; run scripts/install-deps.sh"
  [ ${#P} -le 8 ] || die "PL_NS_PREFIX '$P' too long (max 8 characters)"
  [[ "$P" =~ ^[a-zA-Z0-9_]+$ ]] || die "PL_NS_PREFIX '$P' must be alphanumeric"
}

ns_exists() {
  [ -e "/var/run/netns/$1" ]
}

down() {
  local ns pids
  for ns in "${NAMESPACES[@]}"; do
    ns_exists "$ns" || continue
    # Processes a test started inside the namespace (coturn, reflectors, peers): end them by
    # pid so the namespace actually goes away.
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086
      kill $pids 2>/dev/null || true
      for _ in $(seq 1 20); do
        [ -z "$(ip netns pids "$ns" 2>/dev/null || true)" ] && break
        sleep 0.1
      done
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      # shellcheck disable=SC2086
      [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    fi
    ip netns delete "$ns" || echo "topology.sh: warning: could not delete namespace $ns" >&2
  done
}

# link NS_A IF_A NS_B IF_B: a veth pair created directly inside the two namespaces, so the
# interface names never clash in the root namespace.
link() {
  ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" ||
    die "cannot create veth $1/$2 <-> $3/$4"
  in_ns "$1" ip link set "$2" up
  in_ns "$3" ip link set "$4" up
}

host() {
  local ns=$1 ip=$2 gw=$3
  in_ns "$ns" ip addr add "$ip/24" dev eth0
  in_ns "$ns" ip route add default via "$gw"
}

up() {
  check_prereqs
  local ns
  for ns in "${NAMESPACES[@]}"; do
    if ns_exists "$ns"; then
      echo "topology.sh: $ns exists from an earlier run; tearing prefix '$P' down first" >&2
      down
      break
    fi
  done
  # Anything failing below leaves no half-built topology behind.
  trap 'rc=$?; if [ $rc -ne 0 ]; then echo "topology.sh: up failed, cleaning up" >&2; down; fi' EXIT
  for ns in "${NAMESPACES[@]}"; do
    ip netns add "$ns" || die "cannot create network namespace $ns (need root and CONFIG_NET_NS)"
    in_ns "$ns" ip link set lo up
  done

  # The "internet": one bridge holding both public addresses; no route to any 10/8 LAN
  # (only the upstream sink below).
  in_ns "$P-pub" ip link add br0 type bridge || die "cannot create a bridge in $P-pub"
  in_ns "$P-pub" ip link set br0 up
  in_ns "$P-pub" ip addr add "$PUB_GW/24" dev br0
  in_ns "$P-pub" ip addr add "$PUB_IP/24" dev br0
  in_ns "$P-pub" ip addr add "$PUB_IP2/24" dev br0
  # An "upstream" default route into a sink, as a real server has: a packet for an address
  # nobody here owns (a peer's private 10/8 host candidate) is sent and silently lost instead
  # of failing sendto() with ENETUNREACH. coturn 4.6 tears an allocation down when a relayed
  # send fails that way, so without this route the first check a TURN client relays toward a
  # private host candidate kills its own relay. The neighbour entry is static (no ARP): the
  # frames go out on `upstream`, arrive on `sink`, which has no address, and are dropped.
  in_ns "$P-pub" ip link add upstream type veth peer name sink || die "cannot create the upstream veth in $P-pub"
  in_ns "$P-pub" ip link set upstream up
  in_ns "$P-pub" ip link set sink up
  in_ns "$P-pub" ip neigh add 198.51.100.254 lladdr 02:00:00:00:00:fe dev upstream nud permanent
  in_ns "$P-pub" ip route add default via 198.51.100.254 dev upstream onlink

  # nat1: port-preserving MASQUERADE (endpoint-independent mapping while ports do not collide).
  link "$P-nat1" wan "$P-pub" nat1
  link "$P-nat1" lan "$P-a" eth0
  # nat2: MASQUERADE --random-fully (a new random port for every new destination: symmetric).
  link "$P-nat2" wan "$P-pub" nat2
  link "$P-nat2" lan "$P-b" eth0
  local pair
  for pair in "nat1 203.0.113.21 10.0.1" "nat2 203.0.113.22 10.0.2"; do
    # shellcheck disable=SC2086
    set -- $pair
    local ns="$P-$1"
    in_ns "$P-pub" ip link set "$1" master br0
    in_ns "$ns" ip addr add "$2/24" dev wan
    in_ns "$ns" ip addr add "$3.1/24" dev lan
    in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
    in_ns "$ns" iptables -A FORWARD -i lan -o wan -j ACCEPT
    in_ns "$ns" iptables -A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT ||
      die "iptables conntrack match failed in $ns"
    in_ns "$ns" iptables -P FORWARD DROP
  done
  in_ns "$P-nat1" iptables -t nat -A POSTROUTING -o wan -s 10.0.1.0/24 -j MASQUERADE ||
    die "iptables MASQUERADE failed in $P-nat1 (kernel NAT support missing?)"
  in_ns "$P-nat2" iptables -t nat -A POSTROUTING -o wan -s 10.0.2.0/24 -j MASQUERADE --random-fully ||
    die "iptables MASQUERADE --random-fully failed in $P-nat2"

  host "$P-a" 10.0.1.2 10.0.1.1
  host "$P-b" 10.0.2.2 10.0.2.1

  # Fail now, not in the middle of a test, if the plumbing does not carry packets.
  in_ns "$P-a" ping -c 1 -W 2 "$PUB_IP" >/dev/null || die "$P-a cannot reach $PUB_IP through $P-nat1"
  in_ns "$P-b" ping -c 1 -W 2 "$PUB_IP" >/dev/null || die "$P-b cannot reach $PUB_IP through $P-nat2"
  trap - EXIT
  echo "topology.sh: up (prefix '$P'): $P-a 10.0.1.2 -> $P-nat1 203.0.113.21 (EIM NAT), $P-b 10.0.2.2 -> $P-nat2 203.0.113.22 (symmetric NAT), $P-pub $PUB_IP $PUB_IP2"
}

loss() {
  check_prereqs
  [ $# -ge 3 ] || die "usage: topology.sh loss NS IFACE PROBABILITY [in|out|both]"
  local ns=$1 iface=$2 prob=$3 dir=${4:-both}
  ns_exists "$ns" || die "namespace $ns does not exist (topology up?)"
  [[ "$prob" =~ ^(0(\.[0-9]+)?|1(\.0+)?)$ ]] || die "probability must be in [0, 1], got '$prob'"
  case "$dir" in in | out | both) ;; *) die "direction must be in, out or both" ;; esac
  local tag="pl-loss-$iface"
  # Remove earlier rules for this interface first, so calls replace instead of stacking.
  local table rule
  for table in raw mangle; do
    while read -r rule; do
      [ -n "$rule" ] || continue
      # shellcheck disable=SC2086
      in_ns "$ns" iptables -t "$table" ${rule/-A /-D }
    done < <(in_ns "$ns" iptables -t "$table" -S | grep -F -- "--comment $tag" || true)
  done
  if [[ "$prob" =~ ^0(\.0*)?$ ]]; then
    echo "topology.sh: loss on $ns/$iface removed"
    return
  fi
  if [ "$dir" = in ] || [ "$dir" = both ]; then
    # Ingress, before routing: covers packets for this namespace and packets it forwards.
    in_ns "$ns" iptables -t raw -A PREROUTING -i "$iface" -m statistic --mode random --probability "$prob" \
      -m comment --comment "$tag" -j DROP || die "iptables statistic match failed"
  fi
  if [ "$dir" = out ] || [ "$dir" = both ]; then
    # Egress, after routing: locally generated and forwarded packets leaving on $iface.
    in_ns "$ns" iptables -t mangle -A POSTROUTING -o "$iface" -m statistic --mode random --probability "$prob" \
      -m comment --comment "$tag" -j DROP || die "iptables statistic match failed"
  fi
  echo "topology.sh: dropping $prob of packets ($dir) on $ns/$iface"
}

status() {
  local ns
  for ns in "${NAMESPACES[@]}"; do
    if ns_exists "$ns"; then
      echo "== $ns"
      in_ns "$ns" ip -br addr | grep -v '^lo ' || true
    else
      echo "== $ns (absent)"
    fi
  done
}

case "${1:-}" in
  up) up ;;
  down) check_prereqs; down; echo "topology.sh: down (prefix '$P')" ;;
  status) status ;;
  loss) shift; loss "$@" ;;
  *)
    echo "usage: topology.sh up|down|status|loss NS IFACE PROB [in|out|both]" >&2
    exit 2
    ;;
esac
