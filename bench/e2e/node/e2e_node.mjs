// End-to-end benchmark adapter for two Node stacks; bench/e2e/PROTOCOL.md is the contract.
//
//   node e2e_node.mjs --stack werift|ndc --mode t1 --role offerer|answerer --bytes N --msg-size M
//                     [--high 4194304] [--low 1048576] [--bind ADDR] [--timeout S]
//   node e2e_node.mjs --stack werift|ndc --mode t2 [--runs 100] [--bind ADDR] [--timeout S]
//   node e2e_node.mjs --stack werift|ndc --mode t3 [--connections 1000] [--bind ADDR] [--timeout S]
//
// Stacks:
//   werift: werift (npm, pure TypeScript), from tests/interop/werift/node_modules.
//   ndc:    libdatachannel through node-datachannel's native PeerConnection/DataChannel API, from
//           tests/interop/libdatachannel/node_modules. Not its W3C polyfill: that one wraps every
//           message in an Event and re-dispatches it through an EventTarget, which is the
//           binding's overhead, not libdatachannel's.
// Nothing is installed here: both packages are resolved from the interop tests' directories.
//
// stdout carries JSON lines only: {"type":"config"} first, then descriptions (t1) and the
// result; logs go to stderr. Host candidates only: no STUN/TURN server, no mDNS, no ICE-TCP, and
// with --bind only that address is gathered and bound.
import { readFileSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { isIPv6 } from "node:net";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { withTimeout } from "../../../tests/interop/common/echo_harness.mjs";

// bench/e2e/node -> tests/interop, where the pinned node_modules live.
const INTEROP = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "tests", "interop");
// Local max-message-size for both stacks: 256 KiB (libdatachannel's default; werift's is 64 KiB,
// which would just fit T1's 64 KiB messages but no larger --msg-size).
const MAX_MESSAGE_SIZE = 256 * 1024;
// t2/t3: a connection that is not open after this long is a failure.
const OPEN_TIMEOUT_MS = 10_000;
// t3: pairs connected at once.
const T3_BATCH = 10;

const { values: args } = parseArgs({
  options: {
    stack: { type: "string" },
    mode: { type: "string" },
    role: { type: "string" },
    bytes: { type: "string" },
    "msg-size": { type: "string" },
    high: { type: "string", default: "4194304" },
    low: { type: "string", default: "1048576" },
    runs: { type: "string", default: "100" },
    connections: { type: "string", default: "1000" },
    bind: { type: "string" },
    timeout: { type: "string", default: "120" },
  },
});

const tag = `[e2e_node ${args.stack ?? "?"} ${args.mode ?? "?"}${args.role ? " " + args.role : ""}]`;
const log = (...a) => console.error(tag, ...a);

// One JSON line on stdout, written synchronously so that nothing is lost on process.exit().
const emit = (obj) => writeSync(1, JSON.stringify(obj) + "\n");

function die(msg) {
  console.error(`e2e_node: ${msg instanceof Error ? msg.stack : msg}`);
  process.exit(1);
}

function intArg(name, min = 1) {
  const v = Number(args[name]);
  if (!Number.isSafeInteger(v) || v < min) die(`--${name} must be an integer >= ${min} (got ${args[name]})`);
  return v;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A promise with its resolve/reject outside (Promise.withResolvers is Node >= 22).
function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

// User+system CPU seconds since `since` (a process.cpuUsage() value); all threads of the process.
function cpuSecondsSince(since) {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

// VmRSS of this process in bytes, as the other adapters measure it.
function rssBytes() {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync("/proc/self/status", "utf8"));
  if (!m) throw new Error("no VmRSS in /proc/self/status");
  return Number(m[1]) * 1024;
}

// The installed version of package `name` under tests/interop/DIR (its package.json is not
// among the package's exports, so it is read directly).
function packageVersion(dir, name) {
  return JSON.parse(readFileSync(join(INTEROP, dir, "node_modules", name, "package.json"), "utf8")).version;
}

// JSON lines from stdin; next(type) resolves with the next message of that type (others wait for
// their own next() call).
function stdinMessages() {
  const queue = [];
  const waiters = [];
  let closed = false;
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (!line.trim()) return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      log(`ignoring a stdin line that is not JSON: ${line.slice(0, 80)}`);
      return;
    }
    const i = waiters.findIndex((w) => w.type === msg.type);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(msg);
    else queue.push(msg);
  });
  rl.on("close", () => {
    closed = true;
    for (const w of waiters.splice(0)) w.reject(new Error(`stdin closed while waiting for "${w.type}"`));
  });
  return (type) => {
    const i = queue.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
    if (closed) return Promise.reject(new Error(`stdin closed while waiting for "${type}"`));
    return new Promise((resolve, reject) => waiters.push({ type, resolve, reject }));
  };
}

