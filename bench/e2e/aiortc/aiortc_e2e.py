#!/usr/bin/python3
"""aiortc adapter for the end-to-end benchmark (contract: bench/e2e/PROTOCOL.md).

  /usr/bin/python3 bench/e2e/aiortc/aiortc_e2e.py --mode t1 --role offerer|answerer
      --bytes N --msg-size M [--high 4194304] [--low 1048576] [--bind ADDR] [--timeout S]
  /usr/bin/python3 bench/e2e/aiortc/aiortc_e2e.py --mode t2 --runs R [--bind ADDR] [--timeout S]
  /usr/bin/python3 bench/e2e/aiortc/aiortc_e2e.py --mode t3 --connections C [--batch 10]
      [--bind ADDR] [--timeout S]
  every mode also takes --sockbuf BYTES (SO_RCVBUF/SO_SNDBUF requested, default 4 MiB, 0 = kernel default)

Runs with Debian's python3-aiortc (so /usr/bin/python3, not a pyenv interpreter).
stdout carries JSON lines only; logs go to stderr.
aiortc does not trickle: setLocalDescription() returns once gathering is complete, so the
description printed (t1) or handed over (t2, t3) carries every candidate.
aioice skips 127.0.0.1, so in the runner's namespace it gathers the veth interface's
198.51.100.1; with --bind it gathers exactly that address (see restrict_gathering).
"""
import argparse
import asyncio
import gc
import json
import resource
import socket
import sys
import threading
import time

import aioice
import aioice.ice
import aiortc
import aiortc.rtcsctptransport as sctp_mod
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

OPEN_TIMEOUT = 10.0  # t2/t3: a pair whose channels are not open by then is a failure


# ---------------------------------------------------------------- helpers

def log(*parts):
    print("aiortc_e2e:", *parts, file=sys.stderr, flush=True)


def emit(obj):
    """One JSON line on stdout, flushed at once (the runner reads it live)."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def cpu_seconds():
    """User + system CPU time of this process (all threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def vm_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # the kernel reports kB
    raise RuntimeError("no VmRSS in /proc/self/status")


def restrict_gathering(bind):
    """Makes aioice gather host candidates on `bind` only.

    aiortc has no option for this; aioice enumerates interfaces in
    aioice.ice.get_host_addresses (looked up as a module global at gather time), so
    replacing it is a clean, single-point restriction (as bench/ice_connect_aioice.py does).
    """
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [bind]


def enlarge_socket_buffers(size):
    """Requests SO_RCVBUF/SO_SNDBUF of `size` on every UDP socket aioice opens.

    Neither aiortc nor aioice exposes a setting; every aioice socket is handed to
    aioice.ice.StunProtocol.connection_made, so wrapping it is a single-point change. With the
    kernel default (~208 KiB) a busy receiver overflows its socket (RcvbufErrors) and SCTP
    halves its window; the other adapters ask for 4 MiB too. Linux caps at rmem_max/wmem_max.
    """
    original = aioice.ice.StunProtocol.connection_made
    logged = []

    def connection_made(self, transport):
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
            if not logged:  # t3 opens a thousand of them: report the first only
                logged.append(True)
                log("UDP socket %s: SO_RCVBUF %d, SO_SNDBUF %d granted (kernel values, twice the "
                    "usable size)" % (sock.getsockname(),
                                      sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
                                      sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)))
        original(self, transport)

    aioice.ice.StunProtocol.connection_made = connection_made


def read_sysctl(name):
    try:
        with open("/proc/sys/net/core/" + name) as f:
            return f.read().strip()
    except OSError:
        return "?"


def rtc_config():
    # No STUN/TURN servers: host candidates only (aiortc's default would add Google's STUN).
    return RTCConfiguration(iceServers=[])


