// Shared by the Node interop harnesses that drive examples/echo_server (our PeerConnection) over
// its JSON lines on stdin/stdout (see examples/echo_server.cc):
//   ../chromium/chromium_interop.mjs, ../firefox/firefox_interop.mjs  (browser; page.html here)
//   ../werift/werift_interop.mjs                                     (werift in Node)
// Plain ES module, Node's standard library only (each harness keeps its own node_modules).
//
// Here: the test messages and their SHA-256, the echo_server child, the two network namespaces of
// the browser tests, the browser test itself once a page is loaded, and the command-line
// boilerplate. What stays in a harness is how its foreign peer is started and driven.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

// How long each step (description, channel open, all echoes) may take; echo_server gets 10 s more.
export const TIMEOUT_MS = 40_000;
// Message sizes, each sent once as binary and once as text (werift leaves out 0 B).
export const MESSAGE_SIZES = [0, 1, 1024, 16 * 1024, 64 * 1024];
// The browser tests' addresses (TEST-NET-2): echo_server's namespace and the browser's.
export const OUR_IP = "198.51.100.1";
export const BROWSER_IP = "198.51.100.2";
// The browser side of the browser tests, loaded from file://.
export const PAGE_URL = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), "page.html")).href;

export const fail = (msg) => {
  throw new Error(msg);
};

// Polls `pred` (sync or async) every 50 ms until it holds; rejects after ms.
export async function waitUntil(pred, ms, what) {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timeout after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// --- messages --------------------------------------------------------------------------------
// A message is a string (text) or a Buffer / Uint8Array (binary), or, in the page's wire form,
// {t:"text", d:string} or {t:"binary", d:base64}. digest() and describe() take either form.

// A string whose UTF-8 encoding is exactly n bytes, mixing 1- to 4-byte code points.
export function textOfBytes(n, seed) {
  const units = ["a", "\u00e9", "\u20ac", "\u{1F600}", String.fromCharCode(0x30 + (seed % 10))];
  let s = "";
  let bytes = 0;
  for (let k = 0; bytes < n; ++k) {
    const u = units[(k + seed) % units.length];
    const len = Buffer.byteLength(u);
    if (bytes + len > n) {
      s += "z".repeat(n - bytes);
      bytes = n;
    } else {
      s += u;
      bytes += len;
    }
  }
  return s;
}

// For every size (seeded by its index): a binary message, then a text message of that many bytes.
export function payloads(sizes) {
  const out = [];
  sizes.forEach((n, i) => {
    const b = Buffer.alloc(n);
    for (let k = 0; k < n; ++k) b[k] = (i * 31 + k * 7) & 0xff;
    out.push(b);
    out.push(textOfBytes(n, i));
  });
  return out;
}

// A message in the page's wire form.
export const toPageForm = (m) =>
  typeof m === "string" ? { t: "text", d: m } : { t: "binary", d: Buffer.from(m).toString("base64") };

function decode(m) {
  if (typeof m === "string") return { text: true, body: Buffer.from(m, "utf8") };
  if (m instanceof Uint8Array) return { text: false, body: Buffer.from(m) };
  return m.t === "text" ? { text: true, body: Buffer.from(m.d, "utf8") } : { text: false, body: Buffer.from(m.d, "base64") };
}

// SHA-256 over the sequence, each message tagged with its type ("T"/"B") and 64-bit length.
export function digest(messages) {
  const h = createHash("sha256");
  for (const m of messages) {
    const { text, body } = decode(m);
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(body.length));
    h.update(text ? "T" : "B").update(len).update(body);
  }
  return h.digest("hex");
}

export const describe = (messages) =>
  messages
    .map(decode)
    .map(({ text, body }) => `${text ? "T" : "B"}${body.length}`)
    .join(",");

