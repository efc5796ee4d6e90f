#!/usr/bin/python3
"""ICE interop against aioice (an independent Python ICE agent, Debian python3-aioice).

  aioice_interop.py --peerlink BUILD/tools/peerlink/peerlink [--scenario NAME ...]

One side is aioice.Connection in this process, the other `peerlink ice-peer --loopback`
as a child; credentials and candidates go through ice-peer's JSON-lines signaling
(aioice Candidate <-> "candidate:..." SDP strings). Both roles are run:

  peerlink-controlling  ours controlling (regular nomination), aioice controlled: our
                        peer sends "ping:<i>" datagrams, aioice echoes "pong:<i>".
  aioice-controlling    aioice controlling (aggressive nomination), ours controlled:
                        aioice sends "ping:<i>-<random>" and checks that ours echoes
                        "pong:<i>-<random>" byte for byte.

Asserts: ICE completes on both sides, the two sides agree on the selected pair (each
one's local address is the other's remote), the round trip is correct, our peer exits 0
with echo_ok. Prints the selected pair. Loopback only; every wait is bounded. Must run
with /usr/bin/python3 (Debian's interpreter, where python3-aioice is importable).
"""

import argparse
import asyncio
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time

try:
    import aioice
    import aioice.ice
except ImportError as e:  # a missing dependency is a failure, not a skip
    print("aioice_interop: FAIL: cannot import aioice (%s); install python3-aioice and run with "
          "/usr/bin/python3" % e, file=sys.stderr)
    sys.exit(1)

# aioice gathers every non-loopback interface address and skips 127.0.0.1; this test is
# loopback-only (ice-peer --loopback), so give aioice exactly 127.0.0.1.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def to_sdp(candidate):
    return "candidate:" + candidate.to_sdp()


def from_sdp(text):
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:"):]
    return aioice.Candidate.from_sdp(text)


class PeerlinkChild:
    """`peerlink ice-peer` with its JSON lines parsed as they arrive."""

    def __init__(self, proc, log_path):
        self.proc = proc
        self.log_path = log_path
        self.credentials = asyncio.get_running_loop().create_future()
        self.result = asyncio.get_running_loop().create_future()
        self.lines = []
        self.candidates = []

    def send(self, obj):
        if self.proc.stdin.is_closing():
            return
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())

    def stderr_tail(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-6000:]


async def pump_signaling(child, conn):
    """Copies the child's signaling into aioice until its stdout ends."""
    while True:
        raw = await child.proc.stdout.readline()
        if not raw:
            break
        line = raw.decode(errors="replace").strip()
        if not line:
            continue
        obj = json.loads(line)
        child.lines.append(obj)
        kind = obj.get("type")
        if kind == "credentials":
            conn.remote_username = obj["ufrag"]
            conn.remote_password = obj["pwd"]
            if not child.credentials.done():
                child.credentials.set_result(obj)
        elif kind == "candidate":
            cand = from_sdp(obj["candidate"])
            child.candidates.append(cand)
            await conn.add_remote_candidate(cand)  # aioice drops families it has no socket for
        elif kind == "end-of-candidates":
            await conn.add_remote_candidate(None)
        elif kind == "result":
            if not child.result.done():
                child.result.set_result(obj)
    if not child.credentials.done():
        child.credentials.set_exception(Failure("peerlink closed stdout before sending credentials"))
    if not child.result.done():
        child.result.set_exception(Failure("peerlink closed stdout without a result line"))


def describe(c):
    return "%s %s:%d" % (c.type, c.host, c.port)