// The adapters below give both stacks one shape:
//   peer() -> { createChannel(label), incomingChannel(): Promise<Channel> (once open),
//               localDescription(): Promise<{type, sdp}> (after gathering, all candidates),
//               setRemote({type, sdp}), close(): Promise (resolves once closed) }
//   pair() -> { opened: Promise (both channels open), sides: number of open sides, close() }
//   Channel: { opened: Promise, openCpu (cpuUsage at open), send(buf), buffered(),
//              setLowThreshold(n), onLow(fn), onMessage(fn(Buffer)), onClose(fn) }
// A Channel holds messages that arrive before onMessage(fn) is set, so none is lost between the
// open event and the receiver's setup.
class Channel {
  constructor() {
    this.open = deferred();
    this.opened = this.open.promise;
    this.openCpu = null;
    this.openAt = null;
    this.pending = [];
    this.handler = null;
  }

  // Called by the stack wrapper when the channel opens: time and CPU time are taken right there.
  markOpen() {
    if (this.openCpu) return;
    this.openAt = process.hrtime.bigint();
    this.openCpu = process.cpuUsage();
    this.open.resolve(this);
  }

  deliver(buf) {
    if (this.handler) this.handler(buf);
    else this.pending.push(buf);
  }

  onMessage(fn) {
    this.handler = fn;
    for (const buf of this.pending.splice(0)) fn(buf);
  }
}

// --- werift -----------------------------------------------------------------------------------