// Fails unless the echoes carry the digest of what was sent; logs the echoes otherwise.
export function checkEchoes(sent, echoes) {
  if (digest(sent) !== digest(echoes)) {
    fail(`echo digest mismatch: sent ${describe(sent)} got ${describe(echoes)}`);
  }
  console.log(`${echoes.length} messages echoed (${describe(echoes)}), sha256 ${digest(echoes)}`);
}

// --- echo_server -----------------------------------------------------------------------------

// examples/echo_server as a child process: JSON lines on stdin/stdout.
//   bind:          its --bind address
//   offer:         it offers (--offer) instead of answering
//   netns:         run it in this network namespace (ip netns exec)
//   captureStderr: keep its log in .log (selectedRemote() and the failure dump read it) instead
//                  of passing it through
//   rejectOnError: an {"event":"error"} line fails every pending next()
// Every error event's message is kept in .errors.
export class EchoServer {
  constructor(binary, { bind, offer = false, netns = null, captureStderr = false, rejectOnError = false, publishMdns = false }) {
    const args = ["--bind", bind, "--timeout", String(TIMEOUT_MS / 1000 + 10)];
    if (offer) args.push("--offer");
    if (publishMdns) args.push("--publish-mdns");
    const stdio = ["pipe", "pipe", captureStderr ? "pipe" : "inherit"];
    this.proc = netns ? spawn("ip", ["netns", "exec", netns, binary, ...args], { stdio }) : spawn(binary, args, { stdio });
    this.rejectOnError = rejectOnError;
    this.waiters = new Map();
    this.lines = [];
    this.errors = [];
    this.log = [];
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => resolve({ code, signal })));
    this.exited.then(({ code }) => {
      for (const [, w] of this.waiters) w.reject(new Error(`echo_server exited (code ${code})`));
    });
    createInterface({ input: this.proc.stdout }).on("line", (line) => this.onLine(line));
    if (captureStderr) createInterface({ input: this.proc.stderr }).on("line", (line) => this.log.push(line));
  }
  onLine(line) {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    console.log("echo_server:", line.length > 200 ? line.slice(0, 200) + "..." : line);
    if (msg.event === "error") {
      this.errors.push(msg.message);
      if (this.rejectOnError) for (const [, w] of this.waiters) w.reject(new Error("echo_server: " + msg.message));
    }
    const w = this.waiters.get(msg.type);
    if (w) {
      this.waiters.delete(msg.type);
      w.resolve(msg);
    } else {
      this.lines.push(msg);
    }
  }
  // The first line of this type ("offer", "answer") not taken yet, received already or next;
  // it is taken (a later call gets the one after it).
  next(type) {
    const at = this.lines.findIndex((m) => m.type === type);
    if (at >= 0) return Promise.resolve(this.lines.splice(at, 1)[0]);
    return new Promise((resolve, reject) => this.waiters.set(type, { resolve, reject }));
  }
  send(obj) {
    this.proc.stdin.write(JSON.stringify(obj) + "\n");
  }
  // Our selected remote candidate {type, address "IP:PORT"} (needs captureStderr), or null.
  selectedRemote() {
    // runtime log line "pc: selected pair TYPE IP:PORT -> TYPE IP:PORT" (src/runtime/peer_connection.cc)
    const line = this.log.find((l) => l.includes("selected pair"));
    if (!line) return null;
    const [type, address] = line.split(" -> ").pop().trim().split(" ");
    return { type, address };
  }
  dumpLog() {
    console.error("echo_server log (last 40 lines):\n  " + this.log.slice(-40).join("\n  "));
  }
}

// --- network namespaces (browser tests; root) ------------------------------------------------

const ip = (...args) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] }).toString();

function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

function deleteNamespace(ns) {
  try {
    const pids = ip("netns", "pids", ns).split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    ip("netns", "del", ns);
  } catch {}
}

