#!/usr/bin/env python3
"""Drives two `peerlink dc-peer` processes directly (this script relays their signaling, as
`peerlink demo` does) to check the outcomes `demo` cannot provoke: a receiver that expects a
different amount must make both sides fail, never report success.

    dc_peer_pair_test.py PEERLINK_BINARY

Cases (each bounded by its --timeout plus a grace period):
  equal      offerer and answerer agree on 4 MiB: both exit 0, digests equal, verified.
  short      the answerer expects 1 MiB of the offerer's 4 MiB: the offerer must fail
             (exit 1) and neither may claim a verified transfer.
  long       the answerer expects 4 MiB, the offerer sends 1 MiB: the answerer never completes;
             both must fail (exit 1, an error in each result) at the timeout, within bounds.
  resume     --resume-state FILE: a first run writes the path state it retained, a second run
             starts from it (its result says what Careful Resume decided: on loopback the RTT
             varies too much between runs to say which), a malformed file exits 2 naming it.
Exit 0 if every case holds.
"""
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time


def run_pair(binary, offerer_bytes, answerer_bytes, timeout_s, extra=(), offerer_extra=()):
    procs = {}
    for role, nbytes in (("offerer", offerer_bytes), ("answerer", answerer_bytes)):
        own = offerer_extra if role == "offerer" else ()
        procs[role] = subprocess.Popen(
            [binary, "dc-peer", "--role", role, "--bytes", str(nbytes), "--timeout", str(timeout_s), *extra, *own],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    other = {"offerer": "answerer", "answerer": "offerer"}
    results = {}
    sel = selectors.DefaultSelector()
    for role, p in procs.items():
        sel.register(p.stdout.fileno(), selectors.EVENT_READ, role)
    buffers = {"offerer": b"", "answerer": b""}
    open_count = 2
    deadline = time.monotonic() + timeout_s + 10
    while open_count and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            role = key.data
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fd)
                open_count -= 1
                try:
                    procs[other[role]].stdin.close()  # a peer that is gone can no longer signal
                except OSError:
                    pass
                continue
            buffers[role] += chunk
            while b"\n" in buffers[role]:
                line, buffers[role] = buffers[role].split(b"\n", 1)
                msg = json.loads(line)
                if msg.get("type") == "result":
                    results[role] = msg
                    continue
                try:
                    procs[other[role]].stdin.write(line + b"\n")
                    procs[other[role]].stdin.flush()
                except (BrokenPipeError, ValueError):
                    pass
    codes = {}
    for role, p in procs.items():
        try:
            codes[role] = p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            codes[role] = "hung"
        sys.stderr.write(p.stderr.read().decode(errors="replace"))
    return codes, results