function weriftStack(bind) {
  const require = createRequire(join(INTEROP, "werift", "package.json"));
  const { RTCPeerConnection, Connection } = require("werift");
  const version = packageVersion("werift", "werift");

  // werift's ICE agent queries stun.l.google.com:19302 whenever no STUN server is configured
  // (iceServers: [] included; see Connection's constructor). Clearing it just before gathering
  // leaves host candidates only and sends nothing to other addresses.
  const gather = Connection.prototype.gatherCandidates;
  Connection.prototype.gatherCandidates = function (...a) {
    this.stunServer = undefined;
    return gather.apply(this, a);
  };

  const v6 = bind ? isIPv6(bind) : false;
  const config = {
    iceServers: [],
    iceUseIpv4: !v6,
    iceUseIpv6: v6,
    iceUseTcp: false,
    maxMessageSize: MAX_MESSAGE_SIZE,
    // Bind the sockets to --bind and gather only it (also if it is an address werift would
    // skip, such as loopback).
    ...(bind && {
      iceInterfaceAddresses: { [v6 ? "udp6" : "udp4"]: bind },
      iceAdditionalHostAddresses: [bind],
    }),
  };

  const wrapChannel = (dc) => {
    const ch = new Channel();
    dc.onMessage.subscribe((m) => ch.deliver(m));
    const onState = (s) => s === "open" && ch.markOpen();
    if (dc.readyState === "open") ch.markOpen();
    else dc.stateChanged.subscribe(onState);
    Object.assign(ch, {
      send: (buf) => dc.send(buf),
      buffered: () => dc.bufferedAmount,
      setLowThreshold: (n) => (dc.bufferedAmountLowThreshold = n),
      onLow: (fn) => dc.bufferedAmountLow.subscribe(fn),
      onClose: (fn) => dc.stateChanged.subscribe((s) => s === "closed" && fn()),
    });
    return ch;
  };

  const closePc = (pc) => pc.close();

  function peer() {
    const pc = new RTCPeerConnection(config);
    const incoming = deferred();
    pc.onDataChannel.subscribe((dc) => incoming.resolve(wrapChannel(dc)));
    return {
      createChannel: (label) => wrapChannel(pc.createDataChannel(label, { ordered: true })),
      incomingChannel: () => incoming.promise.then((ch) => ch.opened),
      // werift's setLocalDescription resolves only after gathering, so the description it
      // leaves carries every candidate.
      async localDescription() {
        const offering = pc.signalingState === "stable";
        await pc.setLocalDescription(offering ? await pc.createOffer() : await pc.createAnswer());
        const { type, sdp } = pc.localDescription;
        return { type, sdp };
      },
      setRemote: (desc) => pc.setRemoteDescription(desc),
      close: () => closePc(pc),
    };
  }

  // In-process pair: descriptions are handed over directly (they already hold all candidates).
  function pair() {
    const a = peer();
    const b = peer();
    const p = { sides: 0 };
    const chA = a.createChannel("t2");
    const openA = chA.opened.then(() => p.sides++);
    const openB = b.incomingChannel().then(() => p.sides++);
    const negotiated = (async () => {
      await b.setRemote(await a.localDescription());
      await a.setRemote(await b.localDescription());
    })();
    p.opened = Promise.all([openA, openB, negotiated]);
    p.close = () => Promise.all([a.close(), b.close()]);
    return p;
  }

  const where = bind
    ? `${bind} (bound by iceInterfaceAddresses, gathered by iceAdditionalHostAddresses)`
    : "all host addresses";
  const text = [
    `werift ${version} (pure TypeScript) on Node ${process.version}`,
    `host candidates only: ${where}, IPv${v6 ? "6" : "4"} only, no ICE-TCP, no mDNS, no STUN/TURN ` +
      "(werift's built-in fallback STUN server stun.l.google.com is cleared before gathering)",
    `local max-message-size ${MAX_MESSAGE_SIZE} (werift default 65536)`,
    "SCTP: werift defaults (DATA chunks of at most 1200 user bytes, a_rwnd 1 MiB); " +
      "UDP socket buffers: Node's defaults (werift has no option)",
    "t2/t3: descriptions passed in process, no separate trickle " +
      "(werift's setLocalDescription waits for gathering, so each description carries all candidates)",
  ].join("; ");
  return { text, peer, pair, seesPeerClose: false, finish: async () => {} };
}

// --- libdatachannel (node-datachannel, native API) ----------------------------------------------