// netns <tag><pid>b: the browser, veth <tag><pid>v0 BROWSER_IP/24, default route via OUR_IP
// netns <tag><pid>e: echo_server, veth <tag><pid>v1 OUR_IP/24 (forwarding off)
// The tag tells the harnesses' namespaces apart ("plcr" Chromium, "plff" Firefox).
export class Topology {
  constructor(tag) {
    this.tag = tag;
    this.prefix = `${tag}${process.pid}`;
    this.browserNs = `${this.prefix}b`;
    this.echoNs = `${this.prefix}e`;
    this.echoIface = `${this.prefix}v1`;  // echo_server's end of the veth pair
  }
  // Namespaces of earlier runs that were killed (e.g. by a ctest timeout) before cleaning up.
  static removeStale(tag) {
    let names = [];
    try {
      names = readdirSync("/var/run/netns");
    } catch {}
    const re = new RegExp(`^${tag}(\\d+)[be]$`);
    for (const ns of names) {
      const m = re.exec(ns);
      if (m && Number(m[1]) !== process.pid && !processAlive(Number(m[1]))) deleteNamespace(ns);
    }
  }
  up() {
    const { browserNs: b, echoNs: e, prefix: p } = this;
    ip("netns", "add", b);
    ip("netns", "add", e);
    ip("link", "add", `${p}v0`, "netns", b, "type", "veth", "peer", "name", `${p}v1`, "netns", e);
    ip("-n", b, "link", "set", "lo", "up");
    ip("-n", e, "link", "set", "lo", "up");
    ip("-n", b, "addr", "add", `${BROWSER_IP}/24`, "dev", `${p}v0`);
    ip("-n", e, "addr", "add", `${OUR_IP}/24`, "dev", `${p}v1`);
    ip("-n", b, "link", "set", `${p}v0`, "up");
    ip("-n", e, "link", "set", `${p}v1`, "up");
    ip("-n", b, "route", "add", "default", "via", OUR_IP);
  }
  down() {
    deleteNamespace(this.browserNs);
    deleteNamespace(this.echoNs);
  }
}

// A WireTrace.dump filter: the lines to or from `ip` on a port of the a=candidate lines of `sdps`
// (our peer's descriptions).
export function portsFilter(sdps, ip) {
  const ports = sdps.flatMap((sdp) =>
    sdp
      .split(/\r?\n/)
      .filter((l) => l.startsWith("a=candidate:"))
      .map((l) => l.split(" ")[5]),
  );
  return (line) => ports.some((p) => line.includes(`${ip}:${p}-`) || line.includes(`${ip}:${p} `));
}

// The STUN messages on one interface of a namespace (tests/interop/loopback_trace.py --stun-only,
// root), kept in memory: dump() prints the tail when a test fails, so that an ICE failure in CI
// shows who checked whom, with which ufrag, role and nomination. A trace that cannot start
// (no python3) says so in the dump and does not fail the test. netns null: the current
// namespace (on `lo`, where parallel tests also talk: dump's filter picks one test's lines, e.g.
// by echo_server's ports).
export class WireTrace {
  constructor(netns, iface) {
    const script = join(dirname(fileURLToPath(import.meta.url)), "..", "loopback_trace.py");
    this.lines = [];
    const cmd = ["python3", script, "--iface", iface, "--stun-only"];
    this.proc = netns
      ? spawn("ip", ["netns", "exec", netns, ...cmd], { stdio: ["ignore", "pipe", "pipe"] })
      : spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let started;
    const ready = new Promise((resolve) => (started = resolve));
    this.proc.on("error", (e) => {
      this.lines.push(`(wire trace did not start: ${e.message})`);
      started();
    });
    this.proc.on("exit", started);
    const keep = (line) => {
      this.lines.push(line);
      if (this.lines.length > 4000) this.lines.splice(0, 1000);
    };
    createInterface({ input: this.proc.stdout }).on("line", keep);
    createInterface({ input: this.proc.stderr }).on("line", (l) => {
      keep("trace: " + l);
      started();
    });
    // Resolves once the sniffer captures (its first stderr line), it failed, or after 5 s.
    this.ready = withTimeout(ready, 5000, "the wire trace to start").catch(() => {});
  }
  dump(n = 120, filter = () => true) {
    const lines = this.lines.filter((l) => l.startsWith("(") || l.startsWith("trace: ") || filter(l));
    console.error(`wire trace, STUN only (last ${Math.min(n, lines.length)} of ${lines.length} lines):\n  ` +
      lines.slice(-n).join("\n  "));
  }
  stop() {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
  }
}

