#!/usr/bin/python3
"""Real-network DTLS suite and delay-line check.

  dtls_suite.py --peer BUILD/tests/netns/pl_dtls_peer --delayline BUILD/tests/netns/pl_delayline
                [--case NAME ...] [--list]

Each case builds the topology of tests/netns/README.md under a unique prefix (torn down on
exit, also on SIGINT/SIGTERM). DTLS cases run `pl_dtls_peer server` in pub (203.0.113.11:5000)
and `pl_dtls_peer client` in host a (behind nat1), each driving a peerlink DTLS endpoint on a
real UDP socket with the real clock; impairments are applied on nat1's WAN: loss with
`topology.sh loss`, delay with `delay.sh` (the NFQUEUE delay line). Prints one JSON line per
case with the measured figures. Exit status 0 only if every chosen case passed. Needs root;
fails (never skips) if the namespaces cannot be built. Every wait is bounded.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOPOLOGY = os.path.join(HERE, "topology.sh")
DELAY = os.path.join(HERE, "delay.sh")
SERVER = "203.0.113.11:5000"


class CaseFailure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise CaseFailure(message)


class Suite:
    def __init__(self, args, work, prefix):
        self.args = args
        self.work = work
        self.prefix = prefix
        self.env = dict(os.environ, PL_NS_PREFIX=prefix, PL_DELAYLINE=args.delayline)
        self.certs = {}

    def ns(self, name):
        return "%s-%s" % (self.prefix, name)

    def sh(self, *argv, timeout=60):
        r = subprocess.run(argv, env=self.env, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = r.stdout.decode(errors="replace")
        if r.returncode != 0:
            raise CaseFailure("%s failed (%d):\n%s" % (" ".join(argv), r.returncode, out))
        return out

    def up(self):
        self.sh(TOPOLOGY, "up", timeout=60)

    def down(self):
        subprocess.run([TOPOLOGY, "down"], env=self.env, timeout=60, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def cert(self, name):
        if name not in self.certs:
            path = os.path.join(self.work, name + ".pem")
            fp = self.sh(self.args.peer, "gen-cert", path).strip()
            check(fp.startswith("sha-256 "), "gen-cert printed %r" % fp)
            self.certs[name] = (path, fp)
        return self.certs[name]

    def ping_rtt(self, count=10):
        out = self.sh("ip", "netns", "exec", self.ns("a"), "ping", "-c", str(count), "-i", "0.2", "-W", "2",
                      "203.0.113.10", timeout=30)
        m = re.search(r"rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/", out)
        check(m is not None, "no ping summary:\n" + out)
        return float(m.group(1)), float(m.group(2)), float(m.group(3))

    def loss_counters(self):
        """Packets dropped so far by topology.sh's loss rules on nat1/wan (both directions)."""
        total = 0
        for table, chain in (("raw", "PREROUTING"), ("mangle", "POSTROUTING")):
            out = self.sh("ip", "netns", "exec", self.ns("nat1"), "iptables", "-t", table, "-L", chain, "-v", "-x",
                          "-n")
            for line in out.splitlines():
                if "pl-loss-wan" in line:
                    total += int(line.split()[0])
        return total

    def delay_stats(self):
        return json.loads(self.sh(DELAY, "stats", self.ns("nat1"), "wan"))

    def dtls_pair(self, records, timeout, client_expect=None, app_rto_ms=400, client_extra=()):
        spath, sfp = self.cert("server")
        cpath, cfp = self.cert("client")
        server = subprocess.Popen(
            ["ip", "netns", "exec", self.ns("pub"), self.args.peer, "server", "--cert", spath, "--expect", cfp,
             "--bind", SERVER, "--timeout", str(timeout)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.2)  # the server's socket is bound before the first ClientHello
        client = subprocess.Popen(
            ["ip", "netns", "exec", self.ns("a"), self.args.peer, "client", "--cert", cpath, "--expect",
             client_expect or sfp, "--bind", "0.0.0.0:0", "--peer", SERVER, "--records", str(records),
             "--timeout", str(timeout), "--app-rto-ms", str(app_rto_ms)] + list(client_extra),
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        results = {}
        for name, p in (("client", client), ("server", server)):
            try:
                out, err = p.communicate(timeout=timeout + 10)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
            lines = [l for l in out.decode(errors="replace").splitlines() if l.startswith("{")]
            results[name] = json.loads(lines[-1]) if lines else {"ok": False, "error": "no result line"}
            results[name]["exit"] = p.returncode
            results[name]["stderr"] = err.decode(errors="replace")[-2000:]
        return results["client"], results["server"], sfp, cfp


def case_delay_ping(s):
    base = s.ping_rtt(5)
    check(base[1] < 20, "baseline RTT %.1f ms is not small" % base[1])
    s.sh(DELAY, "start", s.ns("nat1"), "wan", "50")
    rtt = s.ping_rtt(10)
    s.sh(DELAY, "stop", s.ns("nat1"), "wan")
    stats = s.delay_stats()  # the final counters, written when the program exits
    after = s.ping_rtt(5)
    # 50 ms each way through nat1 -> ~100 ms RTT; a few ms of scheduling slack at most.
    check(99.0 <= rtt[0] and rtt[1] <= 115.0, "RTT with 2x50 ms delay: min/avg/max %s" % (rtt,))
    check(stats["received"] >= 20 and stats["dropped_full"] == 0, "delay line counters: %s" % stats)
    check(after[1] < 20, "delay not removed by stop: RTT %.1f ms" % after[1])
    return {"baseline_rtt_ms": base, "delayed_rtt_ms": rtt, "after_stop_rtt_ms": after, "delayline": stats}


def dtls_case(s, loss, delay_ms, records, timeout, handshake_bound_ms):
    if loss:
        s.sh(TOPOLOGY, "loss", s.ns("nat1"), "wan", str(loss), "both")
    if delay_ms:
        s.sh(DELAY, "start", s.ns("nat1"), "wan", str(delay_ms))
    t0 = time.monotonic()
    client, server, sfp, cfp = s.dtls_pair(records, timeout)
    elapsed = time.monotonic() - t0
    dropped = s.loss_counters() if loss else 0
    if delay_ms:
        s.sh(DELAY, "stop", s.ns("nat1"), "wan")
    dstats = s.delay_stats() if delay_ms else None
    for r in (client, server):
        check(r.get("ok") and r["exit"] == 0, "%s failed: %s" % (r.get("role"), json.dumps(r)))
        check(0 <= r["handshake_ms"] <= handshake_bound_ms,
              "%s handshake took %.0f ms (bound %d)" % (r["role"], r["handshake_ms"], handshake_bound_ms))
    check(client["remote_fingerprint"] == sfp and server["remote_fingerprint"] == cfp, "fingerprints differ")
    check(client["digest_ok"] and server["digest_ok"], "digest mismatch")
    check(server["unique"] == records, "server got %d unique records of %d" % (server["unique"], records))
    if not loss:
        # Without loss the client's close_notify must reach the server (with loss it may be the
        # one datagram dropped; DTLS sends it once).
        check(server["close_notify_seen"], "server never saw the client's close_notify")
    if loss:
        check(dropped > 0, "the loss rules dropped nothing")
        check(client["resends"] > 0, "10%% loss but the app never resent a record")
    if delay_ms:
        check(dstats["received"] > 2 * records and dstats["dropped_full"] == 0, "delay line: %s" % dstats)
    return {"elapsed_s": round(elapsed, 2), "loss": loss, "delay_ms": delay_ms, "dropped_by_loss_rules": dropped,
            "client": {k: client[k] for k in ("handshake_ms", "elapsed_ms", "cipher", "sends", "resends",
                                              "fin_resends", "handshake_timeouts", "datagrams_sent")},
            "server": {k: server[k] for k in ("handshake_ms", "unique", "duplicates", "handshake_timeouts",
                                              "datagrams_sent")},
            "delayline": dstats}


def case_dtls_clean(s):
    return dtls_case(s, 0, 0, 1000, 30, 1000)


def case_dtls_loss10_delay50(s):
    # 10% each way + 50 ms each way. Handshake: 4 flights over a ~100 ms RTT path, with retransmission
    # from a 100 ms initial timer doubling; 10 s is far above what a handful of losses can cost.
    return dtls_case(s, 0.1, 50, 1000, 90, 10000)


def case_dtls_lost_close_notify(s):
    # close_notify goes out once and may be the datagram a lossy path drops. The server must still
    # end, with success, once the client has stopped repeating its final record.
    client, server, _, _ = s.dtls_pair(20, 20, client_extra=("--close-notify", "0"))
    for r in (client, server):
        check(r.get("ok") and r["exit"] == 0, "%s failed: %s" % (r.get("role"), json.dumps(r)))
    check(not server["close_notify_seen"], "server saw a close_notify the client never sent")
    check(server["elapsed_ms"] < 15000, "server took %.0f ms to end" % server["elapsed_ms"])
    return {"server_elapsed_ms": server["elapsed_ms"]}


def case_dtls_wrong_fingerprint_fails(s):
    _, wrong = s.cert("stranger")
    t0 = time.monotonic()
    client, server, _, _ = s.dtls_pair(10, 10, client_expect=wrong)
    elapsed = time.monotonic() - t0
    check(client["exit"] == 1 and not client["ok"] and not client["connected"], "client: %s" % json.dumps(client))
    check("fingerprint mismatch: expected " + wrong in client["error"], "client error: %r" % client["error"])
    check(server["exit"] == 1 and not server["ok"], "server: %s" % json.dumps(server))
    check("bad certificate" in server["error"], "server error: %r" % server["error"])
    check(elapsed < 5, "refusal took %.1f s" % elapsed)
    return {"elapsed_s": round(elapsed, 2), "client_error": client["error"], "server_error": server["error"]}


CASES = {
    "delay_ping": case_delay_ping,
    "dtls_clean": case_dtls_clean,
    "dtls_loss10_delay50": case_dtls_loss10_delay50,
    "dtls_lost_close_notify": case_dtls_lost_close_notify,
    "dtls_wrong_fingerprint_fails": case_dtls_wrong_fingerprint_fails,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=False)
    ap.add_argument("--delayline", required=False)
    ap.add_argument("--case", action="append")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        print("\n".join(CASES))
        return 0
    if not args.peer or not args.delayline:
        ap.error("--peer and --delayline are required")
    names = args.case or list(CASES)
    for n in names:
        if n not in CASES:
            ap.error("unknown case %s" % n)
    if os.geteuid() != 0:
        print("dtls_suite: FAIL: must run as root (network namespaces)", file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="pl-dtls-")
    prefix = "dt%d" % (os.getpid() % 100000)
    suite = Suite(args, work, prefix)

    def on_signal(signum, _frame):
        suite.down()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    failed = 0
    try:
        for name in names:
            try:
                suite.up()
            except Exception as e:  # noqa: BLE001
                print("dtls_suite: FAIL: cannot set up the topology: %s" % e, file=sys.stderr)
                return 1
            try:
                t0 = time.monotonic()
                figures = CASES[name](suite)
                print(json.dumps({"case": name, "ok": True, "seconds": round(time.monotonic() - t0, 2),
                                  "figures": figures}))
            except (CaseFailure, subprocess.TimeoutExpired, KeyError, ValueError) as e:
                failed += 1
                print(json.dumps({"case": name, "ok": False, "error": str(e)}))
                print("dtls_suite: FAIL %s: %s (work dir kept: %s)" % (name, e, work), file=sys.stderr)
            finally:
                suite.down()
    finally:
        suite.down()
    if failed == 0:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