function ndcStack(bind) {
  const require = createRequire(join(INTEROP, "libdatachannel", "package.json"));
  const ndc = require("node-datachannel");
  const version = packageVersion("libdatachannel", "node-datachannel");

  // No iceServers: libdatachannel gathers host candidates only; with bindAddress, libjuice binds
  // that address alone. No ICE-TCP, no UDP mux (defaults, spelled out).
  const config = {
    iceServers: [],
    maxMessageSize: MAX_MESSAGE_SIZE,
    enableIceTcp: false,
    enableIceUdpMux: false,
    ...(bind && { bindAddress: bind }),
  };

  const wrapChannel = (dc) => {
    const ch = new Channel();
    ch.dc = dc; // keep the native object reachable
    dc.onMessage((m) => ch.deliver(m));
    if (dc.isOpen()) ch.markOpen();
    else dc.onOpen(() => ch.markOpen());
    Object.assign(ch, {
      send: (buf) => dc.sendMessageBinary(buf),
      buffered: () => dc.bufferedAmount(),
      setLowThreshold: (n) => dc.setBufferedAmountLowThreshold(n),
      onLow: (fn) => dc.onBufferedAmountLow(fn),
      onClose: (fn) => dc.onClosed(fn),
    });
    return ch;
  };

  // Every connection reports its state from the start, so that a close that happens on its own
  // (the peer went away) is not missed; close() resolves once the state is closed.
  let peers = 0;
  function newPc() {
    const pc = new ndc.PeerConnection(`pc${++peers}`, config);
    const closed = deferred();
    pc.onStateChange((s) => s === "closed" && closed.resolve());
    pc.closed = closed.promise;
    return pc;
  }

  function closePc(pc) {
    if (!pc.closeCalled) {
      pc.closeCalled = true;
      pc.close();
    }
    return pc.closed;
  }

  // libdatachannel 0.24.5 race (seen here in about 1 of 10 t1 runs on the busy 2-core machine):
  // the offerer's setRemoteDescription(answer) gives the ICE agent the remote credentials before
  // it keeps the description. If the answerer is already sending connectivity checks, ICE and the
  // DTLS handshake can complete in between, and the fingerprint check finds no remote description:
  // "DTLS alert: unknown CA", the connection fails. So the answerer must not send checks before the
  // offerer has taken the answer: in t1 it is not given the offer's candidates (it learns the
  // offerer's address as a peer-reflexive candidate from the offerer's first check), in t2/t3
  // the candidates are handed over once the offerer has taken the answer. Connection setup only;
  // nothing after the channel opens changes.
  // Not worked around: when the DTLS client's (answerer's) ICE completes first, its ClientHello
  // reaches the offerer while DtlsTransport::start() has registered for incoming data but not yet
  // set the DTLS MTU; that flight is lost and OpenSSL retransmits after 1 s. In t2 about a third
  // of the connections take that extra second; it is libdatachannel's own behaviour, so it stays.
  const withoutCandidates = (sdp) =>
    sdp
      .split("\r\n")
      .filter((l) => !l.startsWith("a=candidate:") && l !== "a=end-of-candidates")
      .join("\r\n");

  // t1: non-trickle; libdatachannel negotiates automatically (the offer follows createDataChannel,
  // the answer follows setRemoteDescription) and localDescription() holds the gathered candidates.
  function peer() {
    const pc = newPc();
    const gathered = deferred();
    const incoming = deferred();
    pc.onGatheringStateChange((s) => s === "complete" && gathered.resolve());
    pc.onDataChannel((dc) => incoming.resolve(wrapChannel(dc)));
    return {
      // Reliable and ordered by default.
      createChannel: (label) => wrapChannel(pc.createDataChannel(label)),
      incomingChannel: () => incoming.promise.then((ch) => ch.opened),
      async localDescription() {
        if (pc.gatheringState() !== "complete") await gathered.promise;
        const { type, sdp } = pc.localDescription();
        return { type, sdp };
      },
      setRemote: ({ type, sdp }) =>
        pc.setRemoteDescription(type === "offer" ? withoutCandidates(sdp) : sdp, type),
      close: () => closePc(pc),
    };
  }

  // In-process pair with trickle: each description goes to the other side as soon as
  // libdatachannel emits it; candidates, both ways, once the offerer has taken the answer (see
  // the race above), then one by one as they come.
  function pair() {
    const a = newPc();
    const b = newPc();
    const p = { sides: 0 };
    // An exception thrown out of a native callback aborts the process: log it instead, and the
    // pair will not open (a failure for t2/t3).
    const guarded = (fn) => (...cbArgs) => {
      try {
        fn(...cbArgs);
      } catch (e) {
        log(`signaling: ${e.message}`);
      }
    };
    let held = [];
    const candidate = (to) =>
      guarded((c, mid) => (held ? held.push([to, c, mid]) : to.addRemoteCandidate(c, mid)));
    a.onLocalCandidate(candidate(b));
    b.onLocalCandidate(candidate(a));
    a.onLocalDescription(guarded((sdp, type) => b.setRemoteDescription(sdp, type)));
    b.onLocalDescription(
      guarded((sdp, type) => {
        const queued = held;
        held = null;
        a.setRemoteDescription(sdp, type);
        for (const [to, c, mid] of queued) to.addRemoteCandidate(c, mid);
      }),
    );
    const incoming = deferred();
    b.onDataChannel((dc) => incoming.resolve(wrapChannel(dc)));
    const openB = incoming.promise.then((ch) => ch.opened).then(() => p.sides++);
    const chA = wrapChannel(a.createDataChannel("t2"));
    const openA = chA.opened.then(() => p.sides++);
    p.opened = Promise.all([openA, openB]);
    // Keep both channels' native objects reachable while the pair lives (t3 holds pairs idle).
    p.channels = [chA, incoming.promise];
    p.close = () => Promise.all([closePc(a), closePc(b)]);
    return p;
  }

  const text = [
    `libdatachannel ${ndc.getLibraryVersion()} via node-datachannel ${version}, native API ` +
      `(not the W3C polyfill), on Node ${process.version}`,
    `host candidates only: ${bind ? `bindAddress ${bind}` : "all host addresses"}, ` +
      "no ICE-TCP, no UDP mux, no STUN/TURN, no mDNS",
    `local max-message-size ${MAX_MESSAGE_SIZE} (libdatachannel default)`,
    "MTU 1280 (libdatachannel default, SCTP path MTU discovery off); " +
      "SCTP send/receive buffers 1 MiB (libdatachannel default); UDP socket buffers: libjuice's (not exposed)",
    "t1: the answerer applies the offer without its candidates and learns the offerer's address " +
      "from its first check (peer-reflexive); t2/t3: trickle in process, candidates (both ways) handed over " +
      "once the offerer has applied the answer; both so that no check reaches the offerer before it keeps " +
      "the answer (libdatachannel 0.24.5 otherwise fails the DTLS fingerprint check in about 1 of 10 connections here)",
  ].join("; ");
  return { text, peer, pair, seesPeerClose: true, finish: async () => ndc.cleanup() };
}

