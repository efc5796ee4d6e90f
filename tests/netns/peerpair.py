"""Runs two `peerlink ice-peer` processes and relays their JSON-lines signaling.

Used by tests/netns/ice_suite.py (peers inside network namespaces). stdlib only;
run with /usr/bin/python3.

Each peer writes {"type":"credentials"|"candidate"|"end-of-candidates"|"bye"}
lines, which are copied to the other peer's stdin, and one {"type":"result"}
line, which is kept. When a peer's stdout ends, the other's stdin is closed
(the controlled side ends with its signaling, like `peerlink ice-demo` does).
Everything is bounded by a deadline; peers still running then are killed.
"""

import json
import os
import selectors
import signal
import subprocess
import time


class Peer:
    """One child process speaking JSON lines on stdin/stdout."""

    def __init__(self, name, argv, log_path):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, bufsize=0
        )
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.buffer = b""
        self.stdout_done = False
        self.lines = []  # every JSON object it wrote, in order
        self.result = None
        self.result_at = None  # seconds since the pair started
        self.returncode = None
        self.killed = False

    def write_line(self, line):
        if self.proc.stdin is None or self.proc.stdin.closed:
            return
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close_stdin()

    def close_stdin(self):
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def gathering_complete(self):
        """Whether this peer signalled end-of-candidates."""
        return any(j.get("type") == "end-of-candidates" for j in self.lines)

    def candidates(self, kind=None):
        """The candidate strings this peer signalled (optionally only `typ kind`)."""
        out = []
        for j in self.lines:
            if j.get("type") == "candidate":
                c = j.get("candidate", "")
                if kind is None or (" typ %s" % kind) in c:
                    out.append(c)
        return out

    def stderr_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class PairOutcome:
    def __init__(self, peers, elapsed, timed_out):
        self.peers = peers
        self.elapsed = elapsed
        self.timed_out = timed_out

    def __getitem__(self, name):
        for p in self.peers:
            if p.name == name:
                return p
        raise KeyError(name)

    def summary(self):
        parts = []
        for p in self.peers:
            r = p.result or {}
            sel = r.get("selected")
            if sel:
                desc = "%s %s -> %s %s" % (sel.get("local_type"), sel.get("local"), sel.get("remote_type"), sel.get("remote"))
            else:
                desc = "no pair"
            if r.get("error"):
                desc += " (error: %s)" % r["error"]
            parts.append("%s[exit %s]: %s" % (p.name, p.returncode, desc))
        return "; ".join(parts) + "; %.2f s" % self.elapsed


def run_pair(specs, deadline_s, on_line=None):
    """Starts the two peers in `specs` (name, argv, log_path) and relays until both
    stdouts end or `deadline_s` passes. `on_line(peer, obj)` sees every JSON line
    before it is forwarded. Returns a PairOutcome."""
    assert len(specs) == 2
    start = time.monotonic()
    peers = [Peer(*s) for s in specs]
    sel = selectors.DefaultSelector()
    for i, p in enumerate(peers):
        sel.register(p.proc.stdout, selectors.EVENT_READ, i)
    timed_out = False
    try:
        while not all(p.stdout_done for p in peers):
            left = deadline_s - (time.monotonic() - start)
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(timeout=min(left, 0.5)):
                i = key.data
                p, other = peers[i], peers[1 - i]
                try:
                    chunk = os.read(p.proc.stdout.fileno(), 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    p.stdout_done = True
                    sel.unregister(p.proc.stdout)
                    other.close_stdin()
                    continue
                p.buffer += chunk
                while b"\n" in p.buffer:
                    raw, p.buffer = p.buffer.split(b"\n", 1)
                    line = raw.decode(errors="replace").strip()
                    if not line:
                        continue
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        p.lines.append({"type": "non-json", "text": line})
                        continue
                    p.lines.append(obj)
                    if on_line is not None:
                        on_line(p, obj)
                    if obj.get("type") == "result":
                        p.result = obj
                        p.result_at = time.monotonic() - start
                        continue
                    other.write_line(line)
    finally:
        sel.close()
        for p in peers:
            p.close_stdin()
        # Bounded reaping: a peer gets 3 s after its stdout ended (or the deadline).
        for p in peers:
            try:
                p.returncode = p.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.killed = True
                p.proc.send_signal(signal.SIGTERM)
                try:
                    p.returncode = p.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    p.proc.kill()
                    p.returncode = p.proc.wait(timeout=5)
            p.proc.stdout.close()
            p.log.close()
    return PairOutcome(peers, time.monotonic() - start, timed_out)
