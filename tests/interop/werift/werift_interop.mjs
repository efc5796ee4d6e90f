// Our PeerConnection (examples/echo_server) against werift (npm, pure TypeScript WebRTC), both roles.
//
//   node werift_interop.mjs ECHO_SERVER_BINARY offerer|answerer
//
// The role names OUR peer's role:
//   answerer: werift offers (with a reliable ordered channel "chat"), echo_server answers.
//   offerer:  echo_server offers (with its channel "echo"), werift answers.
// Both sides trickle: werift's candidates go to echo_server one JSON line each, followed by the
// end-of-candidates line; echo_server's description carries all of its candidates.
// werift then sends messages of 1 B, 1 KiB, 16 KiB and 64 KiB, text (multi-byte UTF-8) and
// binary (no 0 B, see SIZES); echo_server sends each back. The SHA-256 over all sent messages (in order, tagged with
// type and length) must equal the one over all echoes. Exit 0 on success.
//
// Network: loopback only. echo_server binds 127.0.0.1; werift gathers 127.0.0.1 too
// (iceAdditionalHostAddresses) and its other host candidates are neither signalled nor paired
// (iceFilterCandidatePair), and its STUN server is 127.0.0.1:9 (werift otherwise queries a public
// one by default), so no packet goes to an address other than 127.0.0.1.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants } from "node:fs";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// werift is resolved from this directory's node_modules (npm ci, pinned by package-lock.json).
const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), "package.json"));
const { RTCPeerConnection } = require("werift");

// No 0 B message: werift 0.24.4 sends none (no DATA chunk) yet consumes a stream sequence number,
// which stalls every later ordered message (docs/interop.md, "werift").
const SIZES = [1, 1024, 16 * 1024, 64 * 1024];
const TIMEOUT_MS = 40_000;
const LOOPBACK = "127.0.0.1";

function fail(msg) {
  throw new Error(msg);
}

// A string whose UTF-8 encoding is exactly n bytes, mixing 1- to 4-byte code points.
function textOfBytes(n, seed) {
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

function payloads() {
  const out = [];
  SIZES.forEach((n, i) => {
    const b = Buffer.alloc(n);
    for (let k = 0; k < n; ++k) b[k] = (i * 31 + k * 7) & 0xff;
    out.push(b);
    out.push(textOfBytes(n, i));
  });
  return out;
}

function digest(messages) {
  const h = createHash("sha256");
  for (const m of messages) {
    const isText = typeof m === "string";
    const body = isText ? Buffer.from(m, "utf8") : Buffer.from(m);
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(body.length));
    h.update(isText ? "T" : "B").update(len).update(body);
  }
  return h.digest("hex");
}

function describe(messages) {
  return messages.map((m) => (typeof m === "string" ? `T${Buffer.byteLength(m)}` : `B${m.length}`)).join(",");
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const isLoopbackCandidate = (cand) => cand.split(" ")[4] === LOOPBACK;

class EchoServer {
  constructor(binary, offer) {
    const args = ["--bind", LOOPBACK, "--timeout", String(TIMEOUT_MS / 1000 + 10)];
    if (offer) args.unshift("--offer");
    this.proc = spawn(binary, args, { stdio: ["pipe", "pipe", "inherit"] });
    this.waiters = new Map();
    this.lines = [];
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => resolve({ code, signal })));
    this.exited.then(({ code }) => {
      for (const [, w] of this.waiters) w.reject(new Error(`echo_server exited (code ${code})`));
    });
    createInterface({ input: this.proc.stdout }).on("line", (line) => this.onLine(line));
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
      this.error = msg.message;
      for (const [, w] of this.waiters) w.reject(new Error("echo_server: " + msg.message));
    }
    const w = this.waiters.get(msg.type);
    if (w) {
      this.waiters.delete(msg.type);
      w.resolve(msg);
    } else {
      this.lines.push(msg);
    }
  }
  next(type) {
    const early = this.lines.find((m) => m.type === type);
    if (early) return Promise.resolve(early);
    return new Promise((resolve, reject) => this.waiters.set(type, { resolve, reject }));
  }
  send(obj) {
    this.proc.stdin.write(JSON.stringify(obj) + "\n");
  }
}

