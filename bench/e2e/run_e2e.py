#!/usr/bin/python3
"""Issue 4's end-to-end benchmarks, every stack in the same run, reported as ratios against ours.

    bench/e2e/run_e2e.py --build BUILD [--stacks peerlink,pion,...] [--scenarios t1,t2,t3,t4]
                         [--quick] [--out DIR]

Each stack has an adapter program implementing the modes of bench/e2e/PROTOCOL.md; this script
starts them (inside network namespaces it creates and removes), relays their descriptions,
collects their JSON results and writes DIR/e2e.json and DIR/e2e.md (default DIR:
BUILD/bench-results). Needs root (namespaces). Every wait is bounded. $PL_E2E_NS names the
T1-T3 namespace (default plbench), so a smoke run can go alongside a measurement.

Scenarios (issue 4, "End-to-end benchmarks"):
  t1  throughput: one reliable ordered channel, 256 MiB as 64 KiB and as 16 KiB messages, two
      processes, loopback-like path (a veth address in one namespace), plus iperf3's UDP limit
      with 1200-byte datagrams in the same namespace.
  t2  connect time: 100 sequential connections in one process.
  t3  memory: RSS growth per connection with 1000 connections in one process.
  t4  t1 between two namespaces through a router namespace with the userspace delay line of
      tests/netns/ (20/50/100 ms RTT) and iptables `statistic` loss (0/1 %).
"""
import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NS = os.environ.get("PL_E2E_NS", "plbench")
ADDR = "198.51.100.1"
T4_NS = ("plb4-a", "plb4-r", "plb4-b")
T4_ADDR = ("10.77.1.2", "10.77.2.2")

