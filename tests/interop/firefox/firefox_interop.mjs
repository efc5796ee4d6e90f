// Our PeerConnection (examples/echo_server) against headless Firefox ESR (Debian's
// /usr/bin/firefox-esr, driven by puppeteer-core over WebDriver BiDi), both roles.
//
//   node firefox_interop.mjs ECHO_SERVER_BINARY offerer|answerer mdns|plain
//
// The same test as ../chromium/chromium_interop.mjs (whose page.html it loads), with Firefox:
//   answerer: the page offers (with a reliable ordered channel "chat"), echo_server answers.
//   offerer:  echo_server offers (with its channel "echo"), the page answers.
// mdns:  media.peerconnection.ice.obfuscate_host_addresses = true: Firefox signals `.local` host
//        candidates, which our peer cannot resolve yet; it must learn the browser as
//        peer-reflexive (asserted). The browser's end-of-candidates is not forwarded (see
//        docs/interop.md, Chromium "mdns-eoc").
// plain: the pref false: raw host candidates.
// Topology as for Chromium (two namespaces, veth, 198.51.100.0/24, default route into the echo
// namespace). puppeteer talks to Firefox over a WebSocket on the browser namespace's loopback, so
// this script re-runs itself inside that namespace (PEERLINK_FF_INNER) after building it.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
// puppeteer-core is resolved from this directory's node_modules (npm ci, pinned by package-lock.json).
const puppeteer = createRequire(join(here, "package.json"))("puppeteer-core");

const FIREFOX = "/usr/bin/firefox-esr";
const SIZES = [0, 1, 1024, 16 * 1024, 64 * 1024];
const TIMEOUT_MS = 40_000;
const OUR_IP = "198.51.100.1";
const BROWSER_IP = "198.51.100.2";
// Firefox takes no Chromium switches; puppeteer adds --headless, --profile (a fresh temporary
// directory below) and --remote-debugging-port. Preferences do the rest: no background traffic.
const BASE_PREFS = {
  "app.update.enabled": false,
  "browser.shell.checkDefaultBrowser": false,
  "datareporting.policy.dataSubmissionEnabled": false,
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "toolkit.telemetry.enabled": false,
};
const MODE_PREFS = {
  mdns: { "media.peerconnection.ice.obfuscate_host_addresses": true },
  plain: { "media.peerconnection.ice.obfuscate_host_addresses": false },
};

const fail = (msg) => {
  throw new Error(msg);
};

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
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

// Messages in the page's wire form: {t:"text", d:string} or {t:"binary", d:base64}.
function payloads() {
  const out = [];
  SIZES.forEach((n, i) => {
    const b = Buffer.alloc(n);
    for (let k = 0; k < n; ++k) b[k] = (i * 31 + k * 7) & 0xff;
    out.push({ t: "binary", d: b.toString("base64") });
    out.push({ t: "text", d: textOfBytes(n, i) });
  });
  return out;
}

function digest(messages) {
  const h = createHash("sha256");
  for (const m of messages) {
    const body = m.t === "text" ? Buffer.from(m.d, "utf8") : Buffer.from(m.d, "base64");
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(body.length));
    h.update(m.t === "text" ? "T" : "B").update(len).update(body);
  }
  return h.digest("hex");
}

const describe = (messages) =>
  messages
    .map((m) => (m.t === "text" ? `T${Buffer.byteLength(m.d)}` : `B${Buffer.from(m.d, "base64").length}`))
    .join(",");

// --- network namespaces ---------------------------------------------------------------------

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