// --- the browser test ------------------------------------------------------------------------

// Runs the browser test on a fresh page (Playwright's or puppeteer's: both offer exposeFunction,
// goto and evaluate(fn, arg)) against `server` (an EchoServer with captureStderr, bound to OUR_IP):
// signalling in `role` (OUR peer's), the echo of every message, the selected pair on both sides,
// the candidates `mdns` mode implies, and that the browser's close() closes our peer.
//   mdns: the browser signals only .local host candidates; our peer must resolve every name to
//         the browser's address over mDNS (it may still select the browser as prflx).
//         forwardEndOfCandidates says whether the browser's end-of-candidates goes to our peer.
//   else: the browser must signal a raw host candidate BROWSER_IP.
//   publishMdns: our peer runs with --publish-mdns: every candidate in its descriptions must be a
//         .local name, and the browser must have resolved one (our responder logs each query it
//         answers; nobody else in the two namespaces asks for our names).
export async function runBrowserEcho({ page, server, role, mdns, forwardEndOfCandidates, label, publishMdns = false }) {
  const ourSdps = [];
  // Browser candidates go to echo_server once it holds the browser's description.
  const browserCandidates = [];
  let queue = [];
  let remoteSet = false;
  await page.exposeFunction("harnessCandidate", (c) => {
    browserCandidates.push(c.candidate);
    console.log("browser candidate:", c.candidate || "(end)");
    if (!c.candidate && !forwardEndOfCandidates) return;
    const line = { candidate: c.candidate, sdpMid: c.sdpMid ?? "0" };
    if (remoteSet) server.send(line);
    else queue.push(line);
  });
  const flush = () => {
    remoteSet = true;
    for (const line of queue) server.send(line);
    queue = [];
  };
  await page.goto(PAGE_URL);

  if (role === "answerer") {
    const offer = await page.evaluate(() => window.peer.offer());
    server.send({ type: "offer", sdp: offer });
    flush();
    const answer = await withTimeout(server.next("answer"), TIMEOUT_MS, "echo_server's answer");
    ourSdps.push(answer.sdp);
    await page.evaluate((sdp) => window.peer.acceptAnswer(sdp), answer.sdp);
  } else {
    const offer = await withTimeout(server.next("offer"), TIMEOUT_MS, "echo_server's offer");
    ourSdps.push(offer.sdp);
    const answer = await page.evaluate((sdp) => window.peer.answer(sdp), offer.sdp);
    server.send({ type: "answer", sdp: answer });
    flush();
  }
  const channel = await page.evaluate((ms) => window.peer.waitOpen(ms), TIMEOUT_MS);
  console.log(`channel '${channel.label}' open (our peer: ${role}, browser: ${label})`);
  if (channel.ordered !== true || channel.maxRetransmits !== null || channel.maxPacketLifeTime !== null) {
    fail("channel is not reliable and ordered: " + JSON.stringify(channel));
  }

  const sent = payloads(MESSAGE_SIZES).map(toPageForm);
  const echoes = await page.evaluate(([m, ms]) => window.peer.echo(m, ms), [sent, TIMEOUT_MS]);
  checkEchoes(sent, echoes);

  // The path, as each side sees it.
  const pair = await page.evaluate(() => window.peer.selectedPair());
  console.log("browser's selected pair:", JSON.stringify(pair));
  if (publishMdns) {
    // Chromium reports a remote candidate it resolved from a .local name with an empty address
    // (and type host); the port must be our socket's.
    const socket = server.log.find((l) => l.includes("pc: host socket "));
    const ourPort = socket ? Number(socket.split("pc: host socket ")[1].split(" ")[0].split(":").pop()) : -1;
    if (!pair || pair.remote.port !== ourPort || !["", OUR_IP].includes(pair.remote.address)) {
      fail("browser's selected pair does not lead to echo_server (port " + ourPort + ")");
    }
  } else if (!pair || pair.remote.address !== OUR_IP) {
    fail("browser's selected pair does not lead to echo_server");
  }
  const ourRemote = server.selectedRemote();
  console.log("our selected remote:", JSON.stringify(ourRemote));
  if (!ourRemote || !ourRemote.address.startsWith(BROWSER_IP + ":")) fail("our selected pair does not lead to the browser");
  const signalled = browserCandidates.filter(Boolean);
  if (mdns) {
    // Every browser candidate was a .local name. Our peer resolves each with an mDNS query (the
    // browser answers it); the browser's checks may have taught it the address first, as
    // peer-reflexive, so either type may be selected - but every name must resolve to the browser.
    const names = [...new Set(signalled.map((c) => c.split(" ")[4]))];
    if (!names.length || !names.every((n) => n.endsWith(".local"))) {
      fail("expected only mDNS (.local) host candidates from the browser, got " + JSON.stringify(signalled));
    }
    if (!["prflx", "host"].includes(ourRemote.type)) fail("unexpected selected remote type " + ourRemote.type);
    const resolution = (n) => server.log.find((l) => l.includes(`pc: mdns: resolved ${n} -> `));
    const waited = Date.now();
    await waitUntil(() => names.every(resolution), 10_000, "echo_server to resolve the browser's .local names");
    for (const n of names) {
      const line = resolution(n);
      if (!line.endsWith(`-> ${BROWSER_IP}`)) fail("mDNS resolved to the wrong address: " + line);
    }
    console.log(
      `browser signalled only .local candidates; our peer resolved ${names.join(", ")} -> ${BROWSER_IP} ` +
        `(waited ${Date.now() - waited} ms after the echo) and selected ${ourRemote.address} as ${ourRemote.type}`,
    );
  } else if (!signalled.some((c) => c.split(" ")[4] === BROWSER_IP)) {
    fail("expected a raw host candidate " + BROWSER_IP + " from the browser, got " + JSON.stringify(signalled));
  }
  if (publishMdns) {
    const ours = ourSdps.flatMap((sdp) => sdp.split(/\r?\n/).filter((l) => l.startsWith("a=candidate:")));
    const hosts = ours.map((l) => l.split(" ")[4]);
    if (!hosts.length || !hosts.every((h) => h.endsWith(".local"))) {
      fail("expected only .local candidates from our peer, got " + JSON.stringify(ours));
    }
    const answered = () => server.log.find((l) => l.includes("mdns: answered a query for a published name"));
    await waitUntil(answered, 10_000, "the browser to query our .local name");
    console.log(`our peer signalled only ${[...new Set(hosts)].join(", ")}; the browser asked for it: ${answered()}; ` +
      `browser's selected remote: ${pair.remote.type} ${pair.remote.address}`);
  }
  if (server.errors.length) fail("echo_server reported: " + server.errors.join("; "));

  await runChannelMatrix(pageDriver(page), server);
  await runIceRestarts(pageRestartDriver(page), server, {
    hold: () => (remoteSet = false),
    release: flush,
    other: "browser",
    initiators: ["our peer", "browser", "browser, candidates in its offer"],
  });

  // Closing in the browser must close our peer: echo_server exits 0 once its connection closed.
  await page.evaluate(() => window.peer.close());
  server.proc.stdin.end();
  const exit = await withTimeout(server.exited, 15_000, "echo_server to exit after the browser closed");
  console.log(`echo_server exited with code ${exit.code}`);
  if (exit.code !== 0) fail(`echo_server exited with ${exit.code ?? exit.signal}, not 0 (closed)`);
}