def config_text(args):
    import OpenSSL
    parts = [
        "aiortc %s, aioice %s, Python %s, pyOpenSSL %s (%s)" % (
            aiortc.__version__, aioice.__version__, sys.version.split()[0],
            OpenSSL.__version__, OpenSSL.SSL.SSLeay_version(OpenSSL.SSL.SSLEAY_VERSION).decode()),
        "RTCConfiguration(iceServers=[]): host candidates only, no mDNS",
        ("gathering restricted to %s (aioice.ice.get_host_addresses patched)" % args.bind)
        if args.bind else "gathering: every non-loopback interface address (aioice default)",
        "non-trickle (setLocalDescription completes gathering)",
        "SCTP: max-message-size %d (advertised), DATA chunk payload %d B (aiortc's fixed "
        "USERDATA_MAX_LENGTH), receive window %d B (fixed)" % (
            sctp_mod.RTCSctpTransport.getCapabilities().maxMessageSize,
            sctp_mod.USERDATA_MAX_LENGTH, 1024 * 1024),
        ("UDP sockets SO_RCVBUF/SO_SNDBUF %d B requested (aioice StunProtocol.connection_made "
         "wrapped; kernel caps at net.core.rmem_max=%s wmem_max=%s)" % (
             args.sockbuf, read_sysctl("rmem_max"), read_sysctl("wmem_max")))
        if args.sockbuf else "UDP socket buffers: kernel default",
    ]
    if args.mode == "t1":
        parts.append("t1: msg-size %d, bufferedAmount high %d, low %d (bufferedAmountLowThreshold)"
                     % (args.msg_size, args.high, args.low))
    elif args.mode in ("t2", "t3"):
        parts.append("%s: in-process signaling, whole descriptions (no trickle)" % args.mode)
        if args.mode == "t3":
            parts.append("t3: pairs connected in batches of %d" % args.batch)
    return "; ".join(parts)


class StdinLines:
    """JSON lines from stdin, read by a daemon thread and handed to the event loop.

    A thread (rather than connect_read_pipe) works whatever stdin is (pipe, file, tty).
    get(type) returns the next message of that type; other types are kept for later.
    """

    def __init__(self, loop):
        self.loop = loop
        self.queue = asyncio.Queue()
        self.pending = []
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                self.loop.call_soon_threadsafe(log, "ignoring non-JSON stdin line: %r" % line[:80])
                continue
            self.loop.call_soon_threadsafe(self.queue.put_nowait, msg)
        self.loop.call_soon_threadsafe(self.queue.put_nowait, None)  # EOF

    async def get(self, msg_type):
        for i, msg in enumerate(self.pending):
            if msg.get("type") == msg_type:
                return self.pending.pop(i)
        while True:
            msg = await self.queue.get()
            if msg is None:
                raise RuntimeError("stdin closed while waiting for %r" % msg_type)
            if msg.get("type") == msg_type:
                return msg
            self.pending.append(msg)


async def close_quietly(*pcs):
    """Closes connections, bounded in time; a close problem is not a benchmark failure."""
    for pc in pcs:
        try:
            await asyncio.wait_for(pc.close(), 5)
        except Exception as exc:  # noqa: BLE001
            log("close failed:", repr(exc))


# ---------------------------------------------------------------- t1

async def t1(args):
    loop = asyncio.get_running_loop()
    stdin = StdinLines(loop)
    pc = RTCPeerConnection(rtc_config())
    try:
        if args.role == "offerer":
            await t1_sender(args, pc, stdin)
        else:
            await t1_receiver(args, pc, stdin)
    finally:
        await close_quietly(pc)


async def t1_sender(args, pc, stdin):
    loop = asyncio.get_running_loop()
    channel = pc.createDataChannel("t1", ordered=True)
    opened = loop.create_future()
    channel.on("open", lambda: opened.done() or opened.set_result(None))

    await pc.setLocalDescription(await pc.createOffer())  # gathers every candidate
    emit({"type": "offer", "sdp": pc.localDescription.sdp})
    answer = await stdin.get("answer")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))

    # Preallocated payloads: one per value of byte 0 (message k starts with k & 0xff), so
    # nothing is built per message. They must be distinct immutable objects because aiortc
    # queues a reference to each until it is cut into DATA chunks.
    tail = bytes((i * 7 + 3) & 0xFF for i in range(args.msg_size - 1))
    payloads = [bytes([b]) + tail for b in range(256)]
    total, size, high = args.bytes, args.msg_size, args.high
    state = {"sent": 0, "k": 0}
    queued = loop.create_future()

    def pump():
        # Send while the channel's buffer stays <= high; bufferedamountlow calls us again.
        while state["sent"] < total and channel.bufferedAmount + size <= high:
            n = min(size, total - state["sent"])
            msg = payloads[state["k"] & 0xFF]
            channel.send(msg if n == size else msg[:n])
            state["sent"] += n
            state["k"] += 1
        if state["sent"] >= total and not queued.done():
            queued.set_result(None)

    channel.bufferedAmountLowThreshold = args.low
    channel.on("bufferedamountlow", pump)

    await opened
    cpu0 = cpu_seconds()
    log("sender: channel open, sending %d bytes in messages of %d" % (total, size))
    pump()
    await queued
    log("sender: everything queued (%d messages); waiting for done" % state["k"])
    await stdin.get("done")
    emit({"type": "result", "role": "sender", "cpu_seconds": round(cpu_seconds() - cpu0, 4)})