class Topology {
  constructor() {
    this.prefix = `plff${process.pid}`;
    this.browserNs = `${this.prefix}b`;
    this.echoNs = `${this.prefix}e`;
  }
  static removeStale() {
    // Namespaces of earlier runs that were killed (e.g. by a ctest timeout) before cleaning up.
    let names = [];
    try {
      names = readdirSync("/var/run/netns");
    } catch {}
    for (const ns of names) {
      const m = /^plff(\d+)[be]$/.exec(ns);
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

// --- echo_server -----------------------------------------------------------------------------

class EchoServer {
  constructor(binary, ns, offer) {
    const args = ["netns", "exec", ns, binary, "--bind", OUR_IP, "--timeout", String(TIMEOUT_MS / 1000 + 10)];
    if (offer) args.push("--offer");
    this.proc = spawn("ip", args, { stdio: ["pipe", "pipe", "pipe"] });
    this.waiters = new Map();
    this.lines = [];
    this.errors = [];
    this.log = [];
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => resolve({ code, signal })));
    this.exited.then(({ code }) => {
      for (const [, w] of this.waiters) w.reject(new Error(`echo_server exited (code ${code})`));
    });
    createInterface({ input: this.proc.stdout }).on("line", (line) => this.onLine(line));
    createInterface({ input: this.proc.stderr }).on("line", (line) => this.log.push(line));
  }
  onLine(line) {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    console.log("echo_server:", line.length > 160 ? line.slice(0, 160) + "..." : line);
    if (msg.event === "error") this.errors.push(msg.message);
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
  selectedRemote() {
    // runtime log line "pc: selected pair TYPE IP:PORT -> TYPE IP:PORT" (src/runtime/peer_connection.cc)
    const line = this.log.find((l) => l.includes("selected pair"));
    if (!line) return null;
    const [type, address] = line.split(" -> ").pop().trim().split(" ");
    return { type, address };
  }
}

// --- the test --------------------------------------------------------------------------------

// Inside the browser namespace (the outer process built the topology; see main below).
async function run(binary, role, mode, echoNs) {
  const tmp = mkdtempSync(join(tmpdir(), "peerlink-firefox-"));
  let server = null;
  let browser = null;
  try {
    server = new EchoServer(binary, echoNs, role === "offerer");
    browser = await puppeteer.launch({
      browser: "firefox",
      executablePath: FIREFOX,
      headless: true,
      userDataDir: join(tmp, "profile"),
      extraPrefsFirefox: { ...BASE_PREFS, ...MODE_PREFS[mode] },
      timeout: 30_000,
    });
    const page = await browser.newPage();
    page.on("console", (m) => console.log("page:", m.text()));

    // Browser candidates go to echo_server once it holds the browser's description.
    const browserCandidates = [];
    let queue = [];
    let remoteSet = false;
    await page.exposeFunction("harnessCandidate", (c) => {
      browserCandidates.push(c.candidate);
      console.log("browser candidate:", c.candidate || "(end)");
      if (!c.candidate && mode === "mdns") return;  // see the header
      const line = { candidate: c.candidate, sdpMid: c.sdpMid ?? "0" };
      if (remoteSet) server.send(line);
      else queue.push(line);
    });
    const flush = () => {
      remoteSet = true;
      for (const line of queue) server.send(line);
      queue = [];
    };
    await page.goto(pathToFileURL(join(here, "..", "chromium", "page.html")).href);

    if (role === "answerer") {
      const offer = await page.evaluate(() => window.peer.offer());
      server.send({ type: "offer", sdp: offer });
      flush();
      const answer = await withTimeout(server.next("answer"), TIMEOUT_MS, "echo_server's answer");
      await page.evaluate((sdp) => window.peer.acceptAnswer(sdp), answer.sdp);
    } else {
      const offer = await withTimeout(server.next("offer"), TIMEOUT_MS, "echo_server's offer");
      const answer = await page.evaluate((sdp) => window.peer.answer(sdp), offer.sdp);
      server.send({ type: "answer", sdp: answer });
      flush();
    }
    const channel = await page.evaluate((ms) => window.peer.waitOpen(ms), TIMEOUT_MS);
    console.log(`channel '${channel.label}' open (our peer: ${role}, browser: ${mode})`);
    if (channel.ordered !== true || channel.maxRetransmits !== null || channel.maxPacketLifeTime !== null) {
      fail("channel is not reliable and ordered: " + JSON.stringify(channel));
    }

    const sent = payloads();
    const echoes = await page.evaluate((m, ms) => window.peer.echo(m, ms), sent, TIMEOUT_MS);
    if (digest(sent) !== digest(echoes)) {
      fail(`echo digest mismatch: sent ${describe(sent)} got ${describe(echoes)}`);
    }
    console.log(`${echoes.length} messages echoed (${describe(echoes)}), sha256 ${digest(echoes)}`);

    // The path, as each side sees it.
    const pair = await page.evaluate(() => window.peer.selectedPair());
    console.log("browser's selected pair:", JSON.stringify(pair));
    if (!pair || pair.remote.address !== OUR_IP) fail("browser's selected pair does not lead to echo_server");
    const ourRemote = server.selectedRemote();
    console.log("our selected remote:", JSON.stringify(ourRemote));
    if (!ourRemote || !ourRemote.address.startsWith(BROWSER_IP + ":")) fail("our selected pair does not lead to the browser");
    const signalled = browserCandidates.filter(Boolean);
    if (mode === "mdns") {
      // Every browser candidate was a .local name; our peer still found the browser's address,
      // i.e. as peer-reflexive from the browser's checks.
      if (!signalled.length || !signalled.every((c) => c.split(" ")[4].endsWith(".local"))) {
        fail("expected only mDNS (.local) host candidates from the browser, got " + JSON.stringify(signalled));
      }
      if (ourRemote.type !== "prflx") fail("expected our peer to select the browser as prflx, got " + ourRemote.type);
      console.log(`browser signalled only .local candidates; our peer learned ${ourRemote.address} as prflx`);
    } else if (!signalled.some((c) => c.split(" ")[4] === BROWSER_IP)) {
      fail("expected a raw host candidate " + BROWSER_IP + " from the browser, got " + JSON.stringify(signalled));
    }
    // .local candidates are refused with "unsupported" until the mDNS resolver is wired into
    // PeerConnection; anything else echo_server reports is a failure.
    const unexpected = server.errors.filter((e) => !e.includes(".local"));
    if (unexpected.length) fail("echo_server reported: " + unexpected.join("; "));
    if (server.errors.length) console.log(`echo_server refused ${server.errors.length} .local candidate(s) (no mDNS resolver)`);

    // Closing in the browser must close our peer: echo_server exits 0 once its connection closed.
    await page.evaluate(() => window.peer.close());
    server.proc.stdin.end();
    const exit = await withTimeout(server.exited, 15_000, "echo_server to exit after the browser closed");
    console.log(`echo_server exited with code ${exit.code}`);
  } catch (e) {
    if (server) console.error("echo_server log (last 40 lines):\n  " + server.log.slice(-40).join("\n  "));
    throw e;
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (server && server.proc.exitCode === null) server.proc.kill("SIGKILL");
    rmSync(tmp, { recursive: true, force: true });
  }
}

const [binary, role, mode] = process.argv.slice(2);
if (!binary || !["offerer", "answerer"].includes(role) || !(mode in MODE_PREFS)) {
  console.error("usage: node firefox_interop.mjs ECHO_SERVER_BINARY offerer|answerer mdns|plain");
  process.exit(2);
}
for (const f of [binary, FIREFOX]) {
  try {
    accessSync(f, constants.X_OK);
  } catch {
    console.error(`not executable: ${f} (scripts/install-deps.sh installs firefox-esr)`);
    process.exit(2);
  }
}
if (process.getuid() !== 0) {
  console.error("needs root: the test creates its own network namespaces");
  process.exit(2);
}
if (process.env.PEERLINK_FF_INNER) {
  try {
    await withTimeout(run(binary, role, mode, process.env.PEERLINK_FF_INNER), 70_000, "the whole test");
    console.log("PASS");
    process.exit(0);
  } catch (e) {
    console.error("FAIL:", e.message);
    process.exit(1);
  }
}
// Outer process: build the namespaces, re-run this script inside the browser one, tear down.
Topology.removeStale();
const topo = new Topology();
let code = 1;
try {
  topo.up();
  const child = spawn("ip", ["netns", "exec", topo.browserNs, process.execPath, fileURLToPath(import.meta.url), binary, role, mode], {
    stdio: "inherit",
    env: { ...process.env, PEERLINK_FF_INNER: topo.echoNs },
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 80_000);
  code = await new Promise((resolve) => child.on("exit", (c) => resolve(c ?? 1)));
  clearTimeout(timer);
} catch (e) {
  console.error("FAIL:", e.message);
} finally {
  topo.down();
}
process.exit(code);