async def scenario(peerlink, ours_controlling, count, timeout, workdir):
    name = "peerlink-controlling" if ours_controlling else "aioice-controlling"
    log_path = os.path.join(workdir, "%s.peerlink.log" % name)
    role = "controlling" if ours_controlling else "controlled"
    argv = [peerlink, "ice-peer", "--role", role, "--loopback", "--timeout", str(timeout),
            "--echo-count", str(count), "--log-prefix", "peerlink-" + role]
    print("== %s\n   $ %s" % (name, " ".join(argv)), flush=True)
    with open(log_path, "wb") as log:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, stderr=log)
    child = PeerlinkChild(proc, log_path)
    conn = aioice.Connection(ice_controlling=not ours_controlling, use_ipv6=False)
    pump = asyncio.ensure_future(pump_signaling(child, conn))
    started = time.monotonic()
    try:
        await conn.gather_candidates()
        check(conn.local_candidates, "aioice gathered no candidates")
        child.send({"type": "credentials", "ufrag": conn.local_username, "pwd": conn.local_password})
        for c in conn.local_candidates:
            child.send({"type": "candidate", "candidate": to_sdp(c)})
        child.send({"type": "end-of-candidates"})
        await proc.stdin.drain()

        await asyncio.wait_for(asyncio.shield(child.credentials), timeout)
        await asyncio.wait_for(conn.connect(), timeout)
        connected_ms = (time.monotonic() - started) * 1000
        pair = conn._nominated.get(1)  # aioice exposes the nominated pair only privately
        check(pair is not None, "aioice connected without a nominated pair")
        print("   aioice connected in %.0f ms, nominated %s -> %s" % (
            connected_ms, describe(pair.local_candidate), describe(pair.remote_candidate)), flush=True)

        if ours_controlling:
            # Echo what our controlling peer sends until it prints its result.
            pings = set()
            async def echo():
                while True:
                    data = await conn.recv()
                    if data.startswith(b"ping:"):
                        pings.add(data[5:])
                        await conn.send(b"pong:" + data[5:])
            echo_task = asyncio.ensure_future(echo())
            try:
                result = await asyncio.wait_for(asyncio.shield(child.result), timeout)
            finally:
                echo_task.cancel()
            expected = {str(i).encode() for i in range(count)}
            check(pings == expected, "aioice saw pings %s, expected %s" % (sorted(pings), sorted(expected)))
            check(result.get("echo_received") == count, "ours counted %s echoes" % result.get("echo_received"))
        else:
            # Send pings with a random tail; ours must echo each tail unchanged.
            tails = {i: ("%d-%s" % (i, secrets.token_hex(16))).encode() for i in range(count)}
            answered = {}
            async def collect():
                while len(answered) < count:
                    data = await conn.recv()
                    if data.startswith(b"pong:"):
                        tail = data[5:]
                        i = int(tail.split(b"-", 1)[0])
                        check(tails.get(i) == tail, "pong %r does not match ping %r" % (tail, tails.get(i)))
                        answered[i] = tail
            collector = asyncio.ensure_future(collect())
            try:
                deadline = time.monotonic() + timeout
                while not collector.done():  # bounded: resend every 200 ms until the deadline
                    check(time.monotonic() < deadline, "only %d/%d pongs within %.0f s" % (
                        len(answered), count, timeout))
                    for i, tail in tails.items():
                        if i not in answered:
                            await conn.send(b"ping:" + tail)
                    await asyncio.wait([collector], timeout=0.2)
                collector.result()  # re-raises a mismatch
            finally:
                collector.cancel()
            child.send({"type": "bye"})
            result = await asyncio.wait_for(asyncio.shield(child.result), timeout)
            check(result.get("echo_distinct", 0) >= count, "ours answered %s distinct pings" % (
                result.get("echo_distinct")))

        rc = await asyncio.wait_for(proc.wait(), 10)
        sel = result.get("selected") or {}
        print("   peerlink result: %s" % json.dumps(result), flush=True)
        check(rc == 0, "peerlink exited %d: %s" % (rc, result.get("error")))
        check("error" not in result and result.get("echo_ok") is True, "peerlink result not ok: %s" % result)
        check(sel, "peerlink selected no pair")
        local = "%s:%d" % (pair.local_candidate.host, pair.local_candidate.port)
        remote = "%s:%d" % (pair.remote_candidate.host, pair.remote_candidate.port)
        check(sel["local"] == remote and sel["remote"] == local,
              "the agents disagree: peerlink %s -> %s, aioice %s -> %s" % (sel["local"], sel["remote"], local, remote))
        # Same address on both sides (checked above). The type may differ: when our check reaches
        # aioice before our trickled candidate does, aioice learns us as peer-reflexive and keeps
        # that (RFC 8445 7.3.1.3), while we selected our host candidate (seen 1 in ~10 loaded runs).
        check(pair.remote_candidate.type == sel["local_type"] or pair.remote_candidate.type == "prflx",
              "aioice sees our candidate as %s, we selected %s" % (pair.remote_candidate.type, sel["local_type"]))
        summary = "peerlink %s %s <-> aioice %s %s, rtt %.2f ms" % (
            sel["local_type"], sel["local"], sel["remote_type"], sel["remote"], result.get("rtt_ms") or -1)
        print("   PASS %s: selected pair %s; %d datagrams echoed; %.2f s" % (
            name, summary, count, time.monotonic() - started), flush=True)
        return summary
    except (Failure, asyncio.TimeoutError, ConnectionError, ValueError) as e:
        msg = str(e) or e.__class__.__name__
        print("   FAIL %s: %s\n---- peerlink stderr (%s)\n%s\n---- peerlink stdout JSON\n%s" % (
            name, msg, log_path, child.stderr_tail(), "\n".join(json.dumps(j) for j in child.lines)), flush=True)
        raise Failure("%s: %s" % (name, msg))
    finally:
        await conn.close()
        if proc.returncode is None:
            if not proc.stdin.is_closing():
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 3)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        pump.cancel()


async def main_async(args):
    workdir = tempfile.mkdtemp(prefix="peerlink-aioice.")
    peerlink = os.path.abspath(args.peerlink)
    failures = 0
    scenarios = args.scenario or ["peerlink-controlling", "aioice-controlling"]
    for name in scenarios:
        try:
            await scenario(peerlink, name == "peerlink-controlling", args.count, args.timeout, workdir)
        except Failure:
            failures += 1
    print("aioice_interop: %d passed, %d failed (aioice %s)" % (
        len(scenarios) - failures, failures, getattr(aioice, "__version__", "?")))
    if failures:
        print("logs kept in %s" % workdir)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peerlink", required=True)
    ap.add_argument("--scenario", action="append", choices=["peerlink-controlling", "aioice-controlling"])
    ap.add_argument("--count", type=int, default=10, help="datagrams echoed per scenario")
    ap.add_argument("--timeout", type=float, default=15.0, help="bound for each wait (seconds)")
    ap.add_argument("--verbose", action="store_true", help="aioice's own INFO log on stderr")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="aioice %(levelname)s %(message)s")
    if not os.access(args.peerlink, os.X_OK):
        print("aioice_interop: FAIL: %s is not executable" % args.peerlink, file=sys.stderr)
        return 1
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
