#!/usr/bin/env python3
"""`peerlink pipe` end to end on loopback: a real `peerlink signal` server and two pipe processes.

Each case starts its own signaling server on an ephemeral port and checks exit codes, the bytes
that came out of each side's stdout against what went into the other side's stdin, and the
messages on stderr. Usage: pipe_test.py PEERLINK [CASE...]
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

PEERLINK = sys.argv[1]
CASE_TIMEOUT = 90


class Server:
    def __init__(self):
        self.proc = subprocess.Popen([PEERLINK, "signal", "--listen", "127.0.0.1:0"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        self.url = None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            m = re.search(r"ws://(127\.0\.0\.1:\d+)", line)
            if m and "listening" in line:
                self.url = "ws://" + m.group(1)
                break
        if not self.url:
            self.proc.kill()
            raise RuntimeError("peerlink signal did not report its port")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_pipe(tmp, name, room, url, stdin_path, extra=(), stdout_pipe=False):
    """stdout_pipe: stdout is a pipe the caller reads (Popen.stdout) instead of NAME.out."""
    out = subprocess.PIPE if stdout_pipe else open(os.path.join(tmp, name + ".out"), "wb")
    err = open(os.path.join(tmp, name + ".err"), "wb")
    stdin = open(stdin_path, "rb")
    cmd = [PEERLINK, "pipe", room, "--signal", url, "--bind", "127.0.0.1", "--loopback", "-v"] + list(extra)
    if "--timeout" not in extra:
        cmd += ["--timeout", "30"]
    proc = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=err)
    stdin.close()
    if not stdout_pipe:
        out.close()
    err.close()
    return proc


def read(tmp, name, ext):
    with open(os.path.join(tmp, name + "." + ext), "rb") as f:
        return f.read()


def write_random(tmp, name, size):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    return path


def wait(procs, timeout):
    deadline = time.monotonic() + timeout
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            codes.append("timeout")
    return codes


def transfer(tmp, size_a, size_b, extra_a=(), extra_b=()):
    """A sends size_a bytes, B sends size_b; both must exit 0 with the other's bytes intact."""
    server = Server()
    try:
        in_a = write_random(tmp, "a.in", size_a)
        in_b = write_random(tmp, "b.in", size_b)
        a = start_pipe(tmp, "a", "r1", server.url, in_a, extra_a)
        b = start_pipe(tmp, "b", "r1", server.url, in_b, extra_b)
        codes = wait([a, b], CASE_TIMEOUT)
    finally:
        server.stop()
    err_a, err_b = read(tmp, "a", "err").decode(errors="replace"), read(tmp, "b", "err").decode(errors="replace")
    assert codes == [0, 0], f"exit codes {codes}\n--- a:\n{err_a}\n--- b:\n{err_b}"
    got_b, got_a = read(tmp, "b", "out"), read(tmp, "a", "out")
    with open(in_a, "rb") as f:
        sent_a = f.read()
    with open(in_b, "rb") as f:
        sent_b = f.read()
    assert hashlib.sha256(got_b).hexdigest() == hashlib.sha256(sent_a).hexdigest(), \
        f"B received {len(got_b)} bytes, A sent {len(sent_a)}"
    assert hashlib.sha256(got_a).hexdigest() == hashlib.sha256(sent_b).hexdigest(), \
        f"A received {len(got_a)} bytes, B sent {len(sent_b)}"
    for err in (err_a, err_b):
        # The remote end is "prflx" when the peer's check arrived before its trickled candidate
        # (RFC 8445 section 7.3.1.3); the path line says what was known when the channel opened.
        assert re.search(r"connected to [0-9a-f]{8} via host 127\.0\.0\.1:\d+ <-> (host|prflx) 127\.0\.0\.1:\d+ "
                         r"\(direct\)", err), err
        assert re.search(r"done: sent \d+ bytes, received \d+ bytes", err), err
    return err_a, err_b


def case_both_directions(tmp):
    transfer(tmp, 24 * 1024 * 1024 + 123, 3 * 1024 * 1024 + 7)


def case_empty_inputs(tmp):
    transfer(tmp, 0, 0)


def case_room_password(tmp):
    # Both sides encrypt their signaling; the server relays only ciphertext (signaling tests
    # check what the relay sees; here the point is that pipe wires the password through).
    transfer(tmp, 1024 * 1024, 5, ("--password", "correct horse"), ("--password", "correct horse"))


