#!/usr/bin/env bash
# Userspace delay on a router namespace's interface (this kernel has no tc netem): an iptables
# NFQUEUE rule hands forwarded packets to pl_delayline (delayline.c), which holds each for MS
# (+ uniform 0..JITTER) milliseconds and re-injects it, in order.
#
#   delay.sh start NS IFACE MS [JITTER_MS] [in|out|both]   delay packets forwarded through NS
#                                                          that arrive on (in) / leave by (out)
#                                                          IFACE; both = each direction once
#   delay.sh stop NS IFACE                                 remove the rules, end the program
#   delay.sh stats NS IFACE                                its counters (JSON)
#
# The program is $PL_DELAYLINE (default: build/tests/netns/pl_delayline in this checkout).
# $PL_DELAY_LIMIT (default 4096) is the most packets it holds; more arriving are dropped. A
# 100 ms path at 200 MB/s holds ~8,700 1200-byte packets per direction. $PL_DELAY_GSO=1 queues
# GSO packets whole (as the kernel forwards them) instead of segmented; a `statistic` loss rule
# then drops a whole GSO packet at once, so leave it off on lossy paths.
# Rules live in `mangle FORWARD`, so only forwarded traffic is delayed (use it on nat1/nat2, not
# on an end host), and NF_ACCEPT from the queue continues into `filter FORWARD` (the NAT's
# conntrack filtering still applies). Loss rules (topology.sh loss: raw PREROUTING and mangle
# POSTROUTING) sit in other hooks, so delay and loss combine. `topology.sh down` ends the
# program with the namespace. Needs root; fails loudly.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${PL_DELAYLINE:-$HERE/../../build/tests/netns/pl_delayline}
STATE=/run/pl-delayline

die() {
  echo "delay.sh: ERROR: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
[ $# -ge 3 ] || die "usage: delay.sh start NS IFACE MS [JITTER_MS] [in|out|both] | stop NS IFACE | stats NS IFACE"
cmd=$1 ns=$2 iface=$3
[ -e "/var/run/netns/$ns" ] || die "namespace $ns does not exist (topology up?)"
[[ "$iface" =~ ^[a-zA-Z0-9_.-]+$ ]] || die "bad interface name '$iface'"
mkdir -p "$STATE"
base="$STATE/$ns-$iface"
tag="pl-delay-$iface"
# One queue number per interface (queue numbers are per namespace).
queue=$((100 + $(printf '%s' "$iface" | cksum | cut -d' ' -f1) % 900))

remove_rules() {
  local rule
  while read -r rule; do
    [ -n "$rule" ] || continue
    # shellcheck disable=SC2086
    ip netns exec "$ns" iptables -t mangle ${rule/-A /-D }
  done < <(ip netns exec "$ns" iptables -t mangle -S FORWARD | grep -F -- "--comment $tag" || true)
}

stop() {
  remove_rules
  if [ -f "$base.pid" ]; then
    local pid
    pid=$(cat "$base.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
      done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$base.pid"
  fi
}

case "$cmd" in
  start)
    [ $# -ge 4 ] || die "usage: delay.sh start NS IFACE MS [JITTER_MS] [in|out|both]"
    ms=$4 jitter=${5:-0} dir=${6:-both}
    [[ "$ms" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "delay must be a number of milliseconds, got '$ms'"
    [[ "$jitter" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "jitter must be a number of milliseconds, got '$jitter'"
    case "$dir" in in | out | both) ;; *) die "direction must be in, out or both" ;; esac
    [ -x "$BIN" ] || die "pl_delayline not found at $BIN (build target pl_delayline or set PL_DELAYLINE)"
    stop
    : >"$base.log"
    ip netns exec "$ns" "$BIN" --queue "$queue" --delay-ms "$ms" --jitter-ms "$jitter" \
      --limit "${PL_DELAY_LIMIT:-4096}" ${PL_DELAY_GSO:+--gso "$PL_DELAY_GSO"} --stats-file "$base.stats" \
      </dev/null >>"$base.log" 2>&1 &
    echo $! >"$base.pid"
    for _ in $(seq 1 50); do
      grep -q "ready" "$base.log" && break
      kill -0 "$(cat "$base.pid")" 2>/dev/null || break
      sleep 0.05
    done
    grep -q "ready" "$base.log" || { cat "$base.log" >&2; stop; die "pl_delayline did not start"; }
    # Insert at the top of mangle FORWARD; no --queue-bypass: if the program dies, traffic stops
    # (a test then fails instead of silently running without delay).
    if [ "$dir" = in ] || [ "$dir" = both ]; then
      ip netns exec "$ns" iptables -t mangle -I FORWARD -i "$iface" -m comment --comment "$tag" \
        -j NFQUEUE --queue-num "$queue" || { stop; die "iptables NFQUEUE rule failed"; }
    fi
    if [ "$dir" = out ] || [ "$dir" = both ]; then
      ip netns exec "$ns" iptables -t mangle -I FORWARD -o "$iface" -m comment --comment "$tag" \
        -j NFQUEUE --queue-num "$queue" || { stop; die "iptables NFQUEUE rule failed"; }
    fi
    echo "delay.sh: delaying forwarded packets ($dir) on $ns/$iface by ${ms} ms (+0..${jitter} ms), queue $queue, pid $(cat "$base.pid")"
    ;;
  stop)
    stop
    echo "delay.sh: delay on $ns/$iface removed"
    ;;
  stats)
    [ -f "$base.stats" ] || die "no delay line on $ns/$iface"
    cat "$base.stats"
    ;;
  *) die "unknown command '$cmd'" ;;
esac
