#!/usr/bin/python3
"""Real-network ICE suite: two `peerlink ice-peer` processes in network namespaces.

  ice_suite.py --peerlink BUILD/tools/peerlink/peerlink [--case NAME ...] [--list]

Builds the topology of tests/netns/README.md once per run (unique prefix, torn down
on exit, also on SIGINT/SIGTERM), starts `peerlink stun` in the public namespace
(203.0.113.11:3478) and coturn (203.0.113.10) as the cases need it, runs the chosen
cases (default: all) and relays each pair's JSON-lines signaling (peerpair.py).
Every case asserts the outcome and the selected candidate types from the peers'
result lines. Exit status 0 only if every chosen case passed. Needs root; fails
(never skips) if the namespaces cannot be built. Every wait is bounded.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peerpair  # noqa: E402

PY = "/usr/bin/python3"
TOPOLOGY = os.path.join(HERE, "topology.sh")
COTURN = os.path.join(HERE, "coturn.sh")
NETTOOL = os.path.join(HERE, "nettool.py")

TURN_IP = "203.0.113.10"
STUN_ADDR = "203.0.113.11:3478"  # `peerlink stun`
PUB_PEER_IP = "203.0.113.11"
NAT1_WAN = "203.0.113.21"
NAT2_WAN = "203.0.113.22"
RELAY_PORTS = range(49152, 49200)  # coturn.sh's relay range


class CaseFailure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise CaseFailure(message)


def addr_ip(hostport):
    return hostport.rsplit(":", 1)[0].strip("[]")


def addr_port(hostport):
    return int(hostport.rsplit(":", 1)[1])


class Suite:
    def __init__(self, peerlink, workdir, prefix):
        self.peerlink = peerlink
        self.work = workdir
        self.prefix = prefix
        self.env = dict(os.environ, PL_NS_PREFIX=prefix)
        self.coturn_mode = None
        self.stun_proc = None
        self.stun_log = None
        self.run_index = 0

    def ns(self, name):
        return "%s-%s" % (self.prefix, name)

    def sh(self, *argv, timeout=60):
        r = subprocess.run(argv, env=self.env, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = r.stdout.decode(errors="replace")
        if r.returncode != 0:
            raise CaseFailure("%s failed (%d):\n%s" % (" ".join(argv), r.returncode, out))
        return out

    # --- infrastructure ---------------------------------------------------------------
    def up(self):
        print(self.sh(TOPOLOGY, "up").strip(), flush=True)
        self.start_stun()

    def down(self):
        if self.stun_proc is not None and self.stun_proc.poll() is None:
            self.stun_proc.send_signal(signal.SIGTERM)
            try:
                self.stun_proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.stun_proc.kill()
                self.stun_proc.wait(timeout=3)
        self.stop_coturn()
        subprocess.run([TOPOLOGY, "down"], env=self.env, timeout=60, stdout=subprocess.DEVNULL)

    def start_stun(self):
        log_path = os.path.join(self.work, "peerlink-stun.log")
        self.stun_log = open(log_path, "wb")
        self.stun_proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns("pub"), self.peerlink, "stun", "--listen", STUN_ADDR],
            stdin=subprocess.DEVNULL, stdout=self.stun_log, stderr=subprocess.STDOUT)
        host, port = STUN_ADDR.split(":")
        for _ in range(20):  # bounded: ~10 s
            if self.stun_proc.poll() is not None:
                break
            r = subprocess.run(["ip", "netns", "exec", self.ns("a"), PY, NETTOOL, "stun", host, port,
                                "--timeout", "0.5", "--expect-mapped", NAT1_WAN],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
            if r.returncode == 0:
                print("peerlink stun on %s: from a %s" % (STUN_ADDR, r.stdout.decode().strip()), flush=True)
                return
            time.sleep(0.2)
        with open(log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        raise CaseFailure("peerlink stun did not answer on %s:\n%s" % (STUN_ADDR, log))

    def coturn(self, mode):
        """Makes sure coturn runs in pub with credential `mode` (static|secret)."""
        if self.coturn_mode == mode:
            return
        self.stop_coturn()
        print(self.sh(COTURN, "start", self.ns("pub"), TURN_IP, os.path.join(self.work, "coturn"), mode).strip(),
              flush=True)
        self.coturn_mode = mode

    def stop_coturn(self):
        if self.coturn_mode is not None:
            subprocess.run([COTURN, "stop", self.ns("pub"), TURN_IP, os.path.join(self.work, "coturn")],
                           env=self.env, timeout=30, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.coturn_mode = None

    def coturn_log(self):
        path = os.path.join(self.work, "coturn", "turnserver.log")
        try:
            with open(path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    # --- running a pair ---------------------------------------------------------------
    def pair(self, controlling, controlled, timeout=20.0, echo_count=5):
        """controlling/controlled: (namespace short name, [extra ice-peer args]).
        Returns the PairOutcome; peers are named "controlling" and "controlled"."""
        self.run_index += 1
        specs = []
        for role, (ns, extra) in (("controlling", controlling), ("controlled", controlled)):
            argv = ["ip", "netns", "exec", self.ns(ns), self.peerlink, "ice-peer", "--role", role,
                    "--timeout", str(timeout), "--echo-count", str(echo_count),
                    "--log-prefix", "%s@%s" % (role, ns)] + list(extra)
            log = os.path.join(self.work, "run%02d-%s-%s.log" % (self.run_index, role, ns))
            specs.append((role, argv, log))
        for _, argv, _ in specs:
            print("   $ " + " ".join(argv[4:] if argv[0] == "ip" else argv), flush=True)
        out = peerpair.run_pair(specs, deadline_s=timeout + 5)
        print("   -> " + out.summary(), flush=True)
        self.last = out
        return out

    def describe_failure(self, out):
        text = []
        for p in out.peers:
            text.append("---- %s stderr (%s)\n%s" % (p.name, p.log_path, p.stderr_text()[-6000:]))
            text.append("---- %s stdout JSON\n%s" % (p.name, "\n".join(str(j) for j in p.lines)))
        return "\n".join(text)


# --- assertions shared by cases ------------------------------------------------------------

def expect_success(out):
    check(not out.timed_out, "the pair did not finish before the relay's deadline")
    for p in out.peers:
        r = p.result
        check(r is not None, "%s printed no result line (exit %s)" % (p.name, p.returncode))
        check(p.returncode == 0, "%s exited %s: %s" % (p.name, p.returncode, r.get("error")))
        check("error" not in r, "%s reported error %r" % (p.name, r.get("error")))
        check(r.get("echo_ok") is True, "%s: echo check not ok: %s" % (p.name, r))
        check(r.get("selected"), "%s: no selected pair" % p.name)
    # echo_ok: the controlling side got every "pong:<i>", the controlled side answered as many
    # distinct "ping:<i>" (see tools/peerlink/ice_peer.cc).


def selected(out, name):
    return out[name].result["selected"]


def expect_types(out, name, local_types, remote_types):
    s = selected(out, name)
    check(s["local_type"] in local_types,
          "%s: selected local type %s, expected one of %s" % (name, s["local_type"], local_types))
    check(s["remote_type"] in remote_types,
          "%s: selected remote type %s, expected one of %s" % (name, s["remote_type"], remote_types))


def expect_relay_addr(hostport, what):
    check(addr_ip(hostport) == TURN_IP and addr_port(hostport) in RELAY_PORTS,
          "%s %s is not a coturn relay address (%s:%d-%d)" % (what, hostport, TURN_IP, RELAY_PORTS[0],
                                                               RELAY_PORTS[-1]))


def expect_gathered(peer, kind, ip):
    """The peer signalled at least one `typ kind` candidate on `ip`."""
    cands = peer.candidates(kind)
    check(any(c.split()[4] == ip for c in cands),
          "%s did not signal a %s candidate on %s; it signalled %s" % (peer.name, kind, ip, peer.candidates()))


def expect_only(peer, kind):
    cands = peer.candidates()
    check(cands and all((" typ %s" % kind) in c for c in cands),
          "%s should signal only %s candidates, signalled %s" % (peer.name, kind, cands))


# --- cases ----------------------------------------------------------------------------------
# Each returns a one-line observation for the summary table.

STUN = ["--stun", STUN_ADDR]
TURN_UDP = ["--turn", "turn:%s:3478" % TURN_IP, "--turn-user", "user", "--turn-pass", "pass"]
TURN_TCP = ["--turn", "turn:%s:3478?transport=tcp" % TURN_IP, "--turn-user", "user", "--turn-pass", "pass"]
TURN_TLS = ["--turn", "turns:%s:5349" % TURN_IP, "--turn-user", "user", "--turn-pass", "pass", "--turn-insecure"]


def case_stun_eim_vs_symmetric_fails(s):
    """a (nat1: EIM mapping, APDF filtering) <-> b (nat2: symmetric), STUN only.

    No pair can work: a's checks to b's srflx 203.0.113.22:X are dropped by nat2 (X is b's
    mapping toward the STUN server only), and b's checks to a's srflx leave nat2 from a fresh
    random port Y that nat1's entry (which expects exactly 203.0.113.22:X) does not admit.
    Host addresses are private and unrouted. So both agents must fail -- and promptly: by
    check timeouts (5 s), well before the 30 s process timeout."""
    timeout = 30.0
    out = s.pair(("a", STUN), ("b", STUN), timeout=timeout)
    check(not out.timed_out, "relay deadline hit: the peers did not give up by themselves")
    expect_gathered(out["controlling"], "srflx", NAT1_WAN)
    expect_gathered(out["controlled"], "srflx", NAT2_WAN)
    for p in out.peers:
        check(p.result is not None, "%s printed no result line (exit %s)" % (p.name, p.returncode))
        check(p.returncode == 1, "%s exited %s, expected 1 (failure)" % (p.name, p.returncode))
        check(p.result.get("selected") is None, "%s selected a pair: %s" % (p.name, p.result.get("selected")))
        check(p.result.get("echo_ok") is False, "%s: echo_ok should be false" % p.name)
    err = out["controlling"].result.get("error", "")
    check(err.startswith("ICE failed"), "controlling error %r: expected an ICE failure, not a timeout" % err)
    when = out["controlling"].result_at
    check(when < timeout / 2, "ICE failure reported after %.1f s; expected well under the %.0f s timeout"
          % (when, timeout))
    return "fails as expected: controlling %r after %.1f s, controlled %r" % (
        err, when, out["controlled"].result.get("error"))


def case_turn_udp_eim_vs_symmetric(s):
    """Same pair plus coturn (UDP, long-term credentials): must connect through a relay."""
    s.coturn("static")
    out = s.pair(("a", STUN + TURN_UDP), ("b", STUN + TURN_UDP))
    expect_success(out)
    for p in out.peers:
        check(any(addr_ip(c.split()[4]) == TURN_IP for c in p.candidates("relay")),
              "%s signalled no relay candidate" % p.name)
    sa, sb = selected(out, "controlling"), selected(out, "controlled")
    check("relay" in (sa["local_type"], sb["local_type"]),
          "no side selected a local relay candidate: a %s, b %s" % (sa, sb))
    # The relayed side's peer sees the relay address as the remote end.
    for me, other in ((sa, sb), (sb, sa)):
        if me["local_type"] == "relay":
            expect_relay_addr(me["local"], "relay local")
            check(other["remote"] == me["local"],
                  "one side's relay %s is not the other's remote %s" % (me["local"], other["remote"]))
    return "a %s->%s, b %s->%s" % (sa["local_type"], sa["remote_type"], sb["local_type"], sb["remote_type"])


def relay_only(s, turn_args, stream):
    """Both peers --relay-only through coturn; `stream` is None (TURN over UDP), "tcp" or "tls"."""
    s.coturn("static")
    out = s.pair(("a", ["--relay-only"] + turn_args), ("b", ["--relay-only"] + turn_args))
    expect_success(out)
    for p in out.peers:
        expect_only(p, "relay")
        expect_types(out, p.name, ["relay"], ["relay"])
        expect_relay_addr(selected(out, p.name)["local"], "%s local" % p.name)
        # The runtime logs each stream connection it opens to a TURN server.
        log = p.stderr_text()
        streams = re.findall(r"(tcp|tls) connection \S+ -> (\S+) established", log)
        if stream is None:
            check(not streams, "%s opened stream connections for TURN over UDP: %s" % (p.name, streams))
        else:
            port = 5349 if stream == "tls" else 3478
            check((stream, "%s:%d" % (TURN_IP, port)) in streams,
                  "%s logged no %s connection to %s:%d (saw %s)" % (p.name, stream, TURN_IP, port, streams))
    check(selected(out, "controlling")["remote"] == selected(out, "controlled")["local"],
          "controlling's remote is not controlled's relay")
    return "relay %s <-> relay %s, TURN over %s" % (selected(out, "controlling")["local"],
                                                    selected(out, "controlled")["local"], stream or "udp")


def case_relay_only_udp(s):
    """Both sides --relay-only through coturn over UDP: relay <-> relay."""
    return relay_only(s, TURN_UDP, None)


def case_relay_only_tcp(s):
    """Both sides --relay-only, TURN over TCP (RFC 6062 framing of STUN/ChannelData)."""
    return relay_only(s, TURN_TCP, "tcp")


def case_relay_only_tls(s):
    """Both sides --relay-only, turns: (TLS over TCP) with coturn's self-signed certificate
    and --turn-insecure."""
    return relay_only(s, TURN_TLS, "tls")


def case_relay_only_tls_untrusted_fails(s):
    """turns: without --turn-insecure: the self-signed certificate is not trusted, so no
    relay candidate is gathered and a relay-only agent fails (certificate checks are real)."""
    s.coturn("static")
    args = ["--relay-only"] + [a for a in TURN_TLS if a != "--turn-insecure"]
    timeout = 30.0
    out = s.pair(("a", args), ("b", args), timeout=timeout)
    check(not out.timed_out, "relay deadline hit")
    for p in out.peers:
        check(p.returncode == 1, "%s exited %s, expected 1" % (p.name, p.returncode))
        check(p.result is not None and p.result.get("selected") is None, "%s selected a pair" % p.name)
        check(not p.candidates("relay"), "%s gathered a relay candidate from an untrusted server" % p.name)
    when = out["controlling"].result_at
    check(when < timeout / 2, "failure reported after %.1f s" % when)
    return "fails: %r after %.1f s" % (out["controlling"].result.get("error"), when)


def case_pub_peer_stun(s):
    """a (behind nat1) <-> a peer on the public network (pub, 203.0.113.11), STUN."""
    out = s.pair(("a", STUN), ("pub", STUN + ["--bind", PUB_PEER_IP]))
    return pub_peer_asserts(out)


def pub_peer_asserts(out, lossy=False):
    expect_success(out)
    a = out["controlling"]
    if not lossy or a.gathering_complete():
        # Gathering ended, so the STUN transaction ended: with loss, its retransmissions
        # must have carried it (all five sends failing at 10% loss each way: 0.19^5, ~2.5e-4).
        expect_gathered(a, "srflx", NAT1_WAN)
    else:
        # A lost STUN request or answer waits for its retransmission (250 ms RTO), and the
        # whole run can finish first. That is correct: a does not need srflx to connect,
        # and the prflx checks below still prove it learnt nat1's mapping.
        check(not a.candidates("srflx"), "a signalled srflx but never end-of-candidates")
    sa, sp = selected(out, "controlling"), selected(out, "controlled")
    # a reaches the public peer's host candidate directly. a's side of the valid pair is its
    # NAT mapping: srflx when the STUN answer came first, prflx (RFC 8445 section 7.2.5.3.1)
    # when the check's response taught it first (e.g. the STUN request was lost) — either way
    # the address must be nat1's WAN.
    expect_types(out, "controlling", ["host", "srflx", "prflx"], ["host"])
    if sa["local_type"] != "host":
        check(addr_ip(sa["local"]) == NAT1_WAN, "a's local %s is not nat1's WAN" % sa["local"])
    check(addr_ip(sa["remote"]) == PUB_PEER_IP, "a's remote %s is not on %s" % (sa["remote"], PUB_PEER_IP))
    # ...and the public peer sees a through nat1 (its srflx, or a prflx with the same address).
    expect_types(out, "controlled", ["host"], ["srflx", "prflx"])
    check(addr_ip(sp["local"]) == PUB_PEER_IP, "pub's local %s is not %s" % (sp["local"], PUB_PEER_IP))
    check(addr_ip(sp["remote"]) == NAT1_WAN, "pub's remote %s is not nat1's WAN" % sp["remote"])
    check(sp["local"] == sa["remote"], "pub's local %s != a's remote %s" % (sp["local"], sa["remote"]))
    return "a %s->%s, pub %s->%s, rtt %s ms" % (sa["local_type"], sa["remote_type"], sp["local_type"],
                                                sp["remote_type"], out["controlling"].result.get("rtt_ms"))


def loss_counters(s):
    """Packets dropped so far by topology.sh's loss rules on nat1/wan (both directions)."""
    total = 0
    for table, chain in (("raw", "PREROUTING"), ("mangle", "POSTROUTING")):
        text = s.sh("ip", "netns", "exec", s.ns("nat1"), "iptables", "-t", table, "-L", chain, "-v", "-n", "-x")
        for line in text.splitlines():
            if "pl-loss-wan" in line:
                total += int(line.split()[0])
    return total


