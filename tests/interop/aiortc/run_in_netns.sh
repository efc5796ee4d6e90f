#!/bin/sh
# Runs "$@" in the network namespace this shell is in (a fresh one: the test runs it under
# `unshare -n`), after bringing up loopback and one veth pair with 198.51.100.1/24 (TEST-NET-2)
# on one end. aiortc gathers no loopback address, so both peers need another one; this one
# exists only in the namespace, which ends with the command. Needs root.
set -eu
ip link set lo up
ip link add pl0 type veth peer name pl1
ip addr add 198.51.100.1/24 dev pl0
ip link set pl1 up
ip link set pl0 up
exec "$@"