// The ICE-restart driver of a browser page (page.html's window.peer).
export function pageRestartDriver(page) {
  return {
    ufrags: () => page.evaluate(() => window.peer.ufrags()),
    answerRestart: (sdp) => page.evaluate((s) => window.peer.answerRestart(s), sdp),
    offerRestart: (withCandidates) => page.evaluate((w) => window.peer.offerRestart(w), withCandidates),
    acceptAnswer: (sdp) => page.evaluate((s) => window.peer.acceptAnswer(s), sdp),
    waitIceConnected: (ms) => page.evaluate((t) => window.peer.waitIceConnected(t), ms),
    echoOne: (text, ms) => page.evaluate(([t, m]) => window.peer.echoOne(t, m), [text, ms]),
  };
}

// An ICE restart from our peer ({"restart":true}: its new offer, the other peer answers), then
// one from the other peer (restartIce() and its offer, our peer answers), through `driver`
// (pageRestartDriver's methods). After each, both ufrags must have changed (ours never to one
// used before), the other peer's ICE must be connected and a message on its first channel must
// come back. hold()/release() gate the other peer's trickled candidates so that they reach our
// peer after the description they belong to; `other` names it in the output; `initiators`
// (default both) says whose restarts run. An initiator "<other>, candidates in its offer" is a
// restart by the other peer whose offer waits for its first new candidate
// (driver.offerRestart(true)): our peer then checks that candidate while the other peer, without
// our answer yet, checks our old candidates with its new ufrag (Chromium does), the race that
// once left our peer with no new pair.
export async function runIceRestarts(driver, server, { hold, release, other, initiators = ["our peer", other] }) {
  const ufrag = (sdp) => /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1];
  const ours = new Set([(await driver.ufrags()).remote]);  // every ufrag of ours so far
  // Our peer logs "pc: selected pair ..." for each pair it selects (needs captureStderr): a
  // restart must end with a pair of the new generation selected, not the old path kept.
  const selections = () => server.log.filter((l) => l.includes("selected pair")).length;
  for (const by of initiators) {
    const before = await driver.ufrags();
    const selected = selections();
    hold();
    if (by === "our peer") {
      server.send({ restart: true });
      const offer = await withTimeout(server.next("offer"), TIMEOUT_MS, "echo_server's ICE restart offer");
      if (ours.has(ufrag(offer.sdp))) fail("our peer's restart offer reuses a ufrag: " + ufrag(offer.sdp));
      ours.add(ufrag(offer.sdp));
      const answer = await driver.answerRestart(offer.sdp);
      server.send({ type: "answer", sdp: answer });
    } else {
      const withCandidates = by.endsWith("candidates in its offer");
      const offer = await driver.offerRestart(withCandidates);
      if (withCandidates && !/^a=candidate:/m.test(offer)) fail(`${other}'s restart offer carries no candidate`);
      server.send({ type: "offer", sdp: offer });
      const answer = await withTimeout(server.next("answer"), TIMEOUT_MS, "echo_server's answer to the restart");
      if (ours.has(ufrag(answer.sdp))) fail("our peer answered the browser's ICE restart with an old ufrag: " + ufrag(answer.sdp));
      ours.add(ufrag(answer.sdp));
      await driver.acceptAnswer(answer.sdp);
    }
    release();
    const after = await driver.ufrags();
    if (after.local === before.local || after.remote === before.remote) {
      fail(`ICE restart by ${by}: ufrags did not change: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
    }
    const state = await driver.waitIceConnected(TIMEOUT_MS);
    await waitUntil(() => selections() > selected, TIMEOUT_MS, `our peer to select a new pair after the restart by ${by}`);
    const text = `after the ICE restart by ${by}`;
    const echo = await driver.echoOne(text, TIMEOUT_MS);
    if (echo !== text) fail(`echo after the ICE restart by ${by}: ${JSON.stringify(echo)}`);
    console.log(
      `ice restart ok: by ${by}, ufrags ${other} ${before.local} -> ${after.local}, ours ${before.remote} -> ` +
        `${after.remote}, ${other} ICE ${state}, our peer selected a new pair, echo after it`,
    );
  }
  if (server.errors.length) fail("echo_server reported: " + server.errors.join("; "));
}

// --- the channel matrix (browser tests) -------------------------------------------------------

// Channels the browser opens on the connection after the first echo, each echoed by our peer:
// unordered and partially reliable (maxRetransmits 0, maxPacketLifeTime 100 ms) one after the
// other, then a channel negotiated out of band (our peer creates its side from a stdin command)
// and ten plain ones, all at once. Sizes: 0 B, 1 B, 16 KiB and 64 KiB, text and binary;
// "many-0" adds one binary message of the connection's largest size (pc.sctp.maxMessageSize:
// the smaller of both sides' a=max-message-size). Nothing may be lost. The partially reliable
// channels run alone because a burst from 13 channels at once can overflow the browser's UDP
// receive buffer on the veth, and a dropped packet is then, correctly, never retransmitted
// (seen with Chromium: 1-7 of 8 echoes missing on rexmit0/lifetime100 when run concurrently).
export const MATRIX_SIZES = [0, 1, 16 * 1024, 64 * 1024];
export const NEGOTIATED_ID = 200;
export const MATRIX_ALONE = [
  { label: "unordered", init: { ordered: false } },
  { label: "rexmit0", init: { maxRetransmits: 0 } },
  { label: "lifetime100", init: { maxPacketLifeTime: 100 } },
];
export const MATRIX_AT_ONCE = [
  { label: "negotiated", init: { negotiated: true, id: NEGOTIATED_ID } },
  ...Array.from({ length: 10 }, (_, i) => ({ label: `many-${i}`, init: {}, maxSize: i === 0 })),
];
export const MATRIX = [...MATRIX_ALONE, ...MATRIX_AT_ONCE];

// The message's digest alone, for comparing unordered echoes as a multiset.
const messageKey = (m) => digest([m]);

// The matrix driver of a browser page (page.html's window.peer).
export function pageDriver(page) {
  return {
    matrix: (specs, messages, ms, concurrent) =>
      page.evaluate(([s, m, t, c]) => window.peer.matrix(s, m, t, c), [specs, messages, ms, concurrent]),
    closeChannel: (label) => page.evaluate((l) => window.peer.closeChannel(l), label),
    waitClosed: (label, ms) => page.evaluate(([l, t]) => window.peer.waitClosed(l, t), [label, ms]),
  };
}

// Runs the matrix through `driver` (the foreign peer): matrix(specs, messages, ms, concurrent)
// opens the channels and returns {maxMessageSize, channels: {label: {id, ordered,
// maxRetransmits, maxPacketLifeTime, negotiated, echoes}}} (messages in page form; see
// page.html's matrix for the largest-size message), closeChannel(label), waitClosed(label, ms).
// `sizes` replaces MATRIX_SIZES; `maxSize: false` leaves out the largest-size message;
// `lifetimeMs` replaces lifetime100's 100 ms (its label stays).
export async function runChannelMatrix(driver, server, { sizes = MATRIX_SIZES, maxSize = true, lifetimeMs = 100 } = {}) {
  // Our side of the negotiated channel must exist before the browser sends on its stream.
  server.send({ negotiated: { label: "negotiated", id: NEGOTIATED_ID } });
  await waitUntil(
    () => server.lines.some((l) => l.event === "open" && l.label === "negotiated"),
    10_000,
    "our negotiated channel to open",
  );
  const sent = payloads(sizes).map(toPageForm);
  const atOnceSpecs = MATRIX_AT_ONCE.map((spec) => ({ ...spec, maxSize: maxSize && spec.maxSize }));
  const aloneSpecs = MATRIX_ALONE.map((spec) =>
    spec.init.maxPacketLifeTime ? { ...spec, init: { maxPacketLifeTime: lifetimeMs } } : spec,
  );
  const alone = await driver.matrix(aloneSpecs, sent, TIMEOUT_MS, false);
  const atOnce = await driver.matrix(atOnceSpecs, sent, TIMEOUT_MS, true);
  const result = { maxMessageSize: atOnce.maxMessageSize, channels: { ...alone.channels, ...atOnce.channels } };
  const ours = new Map(server.lines.filter((l) => l.event === "open").map((l) => [l.label, l]));
  const rows = [];
  for (const spec of [...aloneSpecs, ...atOnceSpecs]) {
    const got = result.channels[spec.label];
    const want = {
      ordered: spec.init.ordered ?? true,
      maxRetransmits: spec.init.maxRetransmits ?? null,
      maxPacketLifeTime: spec.init.maxPacketLifeTime ?? null,
      negotiated: spec.init.negotiated ?? false,
    };
    for (const [k, v] of Object.entries(want)) {
      if (got[k] !== v) fail(`${spec.label}: the browser's channel has ${k} ${got[k]}, expected ${v}`);
    }
    const mine = ours.get(spec.label);
    if (!mine) fail(`${spec.label}: our peer reported no open channel with that label`);
    for (const [k, v] of Object.entries(want)) {
      if (mine[k] !== v) fail(`${spec.label}: our channel has ${k} ${mine[k]}, expected ${v}`);
    }
    if (mine.id !== got.id) fail(`${spec.label}: stream id ${mine.id} here, ${got.id} in the browser`);
    // What the page sent on this channel (page.html: the big message's byte i is i*13 mod 256).
    const big = Buffer.alloc(result.maxMessageSize);
    for (let i = 0; i < big.length; ++i) big[i] = (i * 13) & 0xff;
    got.sent = spec.maxSize ? [...sent, toPageForm(big)] : sent;
    if (want.ordered) {
      if (digest(got.sent) !== digest(got.echoes)) {
        fail(`${spec.label}: echo mismatch: sent ${describe(got.sent)} got ${describe(got.echoes)}`);
      }
    } else {
      const a = got.sent.map(messageKey).sort().join();
      const b = got.echoes.map(messageKey).sort().join();
      if (a !== b) fail(`${spec.label}: echoes are not the sent messages (in any order): got ${describe(got.echoes)}`);
    }
    rows.push(`${spec.label.padEnd(12)} id ${String(got.id).padStart(3)}  ${got.echoes.length} echoes ok` +
      (spec.maxSize ? ` (incl. ${result.maxMessageSize} B)` : ""));
  }
  console.log("channel matrix (both sides agree on options and id; every echo verified):\n  " + rows.join("\n  "));

  // Close from either side: the browser closes many-3, our peer closes many-4.
  await driver.closeChannel("many-3");
  await waitUntil(
    () => server.lines.some((l) => l.event === "channel-closed" && l.label === "many-3"),
    10_000,
    "our peer to see many-3 closed by the browser",
  );
  server.send({ close: "many-4" });
  const state = await driver.waitClosed("many-4", 10_000);
  if (state !== "closed") fail("many-4 closed by our peer is " + state + " on the other side");
  console.log("channel close: other side -> our peer (many-3) and our peer -> other side (many-4) ok");
}

// --- command line ----------------------------------------------------------------------------

// Exits 2 (usage error, not a test result) unless every file is executable.
export function requireExecutables(files, hint = "") {
  for (const f of files) {
    try {
      accessSync(f, constants.X_OK);
    } catch {
      console.error(`not executable: ${f}${hint ? ` (${hint})` : ""}`);
      process.exit(2);
    }
  }
}

export function requireRoot() {
  if (process.getuid() !== 0) {
    console.error("needs root: the test creates its own network namespaces");
    process.exit(2);
  }
}

// Runs the test within ms: prints PASS and exits 0, or prints FAIL and exits 1.
export async function runTest(test, ms) {
  try {
    await withTimeout(test(), ms, "the whole test");
    console.log("PASS");
    process.exit(0);
  } catch (e) {
    console.error("FAIL:", e.message);
    process.exit(1);
  }
}
