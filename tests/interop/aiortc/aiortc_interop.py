#!/usr/bin/python3
"""Our PeerConnection (examples/echo_server) against aiortc (Debian's python3-aiortc).

  aiortc_interop.py ECHO_SERVER_BINARY answerer|offerer

answerer: aiortc offers (with a reliable ordered channel "chat"), echo_server answers.
offerer:  echo_server offers (with its channel "echo"), aiortc answers.
Either way aiortc sends messages of 0 B, 1 B, 1 KiB, 16 KiB and 64 KiB, text and binary, over
the channel; echo_server sends each back. Every echo must match what was sent: the SHA-256 of
all sent messages and of all echoes (in order, with their type) must be equal.
Then the channel matrix (the cases of tests/interop/common/echo_harness.mjs, printed in the
same form so tests/interop/matrix.py reads both): aiortc opens an unordered, a maxRetransmits=0
and a maxPacketLifeTime=100 channel one after the other, then a negotiated channel (id 200; our
side made from a stdin command) and ten plain ones at once; each carries 0 B, 1 B, 16 KiB and
64 KiB text and binary messages ("many-0" also one binary message of the connection's largest
size), all echoed and verified (unordered ones as a multiset), and both ends must report the
same options and stream id. Last, aiortc closes many-3 and our peer must see it close; our peer
closes many-4 and aiortc must see it close. Exit 0 on success.
aiortc does not trickle: descriptions carry every candidate (echo_server prints its
description once gathering is complete).
"""
import asyncio
import hashlib
import json
import os
import sys

from aiortc import RTCPeerConnection, RTCSessionDescription

SIZES = [0, 1, 1024, 16 * 1024, 64 * 1024]
MATRIX_SIZES = [0, 1, 16 * 1024, 64 * 1024]
NEGOTIATED_ID = 200
TIMEOUT = 40
# (label, createDataChannel options); the first three run one after the other, the rest at once.
MATRIX_ALONE = [("unordered", {"ordered": False}), ("rexmit0", {"maxRetransmits": 0}),
                ("lifetime100", {"maxPacketLifeTime": 100})]
MATRIX_AT_ONCE = [("negotiated", {"negotiated": True, "id": NEGOTIATED_ID})] + \
    [("many-%d" % i, {}) for i in range(10)]


def payloads(sizes=SIZES):
    out = []
    for i, n in enumerate(sizes):
        data = bytes((i * 31 + k * 7) & 0xFF for k in range(n))
        out.append(data)  # binary
        out.append(("x" * n) if n else "")  # text
    return out


def digest(messages):
    h = hashlib.sha256()
    for m in messages:
        if isinstance(m, str):
            h.update(b"T" + len(m.encode()).to_bytes(8, "big") + m.encode())
        else:
            h.update(b"B" + len(m).to_bytes(8, "big") + m)
    return h.hexdigest()


async def read_json(proc, want):
    while True:
        line = await proc.stdout.readline()
        if not line:
            raise RuntimeError("echo_server exited before printing " + want)
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("event") == "error":
            raise RuntimeError("echo_server: " + msg.get("message", ""))
        if msg.get("type") == want:
            return msg


async def exchange(channel):
    sent = payloads()
    echoes = await send_and_collect(channel, sent, channel.label)
    if digest(sent) != digest(echoes):
        raise RuntimeError("echo digest mismatch: %s vs %s" % (digest(sent), digest(echoes)))
    print("%d messages echoed, sha256 %s" % (len(echoes), digest(echoes)))


class Lines:
    """echo_server's stdout, read in the background once the descriptions are exchanged."""

    def __init__(self, proc):
        self.proc = proc
        self.items = []
        self.task = asyncio.ensure_future(self._read())

    async def _read(self):
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                return
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("event") == "error":
                print("echo_server error: " + msg.get("message", ""))
            self.items.append(msg)

    async def wait(self, pred, what, timeout=10):
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            for m in self.items:
                if pred(m):
                    return m
            await asyncio.sleep(0.02)
        raise RuntimeError("timed out waiting for " + what)


async def send_and_collect(channel, messages, label):
    """Sends `messages` on the open `channel` and returns the echoes in arrival order."""
    echoes = []
    done = asyncio.get_running_loop().create_future()

    @channel.on("message")
    def on_message(m):
        echoes.append(m)
        if len(echoes) == len(messages) and not done.done():
            done.set_result(True)

    for m in messages:
        channel.send(m)
    try:
        await asyncio.wait_for(done, TIMEOUT)
    except asyncio.TimeoutError:
        raise RuntimeError("%s: %d of %d echoes" % (label, len(echoes), len(messages)))
    return echoes


async def open_channel(pc, label, options):
    channel = pc.createDataChannel(label, **options)
    if channel.readyState != "open":
        opened = asyncio.get_running_loop().create_future()
        channel.on("open", lambda: opened.done() or opened.set_result(True))
        await asyncio.wait_for(opened, TIMEOUT)
    return channel