ALL_STACKS = ["peerlink", "libdatachannel", "pion", "aiortc", "werift", "chromium", "firefox"]
# Extra rows for T2: our connect time with one certificate shared by every connection (what
# RTCConfiguration.certificates is for; by default each connection generates a P-256 key).
T2_VARIANTS = {"peerlink-shared-cert": ("peerlink", ["--shared-certificate"])}
# Extra rows for T1 (64 KiB) and T4: ours with the model-based congestion control
# (SctpCongestionControl::kBbr) instead of the default Reno.
T1_VARIANTS = {"peerlink-bbr": ("peerlink", ["--congestion-control", "bbr"])}
# Extra rows for T4 at T1's size only (clean paths): ours with Rapid Start (sctp_rapid_start).
T4_SIZE_VARIANTS = {"peerlink-rapid": ("peerlink", ["--rapid-start"])}
NAMES = {"peerlink": "peerlink", "libdatachannel": "libdatachannel (node-datachannel)", "pion": "Pion",
         "aiortc": "aiortc", "werift": "werift", "chromium": "Chromium", "firefox": "Firefox ESR",
         "peerlink-shared-cert": "peerlink, one shared certificate",
         "peerlink-t1-size": "peerlink, T1's 256 MiB",
         "peerlink-bbr": "peerlink, BBR congestion control",
         "peerlink-bbr-t1-size": "peerlink, BBR, T1's 256 MiB",
         "peerlink-rapid-t1-size": "peerlink, Rapid Start, T1's 256 MiB",
         "peerlink-resumed-t1-size": "peerlink, Careful Resume from the previous row's state, T1's 256 MiB"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(*cmd, check=True, **kw):
    return subprocess.run(list(cmd), check=check, **kw)


# --- namespaces ---------------------------------------------------------------------------------

def ns_up():
    """One namespace with lo and a veth pair (198.51.100.1/24 on one end): every stack gathers
    that address as an ordinary host candidate (some skip loopback); traffic between two
    processes to it stays on the kernel's local path, like loopback."""
    ns_down()
    sh("ip", "netns", "add", NS)
    for c in (["link", "set", "lo", "up"], ["link", "add", "e0", "type", "veth", "peer", "name", "e1"],
              ["addr", "add", ADDR + "/24", "dev", "e0"], ["link", "set", "e0", "up"], ["link", "set", "e1", "up"]):
        sh("ip", "-n", NS, *c)


def ns_down():
    sh("ip", "netns", "del", NS, check=False, stderr=subprocess.DEVNULL)


def delay_env(build):
    """delay.sh's environment: the delay line program of this build (or $PL_DELAYLINE), holding
    up to 65,536 packets per direction (50 ms one way at 1.5 GB/s of 1200-byte packets), so the
    delay line's own queue limit is not what a stack meets at these RTTs."""
    return dict(os.environ, PL_DELAY_LIMIT="65536",
                PL_DELAYLINE=os.environ.get("PL_DELAYLINE") or os.path.join(build, "tests/netns/pl_delayline"))


def t4_up(build):
    """a (10.77.1.2) -- r -- b (10.77.2.2): a router namespace forwarding between two veth
    links; delay and loss are applied on r, to forwarded packets only."""
    t4_down(build)
    a, r, b = T4_NS
    for n in T4_NS:
        sh("ip", "netns", "add", n)
        sh("ip", "-n", n, "link", "set", "lo", "up")
    sh("ip", "link", "add", "plb4a", "netns", a, "type", "veth", "peer", "name", "ra", "netns", r)
    sh("ip", "link", "add", "plb4b", "netns", b, "type", "veth", "peer", "name", "rb", "netns", r)
    sh("ip", "-n", a, "addr", "add", T4_ADDR[0] + "/24", "dev", "plb4a")
    sh("ip", "-n", b, "addr", "add", T4_ADDR[1] + "/24", "dev", "plb4b")
    sh("ip", "-n", r, "addr", "add", "10.77.1.1/24", "dev", "ra")
    sh("ip", "-n", r, "addr", "add", "10.77.2.1/24", "dev", "rb")
    for n, dev in ((a, "plb4a"), (b, "plb4b"), (r, "ra"), (r, "rb")):
        sh("ip", "-n", n, "link", "set", dev, "up")
    sh("ip", "-n", a, "route", "add", "default", "via", "10.77.1.1")
    sh("ip", "-n", b, "route", "add", "default", "via", "10.77.2.1")
    sh("ip", "netns", "exec", r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")


def t4_down(build):
    env = delay_env(build)
    for dev in ("ra", "rb"):
        if os.path.exists(f"/var/run/netns/{T4_NS[1]}"):
            sh(os.path.join(ROOT, "tests/netns/delay.sh"), "stop", T4_NS[1], dev, check=False, env=env,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for n in T4_NS:
        sh("ip", "netns", "del", n, check=False, stderr=subprocess.DEVNULL)


def t4_condition(build, one_way_ms, loss):
    """Sets the router's delay (each direction once, so RTT = 2 x one_way_ms) and loss."""
    r = T4_NS[1]
    env = delay_env(build)
    if loss == 0:
        # Without loss the delay line takes GSO packets whole, as the router forwards them at 0 ms
        # (segmenting and queueing each datagram capped the path near 90-100 MB/s here, whatever
        # the RTT). With loss it segments, so the `statistic` rule drops single datagrams.
        env["PL_DELAY_GSO"] = "1"
    delay = os.path.join(ROOT, "tests/netns/delay.sh")
    for dev in ("ra", "rb"):
        sh(delay, "stop", r, dev, check=False, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sh("ip", "netns", "exec", r, "iptables", "-F", "FORWARD")
    if one_way_ms > 0:
        # One delay line on ra for packets arriving from a, one on rb for packets from b.
        for dev in ("ra", "rb"):
            sh(delay, "start", r, dev, str(one_way_ms), "0", "in", env=env, stdout=subprocess.DEVNULL)
    if loss > 0:
        sh("ip", "netns", "exec", r, "iptables", "-A", "FORWARD", "-m", "statistic", "--mode", "random",
           "--probability", str(loss), "-j", "DROP")


# --- adapters -----------------------------------------------------------------------------------

def adapter_command(stack, build):
    node = shutil.which("node") or "/usr/bin/node"
    return {
        "peerlink": [os.path.join(build, "bench/e2e_peerlink")],
        "pion": [os.path.join(build, "bench/pion_e2e")],
        "libdatachannel": [node, os.path.join(HERE, "node/e2e_node.mjs"), "--stack", "ndc"],
        "werift": [node, os.path.join(HERE, "node/e2e_node.mjs"), "--stack", "werift"],
        "aiortc": ["/usr/bin/python3", os.path.join(HERE, "aiortc/aiortc_e2e.py")],
        "chromium": [node, os.path.join(HERE, "browser/e2e_browser.mjs"), "--browser", "chromium"],
        "firefox": [node, os.path.join(HERE, "browser/e2e_browser.mjs"), "--browser", "firefox"],
    }[stack]


class Proc:
    """An adapter process: its stdout JSON lines arrive on a queue; stderr goes to a log file."""

    def __init__(self, ns, cmd, logpath):
        self.logpath = logpath
        self.log = open(logpath, "w")
        # ns None: in the current namespace (the runner's own tests).
        self.p = subprocess.Popen((["ip", "netns", "exec", ns] if ns else []) + cmd, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1)
        self.q = queue.Queue()
        self.config = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                j = json.loads(line)
            except ValueError:
                self.q.put({"type": "bad-line", "line": line[:200]})
                continue
            if j.get("type") == "config":
                self.config = j.get("text")
            else:
                self.q.put(j)
        self.q.put({"type": "eof"})

    def next(self, deadline, what):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out waiting for {what}")
            try:
                j = self.q.get(timeout=left)
            except queue.Empty:
                raise TimeoutError(f"timed out waiting for {what}")
            if j["type"] == "eof":
                raise RuntimeError(f"adapter exited (code {self.p.wait()}) while waiting for {what}")
            if j["type"] == "bad-line":
                log("  adapter printed a non-JSON line:", j["line"])
                continue
            return j

    def send(self, obj):
        try:
            self.p.stdin.write(json.dumps(obj) + "\n")
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def tail(self, lines=15):
        """The last lines of this adapter's log, for a failed cell's report (CI keeps no files)."""
        try:
            if not self.log.closed:
                self.log.flush()
            with open(self.logpath, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except (OSError, ValueError) as e:
            return f"(log unreadable: {e})"

    def stop(self):
        if self.p.poll() is None:
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def run_t1(stack, build, out, msg_size, total, timeout, ns_pair=(NS, NS), bind=(ADDR, ADDR), tag="t1",
           more_args=()):
    base, extra = T1_VARIANTS.get(stack) or T4_SIZE_VARIANTS.get(stack, (stack, []))
    cmd = adapter_command(base, build) + extra + list(more_args)
    common = ["--mode", "t1", "--bytes", str(total), "--msg-size", str(msg_size), "--timeout", str(timeout)]
    deadline = time.monotonic() + timeout + 10
    snd = Proc(ns_pair[0], cmd + common + ["--role", "offerer", "--bind", bind[0]],
               os.path.join(out, f"{tag}_{stack}_{msg_size}_sender.log"))
    rcv = Proc(ns_pair[1], cmd + common + ["--role", "answerer", "--bind", bind[1]],
               os.path.join(out, f"{tag}_{stack}_{msg_size}_receiver.log"))
    try:
        offer = snd.next(deadline, "the offer")
        rcv.send(offer)
        answer = rcv.next(deadline, "the answer")
        snd.send(answer)
        r = rcv.next(deadline, "the receiver's result")
        snd.send({"type": "done"})
        s = snd.next(deadline, "the sender's result")
        if r.get("type") != "result" or s.get("type") != "result":
            raise RuntimeError(f"unexpected lines {r} {s}")
        if not r.get("ok") or r.get("bytes") != total:
            raise RuntimeError(f"receiver reports a failed transfer: {r}")
        gb = total / 1e9
        half = r.get("half_seconds")
        second_half = (total / 2 / (r["seconds"] - half) / 1e6
                       if isinstance(half, (int, float)) and 0 <= half < r["seconds"] else None)
        return {"ok": True, "mb_per_s": total / r["seconds"] / 1e6, "seconds": r["seconds"],
                "second_half_mb_per_s": second_half,
                "open_to_done_seconds": r.get("open_to_done_seconds"),
                "sender_cpu_s_per_gb": s["cpu_seconds"] / gb, "receiver_cpu_s_per_gb": r["cpu_seconds"] / gb,
                "messages": r.get("messages"), "config": snd.config,
                # ours only: the state a later connection may resume from, and what Careful
                # Resume and Rapid Start did in this one
                **{k: s[k] for k in ("retained_cwnd", "min_rtt", "careful_resume", "careful_resume_retreated",
                                        "rapid_start_rounds")
                   if k in s}}
    except (TimeoutError, RuntimeError, KeyError, ZeroDivisionError) as e:
        failure = {"ok": False, "error": str(e), "config": snd.config}
    finally:
        for p in (snd, rcv):
            if p.p.poll() is None:
                try:
                    p.p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.p.kill()
            p.stop()
    failure["log_tails"] = {"sender": snd.tail(), "receiver": rcv.tail()}
    return failure


def run_single(stack, build, out, args, timeout, tag):
    base, extra = T2_VARIANTS.get(stack, (stack, []))
    cmd = adapter_command(base, build) + args + extra + ["--bind", ADDR, "--timeout", str(timeout)]
    p = Proc(NS, cmd, os.path.join(out, f"{tag}_{stack}.log"))
    try:
        r = p.next(time.monotonic() + timeout + 10, f"{tag} result")
        r["config"] = p.config
        return r
    except (TimeoutError, RuntimeError) as e:
        if p.p.poll() is None:
            p.p.kill()
        p.stop()
        return {"ok": False, "error": str(e), "config": p.config, "log_tails": {"adapter": p.tail()}}
    finally:
        p.stop()


def cell_failed(r):
    """Whether a cell's result is a failure: an error, a failed transfer, failed connects (t2) or
    connections that did not come up (t3)."""
    return ("error" in r or r.get("ok") is False or bool(r.get("failures"))
            or ("connections" in r and r.get("connected", 0) != r["connections"]))


def run_cell(stack, quick, fn):
    """One cell. A failed cell's adapter logs are printed, since CI keeps no files. In a --quick
    (smoke) run a failed cell of another stack is run once more: the smoke test checks that the
    harness and every adapter work, and an occasional failure of another stack is that stack's
    finding, not ours. The first failure stays in the result ("first_attempt") and in the report.
    Our own cells, and every cell of a measurement run, get one attempt."""
    r = fn()
    if not cell_failed(r):
        return r
    log(f"   {stack}: cell failed: {r.get('error') or 'see the result'}")
    for who, text in r.get("log_tails", {}).items():
        log(f"   --- last lines of the {who} log ---\n" + text.rstrip())
    if not quick or stack == "peerlink" or stack in T1_VARIANTS:  # ours: one attempt
        return r
    log(f"   {stack}: another stack's failure in a smoke run: one more attempt")
    again = fn()
    again["first_attempt"] = {k: v for k, v in r.items() if k != "config"}
    return again


def iperf3_limit(seconds):
    """UDP loopback-path limit: iperf3 with 1200-byte datagrams, unlimited rate and 4 MiB socket
    buffers (as our stack asks for), in the bench namespace; the figure is what the server
    received."""
    if not shutil.which("iperf3"):
        return {"ok": False, "error": "iperf3 not installed (scripts/install-deps.sh)"}
    srv = subprocess.Popen(["ip", "netns", "exec", NS, "iperf3", "-s", "-1", "-B", ADDR, "-J"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(0.5)
    try:
        sh("ip", "netns", "exec", NS, "iperf3", "-c", ADDR, "-u", "-b", "0", "-l", "1200", "-w", "4M",
           "-t", str(seconds),
           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=seconds + 30)
        j = json.loads(srv.communicate(timeout=30)[0])
        s = j["end"]["sum_received"]  # the server's own count (3.12 leaves "sum" at 0 bytes)
        received = s["bytes"]
        return {"ok": True, "mb_per_s": received / s["seconds"] / 1e6, "lost_percent": s.get("lost_percent"),
                "datagram_bytes": 1200, "seconds": s["seconds"]}
    except (subprocess.SubprocessError, ValueError, KeyError) as e:
        srv.kill()
        return {"ok": False, "error": str(e)}


# --- report -------------------------------------------------------------------------------------

def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def summarize(res, stacks):
    lines = []
    best_other = {}
    t1 = res.get("t1", {})
    if t1:
        lim = res.get("udp_limit", {})
        lines.append(f"T1 throughput: {res['t1_bytes'] >> 20} MiB over one reliable ordered channel, two processes, "
                     f"namespace-local path; iperf3 UDP limit (1200-byte datagrams): "
                     f"{fmt(lim.get('mb_per_s'))} MB/s received.")
        lines.append("")
        lines.append("| stack | msg size | MB/s | ours / theirs | sender CPU s/GB | receiver CPU s/GB |")
        lines.append("|---|---|---|---|---|---|")
        for size in res["t1_sizes"]:
            ours = t1.get(f"peerlink/{size}", {})
            for st in stacks + list(T1_VARIANTS):
                r = t1.get(f"{st}/{size}")
                if r is None:
                    continue
                if not r.get("ok"):
                    lines.append(f"| {NAMES[st]} | {size >> 10} KiB | failed: {r.get('error', '')[:80]} | | | |")
                    continue
                ours_row = st == "peerlink" or st in T1_VARIANTS
                ratio = ours.get("mb_per_s") / r["mb_per_s"] if ours.get("ok") and not ours_row else None
                if not ours_row:
                    best_other[size] = max(best_other.get(size, 0), r["mb_per_s"])
                lines.append(f"| {NAMES[st]} | {size >> 10} KiB | {r['mb_per_s']:.1f} | "
                             f"{'' if ratio is None else f'{ratio:.2f}x'} | {r['sender_cpu_s_per_gb']:.2f} | "
                             f"{r['receiver_cpu_s_per_gb']:.2f} |")
        lines.append("")
    t2 = res.get("t2", {})
    if t2:
        lines.append(f"T2 connect: {res['t2_runs']} sequential connections in one process, create offerer -> "
                     "channel open on both sides.")
        lines.append("")
        lines.append("| stack | median ms | p99 ms | max ms | failures | theirs / ours (median) |")
        lines.append("|---|---|---|---|---|---|")
        ours = t2.get("peerlink", {})
        for st in stacks + [v for v in T2_VARIANTS if v in t2]:
            r = t2.get(st)
            if r is None:
                continue
            if r.get("median") is None:
                lines.append(f"| {NAMES[st]} | failed: {r.get('error', '')[:80]} | | | | |")
                continue
            ratio = r["median"] / ours["median"] if ours.get("median") and st not in ("peerlink", *T2_VARIANTS) else None
            lines.append(f"| {NAMES[st]} | {r['median']:.2f} | {r['p99']:.2f} | {r['max']:.2f} | {r['failures']} | "
                         f"{'' if ratio is None else f'{ratio:.2f}x'} |")
        lines.append("")
    t3 = res.get("t3", {})
    if t3:
        lines.append(f"T3 memory: RSS growth per connection, {res['t3_connections']} connections "
                     f"({res['t3_connections'] // 2} connected pairs) in one process, each with one open channel, idle.")
        lines.append("")
        lines.append("| stack | connected | KiB per connection | theirs / ours |")
        lines.append("|---|---|---|---|")
        ours = t3.get("peerlink", {})
        for st in stacks:
            r = t3.get(st)
            if r is None:
                continue
            if r.get("bytes_per_connection") is None:
                lines.append(f"| {NAMES[st]} | failed: {r.get('error', '')[:80]} | | |")
                continue
            ratio = (r["bytes_per_connection"] / ours["bytes_per_connection"]
                     if ours.get("bytes_per_connection") and st != "peerlink" else None)
            lines.append(f"| {NAMES[st]} | {r.get('connected')}/{r.get('connections')} | "
                         f"{r['bytes_per_connection'] / 1024:.1f} | {'' if ratio is None else f'{ratio:.2f}x'} |")
        lines.append("")
    t4 = res.get("t4", {})
    if t4:
        lines.append(f"T4: T1 with 64 KiB messages ({res['t4_bytes'] >> 20} MiB without loss, "
                     f"{res['t4_lossy_bytes'] >> 20} MiB with loss) between two namespaces through a router "
                     "namespace with the userspace delay line (tests/netns/, RTT = twice the one-way delay) "
                     "and iptables `statistic` loss on the router's FORWARD chain (both directions).")
        lines.append("")
        conds = res["t4_conditions"]
        lines.append("| stack | " + " | ".join(f"{c['rtt_ms']} ms, {c['loss'] * 100:g}% loss" for c in conds) + " |")
        lines.append("|---|" + "---|" * len(conds))
        for st in stacks + list(T1_VARIANTS) + ["peerlink-t1-size", "peerlink-bbr-t1-size", "peerlink-rapid-t1-size",
                                                "peerlink-resumed-t1-size"]:
            if st not in t4:
                continue
            cells = []
            for c in conds:
                r = t4[st].get(f"{c['rtt_ms']}/{c['loss']}")
                cells.append("-" if r is None else (f"{r['mb_per_s']:.1f}" if r.get("ok") else "failed"))
            lines.append(f"| {NAMES[st]} | " + " | ".join(cells) + " | MB/s")
            if st in ("peerlink-t1-size", "peerlink-bbr-t1-size"):
                cells = []
                for c in conds:
                    r = t4[st].get(f"{c['rtt_ms']}/{c['loss']}") or {}
                    v = r.get("second_half_mb_per_s")
                    cells.append("-" if v is None else f"{v:.1f}")
                lines.append(f"| {NAMES[st]}: second half only | " + " | ".join(cells) + " | MB/s")
        lines.append("")

    # Cells that needed a second attempt (smoke runs only) are listed, not hidden.
    retried = [(t, k, r["first_attempt"]) for t in ("t1", "t2", "t3") for k, r in res.get(t, {}).items()
               if "first_attempt" in r]
    retried += [("t4", f"{st} {k}", r["first_attempt"]) for st, cells in res.get("t4", {}).items()
                for k, r in cells.items() if "first_attempt" in r]
    if retried:
        lines.append("Cells of other stacks that failed once and were run again (smoke run):")
        for t, k, first in retried:
            lines.append(f"- {t} {k}: first attempt: {str(first.get('error', 'failed'))[:160]}")
        lines.append("")

    # Targets (issue 4), stated plainly.
    lines.append("Targets (issue 4):")
    ours64 = t1.get(f"peerlink/{65536}", {}) if t1 else {}
    if t1 and ours64.get("ok"):
        b = best_other.get(65536)
        lim = res.get("udp_limit", {}).get("mb_per_s")
        ours_mb = ours64["mb_per_s"]
        ok1 = b is not None and ours_mb >= 3 * b
        ok2 = bool(lim) and ours_mb >= 0.4 * lim
        ratio = f"{ours_mb / b:.2f}x" if b else "-"
        share = f"{100 * ours_mb / lim:.0f}%" if lim else "-"
        lines.append(f"- T1 >= 3x the best other stack (64 KiB): {'met' if ok1 else 'MISSED'} "
                     f"({ours_mb:.1f} vs best {fmt(b)} MB/s = {ratio}).")
        lines.append(f"- T1 >= 40% of the UDP limit: {'met' if ok2 else 'MISSED'} "
                     f"({ours_mb:.1f} of {fmt(lim)} MB/s = {share}).")
    for key, what in (("peerlink", "a certificate generated per connection"),
                      ("peerlink-shared-cert", "one shared certificate")):
        o = t2.get(key, {}) if t2 else {}
        if o.get("median") is None:
            continue
        ok = o["median"] <= 2 and o["max"] <= 10 and o["failures"] == 0
        lines.append(f"- T2 median <= 2 ms and max <= 10 ms ({what}): {'met' if ok else 'MISSED'} "
                     f"(median {o['median']:.2f}, max {o['max']:.2f} ms, {o['failures']} failures).")
    if t3 and t3.get("peerlink", {}).get("bytes_per_connection") is not None:
        o = t3["peerlink"]
        ok = o["bytes_per_connection"] <= 64 * 1024 and o.get("connected") == o.get("connections")
        lines.append(f"- T3 <= 64 KiB per idle peer: {'met' if ok else 'MISSED'} "
                     f"({o['bytes_per_connection'] / 1024:.1f} KiB).")
    # Judged on T1's size where it ran (the issue's definition of T4), else on the common cell.
    t4_ours = "peerlink-t1-size" if "peerlink-t1-size" in t4 else "peerlink"
    if t4 and t4_ours in t4:
        zero = t4[t4_ours].get("0/0.0", {})  # keys are f"{rtt}/{loss}"
        hundred = t4[t4_ours].get("100/0.0", {})
        if zero.get("ok") and hundred.get("ok"):
            frac = hundred["mb_per_s"] / zero["mb_per_s"]
            size = "256 MiB" if t4_ours == "peerlink-t1-size" else f"{res['t4_bytes'] >> 20} MiB"
            line = (f"- T4 keeps >= 50% of its 0-ms throughput at 100 ms RTT ({size}, whole transfer): "
                    f"{'met' if frac >= 0.5 else 'MISSED'} "
                    f"({hundred['mb_per_s']:.1f} of {zero['mb_per_s']:.1f} MB/s = {100 * frac:.0f}%)")
            h2, z2 = hundred.get("second_half_mb_per_s"), zero.get("second_half_mb_per_s")
            if h2 and z2:
                line += (f"; the second half of the bytes alone (slow start over): {h2:.1f} of {z2:.1f} MB/s"
                         f" = {100 * h2 / z2:.0f}%")
            lines.append(line + ".")
        # The extra rows at T1's size, each against its own 0-ms figure.
        extra = [("peerlink-bbr-t1-size", "The same with BBR congestion control (not the default; an extra row)"),
                 ("peerlink-rapid-t1-size", "The same with Rapid Start (a cold start; not the default, an extra row)"),
                 ("peerlink-resumed-t1-size",
                  "The same for a second connection over the path, with Careful Resume from the state the first "
                  "one retained (Configuration::sctp_resume; not a cold start, an extra row)")]
        for key, what in extra:
            z, h = t4.get(key, {}).get("0/0.0", {}), t4.get(key, {}).get("100/0.0", {})
            if not (z.get("ok") and h.get("ok")):
                continue
            frac = h["mb_per_s"] / z["mb_per_s"]
            how = (f"; at 100 ms it {h['careful_resume']} from {h.get('resumed_from', '?')} bytes"
                   if h.get("careful_resume") else "")
            if h.get("rapid_start_rounds"):
                how += f"; at 100 ms {h['rapid_start_rounds']} round trips grew 3x"
            lines.append(f"- {what}: {'met' if frac >= 0.5 else 'MISSED'} ({h['mb_per_s']:.1f} of "
                         f"{z['mb_per_s']:.1f} MB/s = {100 * frac:.0f}%{how}).")
        # Not a target of the issue, but "beat all of them" includes lossy paths: each 1% loss cell,
        # ours (default and BBR) against the best other stack.
        lossy = [c for c in res.get("t4_conditions", []) if c["loss"] > 0]
        for c in lossy:
            key = f"{c['rtt_ms']}/{c['loss']}"
            others = [t4[st][key]["mb_per_s"] for st in stacks
                      if st != "peerlink" and st in t4 and t4[st].get(key, {}).get("ok")]
            if not others:
                continue
            best = max(others)
            parts = []
            for st in ["peerlink"] + list(T1_VARIANTS):
                r = t4.get(st, {}).get(key, {})
                if r.get("ok"):
                    parts.append(f"{NAMES[st]} {r['mb_per_s']:.1f} ({r['mb_per_s'] / best:.2f}x)")
            lines.append(f"- T4 {c['rtt_ms']} ms, {c['loss'] * 100:g}% loss, against the best other stack "
                         f"({best:.1f} MB/s): " + ", ".join(parts) + ".")
    return "\n".join(lines)


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--stacks", default=",".join(ALL_STACKS))
    ap.add_argument("--scenarios", default="t1,t2,t3,t4")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not a measurement")
    ap.add_argument("--out")
    ap.add_argument("--report", metavar="E2E_JSON", help="only re-render the Markdown of an earlier e2e.json")
    args = ap.parse_args()
    if args.report:
        res = json.load(open(args.report))
        print(summarize(res, res["stacks"]))
        return
    if os.geteuid() != 0:
        sys.exit("run_e2e.py: needs root (network namespaces)")
    build = os.path.abspath(args.build)
    out = os.path.abspath(args.out or os.path.join(build, "bench-results"))
    os.makedirs(out, exist_ok=True)
    stacks = [s.strip() for s in args.stacks.split(",") if s.strip()]
    for s in stacks:
        if s not in ALL_STACKS:
            sys.exit(f"run_e2e.py: unknown stack {s} (known: {', '.join(ALL_STACKS)})")
    scenarios = set(args.scenarios.split(","))
    quick = args.quick
    machine = (f"{os.cpu_count()} cores, "
               + next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
               + f", {os.uname().release}")
    res = {"machine": machine, "quick": quick, "stacks": stacks, "load_average_start": os.getloadavg()[0],
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}

    if "pion" in stacks:  # every run: Go's build cache makes an unchanged source cheap
        log("== building the Pion adapter")
        sh(os.path.join(HERE, "pion/build.sh"), os.path.join(build, "bench/pion_e2e"),
           os.path.join(build, "bench/pion-e2e-work"))

    ns_up()
    try:
        if "t1" in scenarios:
            total = (16 << 20) if quick else (256 << 20)
            res["t1_bytes"] = total
            res["t1_sizes"] = [65536, 16384]
            log("== UDP limit (iperf3, 1200-byte datagrams)")
            res["udp_limit"] = iperf3_limit(2 if quick else 5)
            log("  ", res["udp_limit"])
            res["t1"] = {}
            for size in res["t1_sizes"]:
                for st in stacks:
                    log(f"== T1 {st}, {size >> 10} KiB messages")
                    r = run_cell(st, quick, lambda: run_t1(st, build, out, size, total, 120 if quick else 300))
                    res["t1"][f"{st}/{size}"] = r
                    log("  ", {k: v for k, v in r.items() if k != "config"})
                for v, (base, _) in T1_VARIANTS.items():
                    if base in stacks and size == 65536:
                        log(f"== T1 {v}, {size >> 10} KiB messages")
                        r = run_cell(v, quick, lambda: run_t1(v, build, out, size, total, 120 if quick else 300))
                        res["t1"][f"{v}/{size}"] = r
                        log("  ", {k: v for k, v in r.items() if k != "config"})
        if "t2" in scenarios:
            runs = 10 if quick else 100
            res["t2_runs"] = runs
            res["t2"] = {}
            t2_stacks = stacks + [v for v, (base, _) in T2_VARIANTS.items() if base in stacks]
            for st in t2_stacks:
                log(f"== T2 {st}")
                r = run_cell(st, quick, lambda: run_single(st, build, out, ["--mode", "t2", "--runs", str(runs)], 300, "t2"))
                if r.get("ms"):
                    ms = r["ms"]
                    r.update(median=statistics.median(ms), p99=percentile(ms, 99), max=max(ms))
                res["t2"][st] = r
                log("  ", {k: r.get(k) for k in ("median", "p99", "max", "failures", "error")})
        if "t3" in scenarios:
            conns = 40 if quick else 1000
            res["t3_connections"] = conns
            res["t3"] = {}
            for st in stacks:
                log(f"== T3 {st}")
                r = run_cell(st, quick,
                             lambda: run_single(st, build, out, ["--mode", "t3", "--connections", str(conns)], 600, "t3"))
                res["t3"][st] = r
                log("  ", {k: r.get(k) for k in ("connected", "bytes_per_connection", "error")})
    finally:
        ns_down()

    if "t4" in scenarios:
        # Less data than T1's 256 MiB, to bound the run: at 50-100 ms some stacks move ~1 MB/s
        # without loss (libdatachannel: 1.2 MB/s at 50 ms in a trial run), and with 1 % loss every
        # stack is bound by its congestion control to a few MB/s or less.
        clean_bytes, lossy_bytes = ((8 << 20), (2 << 20)) if quick else ((32 << 20), (4 << 20))
        res["t4_bytes"] = clean_bytes
        res["t4_lossy_bytes"] = lossy_bytes
        conds = [(0, 0.0), (20, 0.0), (50, 0.0), (100, 0.0), (20, 0.01), (50, 0.01), (100, 0.01)]
        if quick:  # both delay-line modes (GSO packets whole without loss, segmented with)
            conds = [(20, 0.0), (20, 0.01)]
        res["t4_conditions"] = [{"rtt_ms": rtt, "loss": loss} for rtt, loss in conds]
        res["t4"] = {}
        t4_up(build)
        try:
            variants = [v for v, (base, _) in T1_VARIANTS.items() if base in stacks]
            for rtt, loss in conds:
                t4_condition(build, rtt // 2, loss)
                for st in stacks + variants:
                    log(f"== T4 {st}, RTT {rtt} ms, loss {loss * 100:g}%")
                    r = run_cell(st, quick, lambda: run_t1(
                        st, build, out, 65536, lossy_bytes if loss else clean_bytes, 90 if quick else 240,
                        ns_pair=(T4_NS[0], T4_NS[2]), bind=T4_ADDR, tag=f"t4_{rtt}_{loss}"))
                    res["t4"].setdefault(st, {})[f"{rtt}/{loss}"] = r
                    log("  ", {k: v for k, v in r.items() if k in ("ok", "mb_per_s", "error")})
                if "peerlink" in stacks and not quick and loss == 0:
                    # The issue defines T4 as T1 (256 MiB) over these paths; every stack runs the
                    # shorter cell above (the slow ones would need minutes at 100 ms), and ours
                    # also runs T1's size, on which the target is judged (with the default Reno).
                    # Then a second connection over the same path resumes from the state the
                    # default one retained (Careful Resume, Configuration::sctp_resume): what an
                    # application that moves data to the same peer again gets.
                    for who, key in ([("peerlink", "peerlink-t1-size")] + [(v, f"{v}-t1-size") for v in variants] +
                                     [(v, f"{v}-t1-size") for v in T4_SIZE_VARIANTS]):
                        log(f"== T4 {who}, 256 MiB, RTT {rtt} ms")
                        r = run_t1(who, build, out, 65536, 256 << 20, 240, ns_pair=(T4_NS[0], T4_NS[2]),
                                   bind=T4_ADDR, tag=f"t4_{rtt}_{loss}_t1size")
                        res["t4"].setdefault(key, {})[f"{rtt}/{loss}"] = r
                        log("  ", {k: v for k, v in r.items()
                                   if k in ("ok", "mb_per_s", "second_half_mb_per_s", "error")})
                    cold = res["t4"]["peerlink-t1-size"][f"{rtt}/{loss}"]
                    if cold.get("ok") and cold.get("retained_cwnd"):
                        log(f"== T4 peerlink resumed, 256 MiB, RTT {rtt} ms")
                        state = ["--resume-cwnd", str(cold["retained_cwnd"]), "--resume-rtt", repr(cold["min_rtt"])]
                        r = run_t1("peerlink", build, out, 65536, 256 << 20, 240, ns_pair=(T4_NS[0], T4_NS[2]),
                                   bind=T4_ADDR, tag=f"t4_{rtt}_{loss}_resumed", more_args=state)
                        r["resumed_from"] = cold["retained_cwnd"]
                        res["t4"].setdefault("peerlink-resumed-t1-size", {})[f"{rtt}/{loss}"] = r
                        log("  ", {k: v for k, v in r.items()
                                   if k in ("ok", "mb_per_s", "careful_resume", "retained_cwnd", "error")})
        finally:
            t4_down(build)

    summary = summarize(res, stacks)
    res["summary_markdown"] = summary
    header = (f"Machine: {machine}; load average at start {res['load_average_start']:.2f}; {res['date']}"
              + ("; QUICK (smoke sizes, not a measurement)" if quick else ""))
    with open(os.path.join(out, "e2e.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(out, "e2e.md"), "w") as f:
        f.write(header + "\n\n" + summary + "\n")
    print(header + "\n\n" + summary)
    failed = [f"{t} {k}" for t in ("t1", "t2", "t3") for k, r in res.get(t, {}).items() if cell_failed(r)]
    failed += [f"t4 {st} {k}" for st, cells in res.get("t4", {}).items() for k, r in cells.items() if cell_failed(r)]
    if failed:
        log("run_e2e.py: failed cells: " + ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