async def t1_receiver(args, pc, stdin):
    loop = asyncio.get_running_loop()
    total = args.bytes
    st = {"bytes": 0, "messages": 0, "bad": 0, "first": None, "open": None, "cpu0": None}
    finished = loop.create_future()

    def on_message(data):
        if st["first"] is None:
            st["first"] = time.monotonic()
        if isinstance(data, str):
            data = data.encode()
        k = st["messages"]
        if not data or data[0] != (k & 0xFF):
            if st["bad"] == 0:
                log("receiver: message %d starts with %r, expected %d" % (k, data[:1], k & 0xFF))
            st["bad"] += 1
        st["messages"] = k + 1
        st["bytes"] += len(data)
        if st["bytes"] >= total and not finished.done():
            finished.set_result((time.monotonic(), cpu_seconds()))

    def on_datachannel(channel):
        # aiortc emits "datachannel" for a channel that is already open.
        if st["open"] is None:
            st["open"], st["cpu0"] = time.monotonic(), cpu_seconds()
            log("receiver: channel %r open" % channel.label)
        channel.on("message", on_message)

    pc.on("datachannel", on_datachannel)
    offer = await stdin.get("offer")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())  # gathers every candidate
    emit({"type": "answer", "sdp": pc.localDescription.sdp})

    last, cpu_last = await finished
    emit({"type": "result", "role": "receiver", "bytes": st["bytes"], "messages": st["messages"],
          "seconds": round(last - st["first"], 6), "open_to_done_seconds": round(last - st["open"], 6),
          "cpu_seconds": round(cpu_last - st["cpu0"], 4),
          "ok": st["bad"] == 0 and st["bytes"] == total})


# ---------------------------------------------------------------- t2 / t3

async def connect_pair(label):
    """Connects two in-process peers with one data channel.

    Returns (offerer pc, answerer pc, milliseconds from just before creating the offering
    connection until the channel is open on both sides). Raises on failure or after
    OPEN_TIMEOUT, having closed both peers.
    """
    loop = asyncio.get_running_loop()
    offer_open, answer_open = loop.create_future(), loop.create_future()
    t0 = time.monotonic()
    pc1 = RTCPeerConnection(rtc_config())
    pc2 = None
    try:
        ch1 = pc1.createDataChannel(label, ordered=True)
        ch1.on("open", lambda: offer_open.done() or offer_open.set_result(None))
        await pc1.setLocalDescription(await pc1.createOffer())
        pc2 = RTCPeerConnection(rtc_config())
        # aiortc emits "datachannel" for an already open channel.
        pc2.on("datachannel", lambda ch: answer_open.done() or answer_open.set_result(ch))
        await pc2.setRemoteDescription(pc1.localDescription)
        await pc2.setLocalDescription(await pc2.createAnswer())
        await pc1.setRemoteDescription(pc2.localDescription)
        remaining = OPEN_TIMEOUT - (time.monotonic() - t0)
        await asyncio.wait_for(asyncio.gather(offer_open, answer_open), max(remaining, 0.001))
        ms = (time.monotonic() - t0) * 1000.0
    except BaseException:
        await close_quietly(*(p for p in (pc1, pc2) if p is not None))
        raise
    return pc1, pc2, ms


