#!/usr/bin/env python3
"""Loopback trace for interop debugging (root; no tcpdump needed).

Prints one line per UDP datagram on `lo`: seconds since start, ports, and for STUN the message
type, transaction id prefix, USERNAME and USE-CANDIDATE, for DTLS each record's content type,
epoch, sequence number and length. Runs until killed.

    python3 tests/interop/loopback_trace.py /tmp/trace.txt & ...; kill %1

Used to establish what werift puts on the wire after its own restartIce() (docs/interop.md).
"""
import socket
import struct
import sys
import time



def describe(data):
    b = data[0]
    if b < 4 and len(data) >= 20 and data[4:8] == b"\x21\x12\xa4\x42":  # STUN (RFC 7983)
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
            i += 4 + ((alen + 3) & ~3)
        return "STUN %04x tx=%s user=%s%s" % (mtype, data[8:12].hex(), user, extra)
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


def main():
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
    sock.bind(("lo", 0))
    out = open(sys.argv[1], "w", buffering=1) if len(sys.argv) > 1 else sys.stdout
    t0 = time.time()
    while True:
        pkt, addr = sock.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING:  # loopback shows each packet twice
            continue
        if len(pkt) < 14 + 20 + 8 or pkt[12:14] != b"\x08\x00":  # IPv4 only
            continue
        ip = pkt[14:]
        if ip[9] != 17:  # UDP
            continue
        udp = ip[(ip[0] & 15) * 4:]
        sport, dport = struct.unpack("!HH", udp[:4])
        data = udp[8:]
        if data:
            out.write("%.3f %d->%d %s\n" % (time.time() - t0, sport, dport, describe(data)))


if __name__ == "__main__":
    main()