def check(name, cond, detail):
    print(("ok   " if cond else "FAIL ") + name + ": " + detail)
    return cond


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    mib = 1024 * 1024
    ok = True

    t0 = time.monotonic()
    codes, results = run_pair(binary, 4 * mib, 4 * mib, 30)
    off, ans = results.get("offerer", {}), results.get("answerer", {})
    ok &= check("equal", codes == {"offerer": 0, "answerer": 0} and off.get("verified") is True
                and off.get("sha256") == ans.get("sha256") and ans.get("bytes") == 4 * mib
                and off.get("selected", {}).get("remote") == ans.get("selected", {}).get("local"),
                f"codes {codes}, verified {off.get('verified')}, {time.monotonic() - t0:.1f} s")

    ok &= check("reno by default", off.get("congestion_control") == "reno",
                f"offerer congestion_control {off.get('congestion_control')!r}")

    t0 = time.monotonic()
    codes, results = run_pair(binary, 4 * mib, 4 * mib, 30, ("--congestion-control", "bbr"))
    off, ans = results.get("offerer", {}), results.get("answerer", {})
    ok &= check("bbr", codes == {"offerer": 0, "answerer": 0} and off.get("verified") is True
                and off.get("sha256") == ans.get("sha256") and off.get("congestion_control") == "bbr",
                f"codes {codes}, verified {off.get('verified')}, congestion_control "
                f"{off.get('congestion_control')!r}, {time.monotonic() - t0:.1f} s")

    t0 = time.monotonic()
    codes, results = run_pair(binary, 4 * mib, 4 * mib, 30, offerer_extra=("--rapid-start",))
    off, ans = results.get("offerer", {}), results.get("answerer", {})
    ok &= check("rapid start", codes == {"offerer": 0, "answerer": 0} and off.get("verified") is True
                and off.get("sha256") == ans.get("sha256") and isinstance(off.get("rapid_start_rounds"), int)
                and "rapid_start_rounds" not in ans,
                f"codes {codes}, verified {off.get('verified')}, rapid_start_rounds "
                f"{off.get('rapid_start_rounds')!r}, {time.monotonic() - t0:.1f} s")

    bad = subprocess.run([binary, "dc-peer", "--role", "offerer", "--congestion-control", "bbr", "--rapid-start"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    ok &= check("rapid start is reno's", bad.returncode == 2 and "--rapid-start" in bad.stderr,
                f"exit {bad.returncode}, stderr {bad.stderr.strip()[:120]!r}")

    bad = subprocess.run([binary, "dc-peer", "--role", "offerer", "--congestion-control", "cubic"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    ok &= check("bad congestion control", bad.returncode == 2 and "--congestion-control" in bad.stderr,
                f"exit {bad.returncode}, stderr {bad.stderr.strip()[:120]!r}")

    with tempfile.TemporaryDirectory() as tmp:
        state = os.path.join(tmp, "path.json")
        codes, results = run_pair(binary, 16 * mib, 16 * mib, 30, offerer_extra=("--resume-state", state))
        saved = json.load(open(state)) if os.path.exists(state) else {}
        off = results.get("offerer", {})
        ok &= check("resume: first run saves", codes == {"offerer": 0, "answerer": 0} and "careful_resume" not in off
                    and saved.get("congestion_window", 0) > 0 and 0 < saved.get("round_trip_time", 0) < 1,
                    f"codes {codes}, saved {saved}")
        codes, results = run_pair(binary, 16 * mib, 16 * mib, 30, offerer_extra=("--resume-state", state))
        off = results.get("offerer", {})
        ok &= check("resume: second run starts from it",
                    codes == {"offerer": 0, "answerer": 0} and off.get("verified") is True
                    and off.get("careful_resume") in ("jumped", "rtt-changed", "no-gain"),
                    f"codes {codes}, careful_resume {off.get('careful_resume')!r}")
        with open(state, "w") as f:
            f.write('{"congestion_window": -5}')
        bad = subprocess.run([binary, "dc-peer", "--role", "offerer", "--resume-state", state],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
        ok &= check("resume: malformed file", bad.returncode == 2 and state in bad.stderr
                    and "congestion_window" in bad.stderr,
                    f"exit {bad.returncode}, stderr {bad.stderr.strip()[:160]!r}")

    t0 = time.monotonic()
    codes, results = run_pair(binary, 4 * mib, 1 * mib, 30)
    off = results.get("offerer", {})
    ok &= check("short", codes.get("offerer") == 1 and off.get("verified") is not True and "error" in off,
                f"codes {codes}, offerer error {off.get('error')!r}, {time.monotonic() - t0:.1f} s")

    t0 = time.monotonic()
    codes, results = run_pair(binary, 1 * mib, 4 * mib, 3)
    elapsed = time.monotonic() - t0
    off, ans = results.get("offerer", {}), results.get("answerer", {})
    # Which side's timer fires first is a race; the other then sees the connection close.
    ok &= check("long", codes == {"offerer": 1, "answerer": 1} and "error" in off and "error" in ans
                and "not finished within" in off.get("error", "") + ans.get("error", "")
                and off.get("verified") is not True and elapsed < 15,
                f"codes {codes}, offerer error {off.get('error')!r}, answerer error {ans.get('error')!r}, "
                f"{elapsed:.1f} s")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