def case_pub_peer_stun_loss10(s):
    """As pub_peer_stun with 10% loss each way on nat1's WAN (iptables statistic): STUN and
    check retransmissions must carry it. Asserts that the rules really dropped packets."""
    s.sh(TOPOLOGY, "loss", s.ns("nat1"), "wan", "0.1")
    try:
        # 100 echo datagrams (each lost one is resent every 200 ms) so that a few hundred
        # packets cross the lossy link: the odds that 10% loss drops none are below 1e-20.
        out = s.pair(("a", STUN), ("pub", STUN + ["--bind", PUB_PEER_IP]), timeout=30.0, echo_count=100)
        dropped = loss_counters(s)
    finally:
        s.sh(TOPOLOGY, "loss", s.ns("nat1"), "wan", "0")
    note = pub_peer_asserts(out, lossy=True)
    if not out["controlling"].gathering_complete():
        note += "; a finished before its STUN retransmission"
    check(dropped > 0, "the 10% loss rules dropped nothing (are they matching?)")
    c = out["controlling"].result
    check(c.get("echo_received") == 100, "controlling counted %s echoes" % c.get("echo_received"))
    return "%s; %d packets dropped, %d pings sent for 100 echoes" % (note, dropped, c.get("echo_sent"))


def case_turn_rest_secret(s):
    """coturn with use-auth-secret; both sides --relay-only with --turn-secret (TURN REST
    credentials minted by the CLI): relay <-> relay."""
    s.coturn("secret")
    turn = ["--turn", "turn:%s:3478" % TURN_IP, "--turn-secret", "s3cret", "--turn-user", "peer"]
    out = s.pair(("a", ["--relay-only"] + turn), ("b", ["--relay-only"] + turn))
    expect_success(out)
    for p in out.peers:
        expect_types(out, p.name, ["relay"], ["relay"])
        expect_relay_addr(selected(out, p.name)["local"], p.name)
    return "relay <-> relay with REST credentials"