async def t2(args):
    ms, failures = [], 0
    for run in range(args.runs + 1):  # run 0 is the unrecorded warm-up
        try:
            pc1, pc2, elapsed = await connect_pair("t2")
        except Exception as exc:  # noqa: BLE001 - counted, not fatal
            log("t2 run %d failed: %r" % (run, exc))
            if run > 0:
                failures += 1
            continue
        if run > 0:
            ms.append(round(elapsed, 3))
        await close_quietly(pc1, pc2)  # pc.close() returns once its transports are stopped
    emit({"type": "result", "ms": ms, "failures": failures})


async def t3(args):
    # Each connection holds a UDP socket (plus DTLS/SCTP state): allow enough descriptors.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    pc1, pc2, _ = await connect_pair("warmup")  # loads libraries and lazily built state
    await close_quietly(pc1, pc2)
    del pc1, pc2
    await asyncio.sleep(1)
    gc.collect()
    rss_before = vm_rss_bytes()

    pairs, connected = [], 0
    npairs = args.connections // 2
    started = time.monotonic()

    async def one(i):
        try:
            return await connect_pair("t3-%d" % i)
        except Exception as exc:  # noqa: BLE001 - counted, not fatal
            log("t3 pair %d failed: %r" % (i, exc))
            return None

    for first in range(0, npairs, args.batch):
        batch = range(first, min(first + args.batch, npairs))
        for res in await asyncio.gather(*(one(i) for i in batch)):
            if res is not None:
                pairs.append(res[:2])  # keep both peers (and so their channels) alive
                connected += 2
        if (first // args.batch) % 10 == 9:
            log("t3: %d/%d connections open after %.1f s"
                % (connected, 2 * npairs, time.monotonic() - started))
    log("t3: %d/%d connections open in %.1f s" % (connected, 2 * npairs, time.monotonic() - started))

    await asyncio.sleep(2)
    gc.collect()
    rss_after = vm_rss_bytes()
    emit({"type": "result", "connections": args.connections, "connected": connected,
          "rss_before": rss_before, "rss_after": rss_after,
          "bytes_per_connection": round((rss_after - rss_before) / args.connections, 1)})
    for pc1, pc2 in pairs:  # not measured
        await close_quietly(pc1, pc2)


# ---------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(description="aiortc adapter for bench/e2e (see PROTOCOL.md)")
    ap.add_argument("--mode", required=True, choices=["t1", "t2", "t3"])
    ap.add_argument("--role", choices=["offerer", "answerer"])
    ap.add_argument("--bytes", type=int, default=268435456)
    ap.add_argument("--msg-size", type=int, default=65536)
    ap.add_argument("--high", type=int, default=4194304)
    ap.add_argument("--low", type=int, default=1048576)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=10, help="t3: pairs connected concurrently")
    ap.add_argument("--sockbuf", type=int, default=4 << 20,
                    help="requested SO_RCVBUF/SO_SNDBUF of every UDP socket, 0 = kernel default")
    ap.add_argument("--bind", help="gather host candidates on this address only")
    ap.add_argument("--timeout", type=float, default=120.0, help="limit for the whole run, seconds")
    args = ap.parse_args()
    if args.mode == "t1" and not args.role:
        ap.error("t1 needs --role offerer|answerer")
    if (args.bytes <= 0 or args.msg_size <= 0 or args.runs < 0 or args.connections < 2
            or args.batch < 1 or args.sockbuf < 0):
        ap.error("sizes and counts must be positive (t3 needs at least 2 connections)")
    return args


async def run(args):
    if args.bind:
        restrict_gathering(args.bind)
    if args.sockbuf:
        enlarge_socket_buffers(args.sockbuf)
    text = config_text(args)
    emit({"type": "config", "text": text})
    log("config:", text)
    await {"t1": t1, "t2": t2, "t3": t3}[args.mode](args)


def main():
    args = parse_args()
    try:
        asyncio.run(asyncio.wait_for(run(args), args.timeout))
    except asyncio.TimeoutError:
        log("error: timed out after %g s (--timeout)" % args.timeout)
        return 1
    except Exception as exc:  # noqa: BLE001
        log("error: %r" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