// --- modes -------------------------------------------------------------------------------------

async function t1(stack) {
  const role = args.role;
  if (role !== "offerer" && role !== "answerer") die("--role offerer|answerer is required for t1");
  const total = intArg("bytes");
  const msgSize = intArg("msg-size");
  const high = intArg("high");
  const low = intArg("low", 0);
  const next = stdinMessages();
  const peer = stack.peer();

  if (role === "offerer") {
    // Sender. Message k is a view of `pattern` starting at k & 0xff, so its byte 0 is k & 0xff
    // and no message is generated or copied here (the stacks may keep the views they are given).
    const pattern = Buffer.allocUnsafe(msgSize + 256);
    for (let i = 0; i < pattern.length; ++i) pattern[i] = i & 0xff;
    const ch = peer.createChannel("t1");
    emit(await peer.localDescription());
    await peer.setRemote(await next("answer"));
    await ch.opened;
    const cpu0 = ch.openCpu;
    let sent = 0;
    let k = 0;
    await new Promise((resolve) => {
      const pump = () => {
        while (sent < total && ch.buffered() + msgSize <= high) {
          const len = Math.min(msgSize, total - sent);
          const off = k & 0xff;
          ch.send(pattern.subarray(off, off + len));
          sent += len;
          ++k;
        }
        if (sent >= total) resolve();
      };
      ch.setLowThreshold(low);
      ch.onLow(pump);
      pump();
    });
    log(`queued ${sent} bytes in ${k} messages; waiting for "done"`);
    await next("done");
    emit({ type: "result", role: "sender", cpu_seconds: cpuSecondsSince(cpu0) });
  } else {
    // Receiver.
    const channel = peer.incomingChannel();
    await peer.setRemote(await next("offer"));
    emit(await peer.localDescription());
    const ch = await channel;
    const { openAt, openCpu: cpu0 } = ch;
    const closed = new Promise((r) => ch.onClose(r));
    const r = await new Promise((resolve) => {
      let bytes = 0;
      let k = 0;
      let ok = true;
      let first = 0n;
      ch.onMessage((buf) => {
        const now = process.hrtime.bigint();
        if (k === 0) first = now;
        if (buf.length === 0 || buf[0] !== (k & 0xff)) ok = false;
        ++k;
        bytes += buf.length;
        if (bytes >= total) {
          const cpu = cpuSecondsSince(cpu0);
          resolve({ bytes, k, ok: ok && bytes === total, first, last: now, cpu });
        }
      });
    });
    emit({
      type: "result",
      role: "receiver",
      bytes: r.bytes,
      messages: r.k,
      seconds: Number(r.last - r.first) / 1e9,
      open_to_done_seconds: Number(r.last - openAt) / 1e9,
      cpu_seconds: r.cpu,
      ok: r.ok,
    });
    // Let the sender go away first (its channel closing), at most 5 s. werift's close() tells the
    // peer nothing (no SCTP ABORT/SHUTDOWN, no DTLS close_notify), so a werift receiver just exits.
    if (stack.seesPeerClose) {
      await withTimeout(closed, 5000, "the sender to close").catch(() => log("sender still there after 5 s"));
    }
  }
  await withTimeout(peer.close(), 5000, "the connection to close").catch((e) => log(e.message));
}