def case_turn_rest_wrong_secret_fails(s):
    """The same with a wrong shared secret: coturn rejects the allocation (401), no relay
    candidate, both relay-only agents fail promptly."""
    s.coturn("secret")
    turn = ["--relay-only", "--turn", "turn:%s:3478" % TURN_IP, "--turn-secret", "wrong"]
    timeout = 30.0
    out = s.pair(("a", turn), ("b", turn), timeout=timeout)
    check(not out.timed_out, "relay deadline hit")
    for p in out.peers:
        check(p.returncode == 1, "%s exited %s, expected 1" % (p.name, p.returncode))
        check(p.result is not None and p.result.get("selected") is None, "%s selected a pair" % p.name)
        check(not p.candidates("relay"), "%s got a relay candidate with a wrong secret" % p.name)
    when = out["controlling"].result_at
    check(when < timeout / 2, "failure reported after %.1f s" % when)
    return "fails: %r after %.1f s" % (out["controlling"].result.get("error"), when)


# --- `peerlink pipe` through the namespaces ---------------------------------------------------

SIGNAL_URL = "ws://%s:4444" % PUB_PEER_IP  # `peerlink signal`, started in pub by pipe cases


def pipe_pair(s, room, a_args, b_args, size_a, size_b, timeout=30):
    """`peerlink signal` in pub; `peerlink pipe ROOM` in a and in b, each sending random bytes.
    Both must exit 0 and each stdout must equal the other side's stdin. Returns their stderr."""
    sig_log = open(os.path.join(s.work, "signal-%s.log" % room), "wb")
    sig = subprocess.Popen(["ip", "netns", "exec", s.ns("pub"), s.peerlink, "signal", "--listen",
                            "%s:4444" % PUB_PEER_IP], stdin=subprocess.DEVNULL, stdout=sig_log,
                           stderr=subprocess.STDOUT)
    procs, files = [], {}
    try:
        time.sleep(0.3)
        check(sig.poll() is None, "peerlink signal exited at once")
        for name, ns, args, size in (("a", "a", a_args, size_a), ("b", "b", b_args, size_b)):
            base = os.path.join(s.work, "pipe-%s-%s" % (room, name))
            with open(base + ".in", "wb") as f:
                f.write(os.urandom(size))
            files[name] = base
            argv = ["ip", "netns", "exec", s.ns(ns), s.peerlink, "pipe", room, "--signal", SIGNAL_URL,
                    "--timeout", str(timeout), "-v"] + list(args)
            print("   $ " + " ".join(argv[4:]), flush=True)
            procs.append(subprocess.Popen(argv, stdin=open(base + ".in", "rb"), stdout=open(base + ".out", "wb"),
                                          stderr=open(base + ".err", "wb")))
        codes = []
        deadline = time.monotonic() + timeout + 30
        for p in procs:
            try:
                codes.append(p.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                codes.append("timeout")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        sig.terminate()
        try:
            sig.wait(5)
        except subprocess.TimeoutExpired:
            sig.kill()
            sig.wait()
    errs = {}
    for name in ("a", "b"):
        with open(files[name] + ".err", "rb") as f:
            errs[name] = f.read().decode(errors="replace")
    check(codes == [0, 0], "pipe exit codes %s\n--- a:\n%s\n--- b:\n%s" % (codes, errs["a"][-4000:], errs["b"][-4000:]))
    for src, dst in (("a", "b"), ("b", "a")):
        with open(files[src] + ".in", "rb") as f:
            sent = f.read()
        with open(files[dst] + ".out", "rb") as f:
            got = f.read()
        check(got == sent, "%s received %d bytes that differ from the %d %s sent" % (dst, len(got), len(sent), src))
    return errs


def pipe_path(err):
    m = re.search(r"connected to \S+ via (\S+) (\S+) <-> (\S+) (\S+) \((direct|relayed)\)", err)
    check(m is not None, "no path line in:\n%s" % err[-3000:])
    return m.groups()


def case_pipe_turn_eim_vs_symmetric(s):
    """`peerlink pipe` a (nat1) <-> b (symmetric nat2) via `peerlink signal` in pub and coturn."""
    s.coturn("static")
    ice = ["--ice-server", "stun:" + STUN_ADDR, "--ice-server", "turn:%s:3478" % TURN_IP,
           "--ice-username", "user", "--ice-credential", "pass"]
    errs = pipe_pair(s, "nat-room", ice, ice, 3 * 1024 * 1024 + 11, 1024 * 1024 + 5)
    pa, pb = pipe_path(errs["a"]), pipe_path(errs["b"])
    check(pa[4] == "relayed" and pb[4] == "relayed", "path not relayed: a %s, b %s" % (pa, pb))
    check("relay" in (pa[0], pb[0]), "no side uses a local relay candidate: a %s, b %s" % (pa, pb))
    return "a %s %s <-> %s %s, b %s %s <-> %s %s; bytes intact both ways" % (pa[:4] + pb[:4])


def case_pipe_password_relay_only_tcp(s):
    """`peerlink pipe` with a room password, both sides --relay-only over TURN/TCP."""
    s.coturn("static")
    ice = ["--ice-server", "turn:%s:3478?transport=tcp" % TURN_IP, "--ice-username", "user",
           "--ice-credential", "pass", "--relay-only", "--password", "netns secret"]
    errs = pipe_pair(s, "tcp-room", ice, ice, 2 * 1024 * 1024, 64 * 1024)
    pa, pb = pipe_path(errs["a"]), pipe_path(errs["b"])
    check(pa[0] == "relay" and pa[2] == "relay" and pb[0] == "relay" and pb[2] == "relay",
          "not relay <-> relay: a %s, b %s" % (pa, pb))
    return "relay %s <-> relay %s over TURN/TCP" % (pa[1], pa[3])


CASES = [
    case_stun_eim_vs_symmetric_fails,
    case_turn_udp_eim_vs_symmetric,
    case_relay_only_udp,
    case_relay_only_tcp,
    case_relay_only_tls,
    case_relay_only_tls_untrusted_fails,
    case_pub_peer_stun,
    case_pub_peer_stun_loss10,
    case_turn_rest_secret,
    case_turn_rest_wrong_secret_fails,
    case_pipe_turn_eim_vs_symmetric,
    case_pipe_password_relay_only_tcp,
]
CASE_NAMES = {f.__name__[len("case_"):]: f for f in CASES}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peerlink", help="path to the peerlink CLI binary")
    ap.add_argument("--case", action="append", default=[], help="case to run (repeatable; default all)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--keep-logs", action="store_true", help="keep the work directory even on success")
    args = ap.parse_args()
    if args.list:
        for name, f in CASE_NAMES.items():
            print("%-32s %s" % (name, f.__doc__.strip().splitlines()[0]))
        return 0
    if not args.peerlink:
        ap.error("--peerlink is required")
    for name in args.case:
        if name not in CASE_NAMES:
            ap.error("unknown case %r (see --list)" % name)
    chosen = args.case or list(CASE_NAMES)
    if os.geteuid() != 0:
        print("ice_suite: FAIL: must run as root (network namespaces, iptables)", file=sys.stderr)
        return 1
    peerlink = os.path.abspath(args.peerlink)
    if not os.access(peerlink, os.X_OK):
        print("ice_suite: FAIL: %s is not an executable" % peerlink, file=sys.stderr)
        return 1
    help_text = subprocess.run([peerlink, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=10).stdout.decode(errors="replace")
    if "ice-peer" not in help_text:
        print("ice_suite: FAIL: %s has no ice-peer subcommand (built without src/ice?)" % peerlink, file=sys.stderr)
        return 1

    prefix = os.environ.get("PL_NS_PREFIX") or "ice%d" % (os.getpid() % 100000)
    work = tempfile.mkdtemp(prefix="peerlink-netns-ice.")
    suite = Suite(peerlink, work, prefix)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)

    started = time.monotonic()
    results = []
    try:
        try:
            suite.up()
        except (CaseFailure, subprocess.TimeoutExpired) as e:
            print("ice_suite: FAIL: cannot set up the topology: %s" % e, file=sys.stderr)
            return 1
        for name in chosen:
            f = CASE_NAMES[name]
            print("== %s: %s" % (name, f.__doc__.strip().splitlines()[0]), flush=True)
            t0 = time.monotonic()
            try:
                note = f(suite)
                results.append((name, True, note, time.monotonic() - t0))
                print("   PASS (%.1f s): %s" % (time.monotonic() - t0, note), flush=True)
            except CaseFailure as e:
                results.append((name, False, str(e).splitlines()[0], time.monotonic() - t0))
                print("   FAIL: %s" % e, flush=True)
                if getattr(suite, "last", None) is not None:
                    print(suite.describe_failure(suite.last), flush=True)
            suite.last = None
    except KeyboardInterrupt as e:
        print("ice_suite: interrupted (%s)" % e, file=sys.stderr)
        results.append(("(interrupted)", False, str(e), 0))
    finally:
        suite.down()
    failed = [r for r in results if not r[1]]
    print("\nice_suite: %d passed, %d failed in %.1f s (prefix %s)" % (
        len(results) - len(failed), len(failed), time.monotonic() - started, prefix))
    for name, ok, note, secs in results:
        print("  %-4s %-32s %5.1f s  %s" % ("ok" if ok else "FAIL", name, secs, note))
    if failed or args.keep_logs:
        print("logs kept in %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed or len(results) < len(chosen) else 0


if __name__ == "__main__":
    sys.exit(main())
