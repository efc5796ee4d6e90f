#!/usr/bin/python3
"""Our PeerConnection (examples/echo_server) against aiortc (Debian's python3-aiortc).

  aiortc_interop.py ECHO_SERVER_BINARY answerer|offerer

answerer: aiortc offers (with a reliable ordered channel "chat"), echo_server answers.
offerer:  echo_server offers (with its channel "echo"), aiortc answers.
Either way aiortc sends messages of 0 B, 1 B, 1 KiB, 16 KiB and 64 KiB, text and binary, over
the channel; echo_server sends each back. Every echo must match what was sent: the SHA-256 of
all sent messages and of all echoes (in order, with their type) must be equal. Exit 0 on success.
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
TIMEOUT = 40


def payloads():
    out = []
    for i, n in enumerate(SIZES):
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
    echoes = []
    done = asyncio.get_running_loop().create_future()

    @channel.on("message")
    def on_message(m):
        echoes.append(m)
        if len(echoes) == len(sent) and not done.done():
            done.set_result(True)

    for m in sent:
        channel.send(m)
    await asyncio.wait_for(done, TIMEOUT)
    if digest(sent) != digest(echoes):
        raise RuntimeError("echo digest mismatch: %s vs %s" % (digest(sent), digest(echoes)))
    print("%d messages echoed, sha256 %s" % (len(echoes), digest(echoes)))


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
        await exchange(channel)
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
