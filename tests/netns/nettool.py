#!/usr/bin/python3
"""Small, dependency-free network probes for the tests/netns/ real-network suite.

Run with /usr/bin/python3 (stdlib only). Every operation is bounded in time.

  nettool.py stun HOST PORT [--bind IP] [--expect-mapped IP]
      STUN Binding request (RFC 8489); prints "mapped IP:PORT".
  nettool.py turn HOST PORT (--user U --password P | --secret S) [--peer IP:PORT]
      TURN Allocate over UDP with the long-term credential mechanism (RFC 8656), or with a
      TURN REST-API username/password derived from a shared secret. Prints "relayed IP:PORT".
      With --peer: CreatePermission + Send indication carrying b"turn-probe" to the peer.
  nettool.py reflector --listen IP:PORT [--listen IP:PORT ...] [--seconds S] [--ready FILE]
      UDP reflector on several sockets. "probe" -> reply "seen IP:PORT" from the same socket;
      "filter" -> reply "from IP:PORT" from every socket (to measure NAT filtering).
      Any other datagram is printed as "got <bytes> from IP:PORT".
  nettool.py nat-behaviour --reflector IP:PORT --reflector IP:PORT --reflector IP:PORT
      Classifies the NAT in front of this host (RFC 4787 mapping and filtering) against a
      reflector listening on A:p1, A:p2 and B:p1. Prints "mapping=... filtering=...".
      --expect-mapping / --expect-filtering make it exit 1 on a mismatch.
"""

import argparse
import base64
import hashlib
import hmac
import os
import select
import socket
import struct
import sys
import time
import zlib

MAGIC = 0x2112A442
BINDING_REQUEST, BINDING_SUCCESS = 0x0001, 0x0101
ALLOCATE_REQUEST, ALLOCATE_SUCCESS, ALLOCATE_ERROR = 0x0003, 0x0103, 0x0113
CREATE_PERMISSION_REQUEST, CREATE_PERMISSION_SUCCESS = 0x0008, 0x0108
SEND_INDICATION = 0x0016

ATTR_USERNAME = 0x0006
ATTR_MESSAGE_INTEGRITY = 0x0008
ATTR_ERROR_CODE = 0x0009
ATTR_XOR_PEER_ADDRESS = 0x0012
ATTR_DATA = 0x0013
ATTR_REALM = 0x0014
ATTR_NONCE = 0x0015
ATTR_XOR_RELAYED_ADDRESS = 0x0016
ATTR_REQUESTED_TRANSPORT = 0x0019
ATTR_XOR_MAPPED_ADDRESS = 0x0020
ATTR_FINGERPRINT = 0x8028