async function t2(stack) {
  const runs = intArg("runs");
  const ms = [];
  let failures = 0;
  for (let i = 0; i <= runs; ++i) {
    const warmup = i === 0;
    const t0 = performance.now();
    const p = stack.pair();
    try {
      await withTimeout(p.opened, OPEN_TIMEOUT_MS, "both channels to open");
      if (!warmup) ms.push(performance.now() - t0);
    } catch (e) {
      log(`${warmup ? "warm-up" : `run ${i}`}: ${e.message}`);
      if (!warmup) ++failures;
    }
    await withTimeout(p.close(), OPEN_TIMEOUT_MS, "both connections to close").catch((e) => log(e.message));
  }
  emit({ type: "result", ms, failures });
}

async function t3(stack) {
  const connections = intArg("connections", 2);
  if (connections % 2) die("--connections must be even (C/2 pairs)");
  const warm = stack.pair();
  await withTimeout(warm.opened, OPEN_TIMEOUT_MS, "the warm-up pair to open");
  await withTimeout(warm.close(), OPEN_TIMEOUT_MS, "the warm-up pair to close");
  await sleep(1000);
  const rssBefore = rssBytes();
  const pairs = [];
  const started = performance.now();
  // Pairs are connected T3_BATCH at a time: libdatachannel often takes a 1 s DTLS retransmission
  // to connect here (see the t2 figures), which sequentially would make 500 pairs take minutes.
  for (let i = 0; i < connections / 2; i += T3_BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(i + T3_BATCH, connections / 2); ++j) {
      const p = stack.pair();
      pairs.push(p);
      batch.push(withTimeout(p.opened, OPEN_TIMEOUT_MS, `pair ${j} to open`).catch((e) => log(e.message)));
    }
    await Promise.all(batch);
    if (pairs.length % 100 === 0) {
      log(`${pairs.length} pairs up after ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  }
  const connected = pairs.reduce((n, p) => n + p.sides, 0);
  await sleep(2000);
  const rssAfter = rssBytes();
  emit({
    type: "result",
    connections,
    connected,
    rss_before: rssBefore,
    rss_after: rssAfter,
    bytes_per_connection: (rssAfter - rssBefore) / connections,
  });
  const t = performance.now();
  await withTimeout(Promise.all(pairs.map((p) => p.close())), 60_000, "all connections to close").catch((e) =>
    log(e.message),
  );
  log(`closed ${pairs.length} pairs in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

// --- main --------------------------------------------------------------------------------------

const STACKS = { werift: weriftStack, ndc: ndcStack };
const MODES = { t1, t2, t3 };
if (!STACKS[args.stack]) die("--stack werift|ndc is required");
if (!MODES[args.mode]) die("--mode t1|t2|t3 is required");
const timeoutS = Number(args.timeout);
if (!(timeoutS > 0)) die(`--timeout must be a positive number of seconds (got ${args.timeout})`);
// Every wait is bounded by the whole run's timeout.
setTimeout(() => die(`timeout: the run took longer than ${timeoutS} s`), timeoutS * 1000);
process.on("unhandledRejection", (e) => die(e));

const stack = STACKS[args.stack](args.bind);
emit({ type: "config", text: stack.text });
log(stack.text);
try {
  await MODES[args.mode](stack);
  await stack.finish();
} catch (e) {
  die(e);
}
process.exit(0);