// Forwards werift's trickled loopback candidates (and the end-of-candidates mark) to echo_server,
// holding them back until flush(): werift emits candidates while setLocalDescription runs, before
// echo_server has the description they belong to.
function trickle(pc, server) {
  let queue = [];
  pc.onIceCandidate.subscribe((c) => {
    let line;
    if (!c) {
      line = { candidate: "", sdpMid: "0" };
    } else {
      const json = c.toJSON();
      if (!isLoopbackCandidate(json.candidate)) return;
      line = { candidate: json.candidate, sdpMid: json.sdpMid ?? "0" };
    }
    if (queue) queue.push(line);
    else server.send(line);
  });
  return () => {
    for (const line of queue) server.send(line);
    queue = null;
  };
}

// Keeps only loopback a=candidate lines: werift's description also lists its other host addresses.
function loopbackOnly(sdp) {
  return sdp
    .split("\r\n")
    .filter((l) => !l.startsWith("a=candidate:") || isLoopbackCandidate(l.slice(2)))
    .join("\r\n");
}

async function exchange(channel) {
  const sent = payloads();
  const echoes = [];
  const done = new Promise((resolve) => {
    channel.onMessage.subscribe((m) => {
      echoes.push(typeof m === "string" ? m : Buffer.from(m));
      if (echoes.length === sent.length) resolve();
    });
  });
  for (const m of sent) channel.send(m);
  await withTimeout(done, TIMEOUT_MS, `${sent.length} echoes (got ${echoes.length})`);
  if (digest(sent) !== digest(echoes)) {
    fail(`echo digest mismatch: sent ${describe(sent)} got ${describe(echoes)}`);
  }
  console.log(`${echoes.length} messages echoed (${describe(echoes)}), sha256 ${digest(echoes)}`);
}

async function run(binary, role) {
  const server = new EchoServer(binary, role === "offerer");
  const pc = new RTCPeerConnection({
    // werift's ICE falls back to a public STUN server when none is configured (even with
    // iceServers: []); point it at the discard port on loopback so no request leaves the machine.
    iceServers: [{ urls: `stun:${LOOPBACK}:9` }],
    iceAdditionalHostAddresses: [LOOPBACK],
    iceUseIpv6: false,
    iceFilterCandidatePair: (pair) =>
      pair.localCandidate.host === LOOPBACK && pair.remoteCandidate.host === LOOPBACK,
  });
  try {
    let opened;
    if (role === "answerer") {
      const channel = pc.createDataChannel("chat", { ordered: true });
      opened = new Promise((resolve) => channel.stateChanged.subscribe((s) => s === "open" && resolve(channel)));
      const flush = trickle(pc, server);
      await pc.setLocalDescription(await pc.createOffer());
      server.send({ type: "offer", sdp: loopbackOnly(pc.localDescription.sdp) });
      flush();
      const answer = await withTimeout(server.next("answer"), TIMEOUT_MS, "echo_server's answer");
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    } else {
      opened = new Promise((resolve) =>
        pc.onDataChannel.subscribe((ch) => {
          if (ch.readyState === "open") resolve(ch);
          else ch.stateChanged.subscribe((s) => s === "open" && resolve(ch));
        }),
      );
      const offer = await withTimeout(server.next("offer"), TIMEOUT_MS, "echo_server's offer");
      await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
      const flush = trickle(pc, server);
      await pc.setLocalDescription(await pc.createAnswer());
      server.send({ type: "answer", sdp: loopbackOnly(pc.localDescription.sdp) });
      flush();
    }
    const channel = await withTimeout(opened, TIMEOUT_MS, "the data channel to open");
    if (channel.ordered === false) fail("channel is not ordered");
    console.log(`channel '${channel.label}' open (our peer: ${role})`);
    await exchange(channel);
    if (server.error) fail("echo_server reported: " + server.error);
  } finally {
    await pc.close().catch(() => {});
    server.proc.stdin.end();
    const exited = await withTimeout(server.exited, 5000, "echo_server to exit").catch(() => null);
    if (!exited) server.proc.kill("SIGKILL");
    else console.log(`echo_server exited with code ${exited.code}`);
  }
}

const [binary, role] = process.argv.slice(2);
if (!binary || !["offerer", "answerer"].includes(role)) {
  console.error("usage: node werift_interop.mjs ECHO_SERVER_BINARY offerer|answerer");
  process.exit(2);
}
try {
  accessSync(binary, constants.X_OK);
} catch {
  console.error("not executable: " + binary);
  process.exit(2);
}
try {
  await withTimeout(run(binary, role), TIMEOUT_MS + 20_000, "the whole test");
  console.log("PASS");
  process.exit(0);
} catch (e) {
  console.error("FAIL:", e.message);
  process.exit(1);
}
