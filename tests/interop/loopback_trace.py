#!/usr/bin/env python3
"""UDP wire trace for interop debugging (root; no tcpdump needed).

Prints one line per UDP datagram on one interface: seconds since start, addresses, and for STUN
the message type, transaction id prefix, USERNAME, USE-CANDIDATE, ICE-CONTROLLING/CONTROLLED and
any ERROR-CODE; for DTLS each record's content type, epoch, sequence number and length. Runs until
killed.

    python3 tests/interop/loopback_trace.py [--iface IFACE] [--stun-only] [OUT]

IFACE defaults to `lo` (where each packet shows twice; the outgoing copy is skipped). OUT
defaults to stdout, line-buffered. Once capturing, it says so on stderr; it exits when the
process that started it is gone. The browser harnesses (tests/interop/common/echo_harness.mjs,
WireTrace) run it inside echo_server's network namespace with --stun-only and print its tail when
a test fails; it also established what werift puts on the wire after its own restartIce()
(docs/interop.md).
"""
import os
import socket
import struct
import sys
import time


def describe_stun(data):
    mtype = struct.unpack("!H", data[:2])[0]
    user, extra = "", ""
    i = 20
    while i + 4 <= len(data):
        attr, alen = struct.unpack("!HH", data[i:i + 4])
        value = data[i + 4:i + 4 + alen]
        if attr == 0x0006:
            user = value.decode(errors="replace")
        elif attr == 0x0025:
            extra += " USE-CAND"
        elif attr == 0x0009 and len(value) >= 4:
            extra += " ERR%d" % (value[2] * 100 + value[3])
        elif attr == 0x802A and len(value) == 8:
            extra += " CONTROLLING/%s" % value[:2].hex()
        elif attr == 0x8029 and len(value) == 8:
            extra += " CONTROLLED/%s" % value[:2].hex()
        i += 4 + ((alen + 3) & ~3)
    return "STUN %04x tx=%s user=%s%s" % (mtype, data[8:12].hex(), user, extra)


def describe(data):
    b = data[0]
    if b < 4 and len(data) >= 20 and data[4:8] == b"\x21\x12\xa4\x42":  # STUN (RFC 7983)
        return describe_stun(data)
    if 20 <= b <= 63:  # DTLS records: type/epoch/sequence/length
        records = []
        i = 0
        while i + 13 <= len(data):
            epoch = struct.unpack("!H", data[i + 3:i + 5])[0]
            seq = int.from_bytes(data[i + 5:i + 11], "big")
            rlen = struct.unpack("!H", data[i + 11:i + 13])[0]
            records.append("%d/e%d/s%d/%d" % (data[i], epoch, seq, rlen))
            i += 13 + rlen
        return "DTLS " + " ".join(records)
    return "other %d bytes" % len(data)


def main(argv):
    iface, stun_only, path = "lo", False, None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--iface" and args:
            iface = args.pop(0)
        elif a == "--stun-only":
            stun_only = True
        elif a.startswith("-"):
            sys.exit(__doc__)
        else:
            path = a
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
    sock.bind((iface, 0))
    out = open(path, "w", buffering=1) if path else sys.stdout
    print("listening on %s" % iface, file=sys.stderr, flush=True)
    t0 = time.time()
    parent = os.getppid()
    sock.settimeout(1.0)
    while True:
        try:
            pkt, addr = sock.recvfrom(65535)
        except socket.timeout:
            if os.getppid() != parent:  # the harness that started us is gone
                return
            continue
        if iface == "lo" and addr[2] == socket.PACKET_OUTGOING:  # loopback shows each packet twice
            continue
        if len(pkt) < 14 + 20 + 8 or pkt[12:14] != b"\x08\x00":  # IPv4 only
            continue
        ip = pkt[14:]
        if ip[9] != 17:  # UDP
            continue
        udp = ip[(ip[0] & 15) * 4:]
        sport, dport = struct.unpack("!HH", udp[:4])
        data = udp[8:]
        if not data or (stun_only and not (data[0] < 4 and data[4:8] == b"\x21\x12\xa4\x42")):
            continue
        src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        out.write("%.3f %s:%d->%s:%d %s\n" % (time.time() - t0, src, sport, dst, dport, describe(data)))
        if out is sys.stdout:
            out.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