def parse_hostport(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def attr(kind, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * pad


def xor_address(host, port):
    packed = socket.inet_aton(host)
    xport = port ^ (MAGIC >> 16)
    xaddr = bytes(a ^ b for a, b in zip(packed, struct.pack("!I", MAGIC)))
    return struct.pack("!BBH", 0, 1, xport) + xaddr


def build(msg_type, txid, attrs, key=None):
    body = b"".join(attrs)
    if key is not None:
        # RFC 8489 section 14.5: the length covers MESSAGE-INTEGRITY when computing it.
        header = struct.pack("!HHI", msg_type, len(body) + 24, MAGIC) + txid
        mac = hmac.new(key, header + body, hashlib.sha1).digest()
        body += attr(ATTR_MESSAGE_INTEGRITY, mac)
    header = struct.pack("!HHI", msg_type, len(body) + 8, MAGIC) + txid
    crc = (zlib.crc32(header + body) ^ 0x5354554E) & 0xFFFFFFFF
    body += attr(ATTR_FINGERPRINT, struct.pack("!I", crc))
    return struct.pack("!HHI", msg_type, len(body), MAGIC) + txid + body


def parse(data):
    if len(data) < 20:
        return None
    msg_type, length, cookie = struct.unpack("!HHI", data[:8])
    if cookie != MAGIC or len(data) < 20 + length:
        return None
    attrs = {}
    pos = 20
    while pos + 4 <= 20 + length:
        kind, alen = struct.unpack("!HH", data[pos : pos + 4])
        attrs.setdefault(kind, data[pos + 4 : pos + 4 + alen])
        pos += 4 + alen + (4 - alen % 4) % 4
    return msg_type, data[8:20], attrs


def decode_xor_address(value):
    _, family, xport = struct.unpack("!BBH", value[:4])
    if family != 1:
        return "ipv6-unsupported", 0
    addr = bytes(a ^ b for a, b in zip(value[4:8], struct.pack("!I", MAGIC)))
    return socket.inet_ntoa(addr), xport ^ (MAGIC >> 16)


def transact(sock, server, make_request, timeout=5.0):
    """Sends a request with RFC 8489-style retransmission, bounded by `timeout` seconds."""
    txid = os.urandom(12)
    request = make_request(txid)
    deadline = time.monotonic() + timeout
    rto = 0.25
    while time.monotonic() < deadline:
        sock.sendto(request, server)
        wait_until = min(deadline, time.monotonic() + rto)
        while True:
            remaining = wait_until - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select([sock], [], [], remaining)
            if not ready:
                break
            data, _ = sock.recvfrom(4096)
            msg = parse(data)
            if msg and msg[1] == txid:
                return msg
        rto = min(rto * 2, 1.0)
    raise TimeoutError(f"no STUN response from {server[0]}:{server[1]} within {timeout}s")


def cmd_stun(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.bind, 0))
    msg_type, _, attrs = transact(sock, (args.host, args.port), lambda t: build(BINDING_REQUEST, t, []), args.timeout)
    if msg_type != BINDING_SUCCESS or ATTR_XOR_MAPPED_ADDRESS not in attrs:
        print(f"unexpected response type 0x{msg_type:04x}", file=sys.stderr)
        return 1
    host, port = decode_xor_address(attrs[ATTR_XOR_MAPPED_ADDRESS])
    local = sock.getsockname()
    print(f"mapped {host}:{port} local {local[0]}:{local[1]}")
    if args.expect_mapped and host != args.expect_mapped:
        print(f"expected mapped address {args.expect_mapped}, got {host}", file=sys.stderr)
        return 1
    return 0


def cmd_turn(args):
    if args.secret:
        username = f"{int(time.time()) + 3600}:{args.user or 'peerlink'}"
        password = base64.b64encode(hmac.new(args.secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    else:
        username, password = args.user, args.password
    server = (args.host, args.port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.bind, 0))
    transport = attr(ATTR_REQUESTED_TRANSPORT, struct.pack("!I", 17 << 24))

    msg_type, _, attrs = transact(sock, server, lambda t: build(ALLOCATE_REQUEST, t, [transport]), args.timeout)
    if msg_type != ALLOCATE_ERROR or ATTR_REALM not in attrs or ATTR_NONCE not in attrs:
        print(f"expected a 401 challenge, got type 0x{msg_type:04x}", file=sys.stderr)
        return 1
    realm, nonce = attrs[ATTR_REALM], attrs[ATTR_NONCE]
    key = hashlib.md5(username.encode() + b":" + realm + b":" + password.encode()).digest()
    auth = [attr(ATTR_USERNAME, username.encode()), attr(ATTR_REALM, realm), attr(ATTR_NONCE, nonce)]

    msg_type, _, attrs = transact(sock, server, lambda t: build(ALLOCATE_REQUEST, t, [transport] + auth, key), args.timeout)
    if msg_type != ALLOCATE_SUCCESS:
        code = attrs.get(ATTR_ERROR_CODE, b"\0\0\0\0")
        print(f"Allocate failed: {code[2] * 100 + code[3]} {code[4:].decode(errors='replace')}", file=sys.stderr)
        return 1
    relayed = decode_xor_address(attrs[ATTR_XOR_RELAYED_ADDRESS])
    mapped = decode_xor_address(attrs[ATTR_XOR_MAPPED_ADDRESS]) if ATTR_XOR_MAPPED_ADDRESS in attrs else ("?", 0)
    print(f"relayed {relayed[0]}:{relayed[1]} mapped {mapped[0]}:{mapped[1]} realm {realm.decode()}")

    if args.peer:
        peer = parse_hostport(args.peer)
        peer_attr = attr(ATTR_XOR_PEER_ADDRESS, xor_address(*peer))
        msg_type, _, attrs = transact(
            sock, server, lambda t: build(CREATE_PERMISSION_REQUEST, t, [peer_attr] + auth, key), args.timeout
        )
        if msg_type != CREATE_PERMISSION_SUCCESS:
            code = attrs.get(ATTR_ERROR_CODE, b"\0\0\0\0")
            print(f"CreatePermission failed: {code[2] * 100 + code[3]} {code[4:].decode(errors='replace')}", file=sys.stderr)
            return 1
        sock.sendto(build(SEND_INDICATION, os.urandom(12), [peer_attr, attr(ATTR_DATA, b"turn-probe")]), server)
        print(f"permission for {peer[0]} created; sent b'turn-probe' to {peer[0]}:{peer[1]} via the relay")
    return 0


def cmd_reflector(args):
    socks = []
    for spec in args.listen:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(parse_hostport(spec))
        socks.append(s)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("ready\n")
    print("reflector listening on " + " ".join(args.listen), flush=True)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select(socks, [], [], max(0.0, deadline - time.monotonic()))
        for s in ready:
            data, src = s.recvfrom(4096)
            if data == b"probe":
                s.sendto(f"seen {src[0]}:{src[1]}".encode(), src)
            elif data == b"filter":
                for other in socks:
                    local = other.getsockname()
                    other.sendto(f"from {local[0]}:{local[1]}".encode(), src)
            else:
                print(f"got {data!r} from {src[0]}:{src[1]}", flush=True)
    return 0


def classify(same_ip_other_port, other_ip):
    # Inputs: whether behaviour toward the same IP/other port and toward another IP matches
    # the behaviour toward the first endpoint (RFC 4787 section 4.1 / 5 vocabulary).
    if same_ip_other_port and other_ip:
        return "endpoint-independent"
    if other_ip is False and same_ip_other_port:
        return "address-dependent"
    return "address-and-port-dependent"


def cmd_nat_behaviour(args):
    refl = [parse_hostport(r) for r in args.reflector]
    if len(refl) != 3 or refl[0][0] != refl[1][0] or refl[0][1] == refl[1][1] or refl[2][0] == refl[0][0]:
        print("need --reflector A:p1 --reflector A:p2 --reflector B:p", file=sys.stderr)
        return 2

    # Filtering: a fresh socket talks only to reflector 0, which answers from all three sockets.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.bind, 0))
    got = set()
    deadline = time.monotonic() + 2.0
    for _ in range(3):  # a few sends in case of loss; bounded
        sock.sendto(b"filter", refl[0])
        end = min(deadline, time.monotonic() + 0.5)
        while (remaining := end - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], remaining)
            if not ready:
                break
            data, src = sock.recvfrom(4096)
            got.add(src)
        if refl[0] in got:
            break
    if refl[0] not in got:
        print(f"no answer from reflector {args.reflector[0]}", file=sys.stderr)
        return 1
    filtering = classify(refl[1] in got, refl[2] in got)
    sock.close()

    # Mapping: a fresh socket sends "probe" to all three; compare the addresses they saw.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.bind, 0))
    seen = []
    for r in refl:
        answer = None
        for _ in range(5):
            sock.sendto(b"probe", r)
            ready, _, _ = select.select([sock], [], [], 0.5)
            if ready:
                data, src = sock.recvfrom(4096)
                if src == r and data.startswith(b"seen "):
                    answer = data[5:].decode()
                    break
        if answer is None:
            print(f"no probe answer from {r[0]}:{r[1]}", file=sys.stderr)
            return 1
        seen.append(answer)
    mapping = classify(seen[1] == seen[0], seen[2] == seen[0])
    local = sock.getsockname()
    print(f"local {local[0]}:{local[1]} mapped " + " ".join(seen))
    print(f"mapping={mapping} filtering={filtering}")
    ok = True
    if args.expect_mapping and args.expect_mapping != mapping:
        print(f"expected mapping={args.expect_mapping}", file=sys.stderr)
        ok = False
    if args.expect_filtering and args.expect_filtering != filtering:
        print(f"expected filtering={args.expect_filtering}", file=sys.stderr)
        ok = False
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("stun")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--bind", default="0.0.0.0")
    p.add_argument("--expect-mapped")
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(func=cmd_stun)

    p = sub.add_parser("turn")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--secret")
    p.add_argument("--peer")
    p.add_argument("--bind", default="0.0.0.0")
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(func=cmd_turn)

    p = sub.add_parser("reflector")
    p.add_argument("--listen", action="append", required=True)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--ready")
    p.set_defaults(func=cmd_reflector)

    p = sub.add_parser("nat-behaviour")
    p.add_argument("--reflector", action="append", required=True)
    p.add_argument("--bind", default="0.0.0.0")
    kinds = ["endpoint-independent", "address-dependent", "address-and-port-dependent"]
    p.add_argument("--expect-mapping", choices=kinds)
    p.add_argument("--expect-filtering", choices=kinds)
    p.set_defaults(func=cmd_nat_behaviour)

    args = parser.parse_args()
    if args.cmd == "turn" and not (args.secret or (args.user and args.password)):
        parser.error("turn needs --user and --password, or --secret")
    try:
        return args.func(args)
    except (TimeoutError, OSError) as e:
        print(f"nettool {args.cmd}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