async def channel_matrix(pc, proc, lines):
    max_size = min(pc.sctp.getCapabilities().maxMessageSize, 65536)
    big = bytes((i * 13) & 0xFF for i in range(max_size))
    sent = payloads(MATRIX_SIZES)
    proc.stdin.write((json.dumps({"negotiated": {"label": "negotiated", "id": NEGOTIATED_ID}}) + "\n").encode())
    await proc.stdin.drain()
    await lines.wait(lambda m: m.get("event") == "open" and m.get("label") == "negotiated",
                     "our negotiated channel to open")
    channels, echoes = {}, {}

    async def run(label, options):
        ch = await open_channel(pc, label, options)
        channels[label] = ch
        msgs = sent + [big] if label == "many-0" else sent
        echoes[label] = (msgs, await send_and_collect(ch, msgs, label))

    for label, options in MATRIX_ALONE:
        await run(label, options)
    await asyncio.gather(*(run(label, options) for label, options in MATRIX_AT_ONCE))
    rows = []
    for label, options in MATRIX_ALONE + MATRIX_AT_ONCE:
        ch = channels[label]
        want = {"ordered": options.get("ordered", True), "maxRetransmits": options.get("maxRetransmits"),
                "maxPacketLifeTime": options.get("maxPacketLifeTime"),
                "negotiated": options.get("negotiated", False)}
        for k, v in want.items():
            if getattr(ch, k) != v:
                raise RuntimeError("%s: aiortc's channel has %s %r, expected %r" % (label, k, getattr(ch, k), v))
        mine = await lines.wait(lambda m: m.get("event") == "open" and m.get("label") == label,
                                "our peer to report " + label + " open")
        for k, v in want.items():
            if mine.get(k) != v:
                raise RuntimeError("%s: our channel has %s %r, expected %r" % (label, k, mine.get(k), v))
        if mine.get("id") != ch.id:
            raise RuntimeError("%s: stream id %r here, %r in aiortc" % (label, mine.get("id"), ch.id))
        msgs, got = echoes[label]
        if want["ordered"]:
            ok = digest(msgs) == digest(got)
        else:
            ok = sorted(digest([m]) for m in msgs) == sorted(digest([m]) for m in got)
        if not ok:
            raise RuntimeError("%s: echoes are not the sent messages" % label)
        rows.append("%-12s id %3d  %d echoes ok%s" % (label, ch.id, len(got),
                                                     " (incl. %d B)" % max_size if label == "many-0" else ""))
    print("channel matrix (both sides agree on options and id; every echo verified):\n  " + "\n  ".join(rows))

    # Close from either side: aiortc closes many-3, our peer closes many-4.
    channels["many-3"].close()
    await lines.wait(lambda m: m.get("event") == "channel-closed" and m.get("label") == "many-3",
                     "our peer to see many-3 closed by aiortc")
    closed = asyncio.get_running_loop().create_future()
    many4 = channels["many-4"]
    many4.on("close", lambda: closed.done() or closed.set_result(True))
    proc.stdin.write((json.dumps({"close": "many-4"}) + "\n").encode())
    await proc.stdin.drain()
    if many4.readyState != "closed":
        try:
            await asyncio.wait_for(closed, 10)
        except asyncio.TimeoutError:
            raise RuntimeError("many-4 closed by our peer is %s in aiortc" % many4.readyState)
    print("channel close: other side -> our peer (many-3) and our peer -> other side (many-4) ok")


async def run(binary, role):
    args = [binary, "--timeout", str(TIMEOUT)] + (["--offer"] if role == "offerer" else [])
    proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    pc = RTCPeerConnection()
    try:
        opened = asyncio.get_running_loop().create_future()
        if role == "answerer":
            channel = pc.createDataChannel("chat", ordered=True)

            @channel.on("open")
            def on_open():
                if not opened.done():
                    opened.set_result(channel)

            await pc.setLocalDescription(await pc.createOffer())
            offer = {"type": "offer", "sdp": pc.localDescription.sdp}
            proc.stdin.write((json.dumps(offer) + "\n").encode())
            await proc.stdin.drain()
            answer = await asyncio.wait_for(read_json(proc, "answer"), TIMEOUT)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        else:

            @pc.on("datachannel")
            def on_datachannel(ch):
                if ch.readyState == "open":
                    opened.set_result(ch)
                else:
                    ch.on("open", lambda: opened.done() or opened.set_result(ch))

            offer = await asyncio.wait_for(read_json(proc, "offer"), TIMEOUT)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            answer = {"type": "answer", "sdp": pc.localDescription.sdp}
            proc.stdin.write((json.dumps(answer) + "\n").encode())
            await proc.stdin.drain()
        channel = await asyncio.wait_for(opened, TIMEOUT)
        print("channel %r open (%s)" % (channel.label, role))
        lines = Lines(proc)
        await exchange(channel)
        await channel_matrix(pc, proc, lines)
    finally:
        await pc.close()
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("answerer", "offerer"):
        print(__doc__)
        return 2
    if not os.access(sys.argv[1], os.X_OK):
        print("not executable: " + sys.argv[1])
        return 2
    asyncio.run(asyncio.wait_for(run(sys.argv[1], sys.argv[2]), TIMEOUT + 20))
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