def case_resume_state(tmp):
    # --resume-state: each side saves the path state it retained after a good transfer, and a
    # second pair of pipes starts from it; a malformed file is a usage error naming the file.
    state_a, state_b = os.path.join(tmp, "a.state"), os.path.join(tmp, "b.state")
    transfer(tmp, 8 * 1024 * 1024, 1024, ("--resume-state", state_a), ("--resume-state", state_b))
    with open(state_a) as f:
        saved = json.load(f)
    assert saved["congestion_window"] > 0 and 0 < saved["round_trip_time"] < 1, saved
    transfer(tmp, 8 * 1024 * 1024, 1024, ("--resume-state", state_a), ("--resume-state", state_b))
    with open(state_a, "w") as f:
        f.write("not json")
    r = subprocess.run([PEERLINK, "pipe", "r", "--resume-state", state_a], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and state_a in r.stderr, f"exit {r.returncode} {r.stderr!r}"


def case_rapid_start(tmp):
    # --rapid-start on one side only: what it sends still arrives intact, both ways.
    transfer(tmp, 8 * 1024 * 1024 + 5, 64 * 1024, ("--rapid-start",), ())


def case_wrong_password_finds_no_peer(tmp):
    server = Server()
    try:
        empty = write_random(tmp, "empty", 0)
        a = start_pipe(tmp, "a", "r2", server.url, empty, ("--password", "one", "--timeout", "3"))
        b = start_pipe(tmp, "b", "r2", server.url, empty, ("--password", "two", "--timeout", "3"))
        codes = wait([a, b], 30)
    finally:
        server.stop()
    for name, code in zip("ab", codes):
        err = read(tmp, name, "err").decode(errors="replace")
        assert code == 1, f"{name} exited {code}\n{err}"
        assert "no peer connected in room 'r2' within 3 s" in err, err


def case_unreachable_server(tmp):
    empty = write_random(tmp, "empty", 0)
    # Port 1 on loopback: nothing listens (connection refused).
    a = start_pipe(tmp, "a", "r3", "ws://127.0.0.1:1", empty, ("--timeout", "2"))
    codes = wait([a], 30)
    err = read(tmp, "a", "err").decode(errors="replace")
    assert codes == [1], f"exit {codes}\n{err}"
    assert "last signaling error: ws://127.0.0.1:1 down" in err, err


def case_usage_errors(tmp):
    for args in (["pipe"], ["pipe", "r", "--signal", "http://x"], ["pipe", "r", "--timeout", "0"],
                 ["pipe", "r", "--congestion-control", "bbr", "--rapid-start"]):
        r = subprocess.run([PEERLINK] + args, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        assert r.returncode == 2, f"{args}: exit {r.returncode} {r.stderr!r}"


def sender_and_piped_receiver(tmp, room, url, size):
    """A sends `size` random bytes; B sends nothing and its stdout is a pipe for the caller."""
    in_a = write_random(tmp, "a.in", size)
    empty = write_random(tmp, "empty", 0)
    return start_pipe(tmp, "a", room, url, in_a), start_pipe(tmp, "b", room, url, empty, stdout_pipe=True)


def case_reader_gone_fails_both(tmp):
    # B's stdout is a pipe whose reader exits after 1 byte: B cannot deliver the rest, so B fails;
    # A then loses its peer before its EOF is acknowledged and fails too. Nothing claims success.
    server = Server()
    try:
        a, b = sender_and_piped_receiver(tmp, "r4", server.url, 16 * 1024 * 1024)
        head = subprocess.Popen(["head", "-c", "1"], stdin=b.stdout, stdout=subprocess.DEVNULL)
        b.stdout.close()
        codes = wait([a, b, head], CASE_TIMEOUT)
    finally:
        server.stop()
    err_a, err_b = read(tmp, "a", "err").decode(errors="replace"), read(tmp, "b", "err").decode(errors="replace")
    assert codes[1] == 1 and "cannot write to stdout" in err_b, f"b exited {codes[1]}\n{err_b}"
    assert codes[0] == 1, f"a exited {codes[0]}\n{err_a}"


def case_sigint_with_stalled_stdout_exits_promptly(tmp):
    # B's stdout is a pipe nobody reads: its connection thread blocks in write(). SIGINT must
    # still end B at once with 130 (the blocked write is interrupted), and A then fails.
    server = Server()
    try:
        a, b = sender_and_piped_receiver(tmp, "r5", server.url, 64 * 1024 * 1024)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and b"connected to" not in read(tmp, "b", "err"):
            time.sleep(0.1)
        time.sleep(1.0)  # the pipe buffer is full long before this
        t0 = time.monotonic()
        b.send_signal(signal.SIGINT)
        codes = wait([b], 15)
        took = time.monotonic() - t0
        b.stdout.close()
        codes += wait([a], 60)
    finally:
        server.stop()
    err_b = read(tmp, "b", "err").decode(errors="replace")
    assert codes[0] == 130, f"b exited {codes[0]}\n{err_b}"
    assert took < 8, f"b took {took:.1f} s to exit after SIGINT\n{err_b}"
    assert codes[1] == 1, f"a exited {codes[1]}"


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    names = sys.argv[2:] or list(CASES)
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.monotonic()
            CASES[name](tmp)
            print(f"ok {name} ({time.monotonic() - t0:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
