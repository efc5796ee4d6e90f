// Unmodified y-webrtc clients in headless Chromium against `peerlink signal`, and our C++ room
// client (`peerlink pipe`) against a y-webrtc browser peer.
//
//   node ywebrtc_browser.mjs PEERLINK docsync|docsync-password|cpp-peer
//
// The browser code is y-webrtc's own bundle as published on npm (y-webrtc/dist/demo.js: yjs,
// y-webrtc, simple-peer and lib0 in one script, pinned by package-lock.json here). It creates a
// demo provider for ws://localhost:8080 on load; the page destroys that one and builds its own
// WebrtcProvider with the classes the bundle exposes (window.example.provider.constructor,
// window.example.ydoc.constructor), pointed at our server. Nothing of y-webrtc is patched.
//
// docsync / docsync-password: two pages in two separate browser contexts (so y-webrtc's
//   BroadcastChannel cannot connect them: only signaling through our server and WebRTC can)
//   join one room, with or without a room password; each inserts into a shared Y.Array and
//   must see the other's insert; each must have a connected WebRTC peer and no BroadcastChannel
//   peer.
// cpp-peer: one page joins the room; `peerlink pipe ROOM` (our RoomClient and PeerConnection)
//   joins it too. The pipe must report a direct path to the browser's address, the browser must
//   report the peer connected, and the pipe's stdout must start with y-webrtc's first message on
//   a new connection: sync step 1 (varuint 0 messageSync, varuint 0 syncStep1).
//
// Topology (root; ../common/echo_harness.mjs): Chromium in netns <p>b (198.51.100.2), `peerlink
// signal` and `peerlink pipe` in netns <p>e (198.51.100.1). Chromium runs with plain host
// candidates (no mDNS names), as in the chromium "plain" cases.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  BROWSER_IP,
  OUR_IP,
  Topology,
  fail,
  requireExecutables,
  requireRoot,
  runTest,
  waitUntil,
} from "../common/echo_harness.mjs";
import { CHROMIUM, HEADLESS_FLAGS, NO_MDNS_FLAG, chromiumInNetns } from "../chromium/launch.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const { chromium } = createRequire(join(here, "..", "chromium", "package.json"))("playwright-core");
const BUNDLE = join(here, "node_modules", "y-webrtc", "dist", "demo.js");
const NS_TAG = "plyw";
const PORT = 4444;
const SIGNAL_URL = `ws://${OUR_IP}:${PORT}`;
// A child process inside a namespace, its output collected.
class Child {
  constructor(name, ns, argv, { stdinOpen = false } = {}) {
    this.name = name;
    this.stdout = Buffer.alloc(0);
    this.stderr = "";
    this.proc = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: [stdinOpen ? "pipe" : "ignore", "pipe", "pipe"] });
    this.proc.stdout.on("data", (d) => (this.stdout = Buffer.concat([this.stdout, d]).subarray(0, 1 << 20)));
    this.proc.stderr.on("data", (d) => {
      this.stderr += d.toString();
      for (const line of d.toString().split("\n")) if (line) console.log(`${name}:`, line.slice(0, 300));
    });
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, sig) => resolve(code ?? sig)));
  }
  stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGTERM");
  }
}

// Runs in the page: replaces the bundle's demo provider by ours.
async function joinRoom({ url, room, password }) {
  const demo = window.example;
  demo.provider.destroy();
  const WebrtcProvider = demo.provider.constructor;
  const Doc = demo.ydoc.constructor;
  const doc = new Doc();
  const provider = new WebrtcProvider(room, doc, { signaling: [url], password: password ?? null });
  window.t = { doc, provider };
}

const pageState = () => {
  const room = window.t.provider.room;
  if (!room) return { webrtc: 0, connected: 0, bc: 0, items: [] };
  const conns = [...room.webrtcConns.values()];
  return {
    webrtc: conns.length,
    connected: conns.filter((c) => c.connected).length,
    bc: room.bcConns.size,
    items: window.t.doc.getArray("shared").toArray(),
    peerId: room.peerId,
  };
};

async function openPage(browser, htmlUrl, room, password, name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (m) => {
    const text = m.text();
    if (!text.includes("ws://localhost:8080")) console.log(`${name}:`, text.slice(0, 300));
  });
  await page.goto(htmlUrl);
  await page.waitForFunction(() => window.example && window.example.provider, null, { timeout: 10_000 });
  await page.evaluate(joinRoom, { url: SIGNAL_URL, room, password });
  return { context, page, state: () => page.evaluate(pageState) };
}

async function docSync(browser, htmlUrl, password) {
  const room = "peerlink-ywebrtc-" + process.pid;
  const a = await openPage(browser, htmlUrl, room, password, "page a");
  const b = await openPage(browser, htmlUrl, room, password, "page b");
  try {
    await a.page.evaluate(() => window.t.doc.getArray("shared").insert(0, ["from a"]));
    await b.page.evaluate(() => window.t.doc.getArray("shared").insert(0, ["from b"]));
    const both = async (p) => {
      const s = await p.state();
      return s.items.includes("from a") && s.items.includes("from b");
    };
    let sa, sb;
    await waitUntil(
      async () => {
        sa = await a.state();
        sb = await b.state();
        return (await both(a)) && (await both(b)) && sa.connected >= 1 && sb.connected >= 1;
      },
      30_000,
      "both pages to see both inserts over a connected WebRTC peer",
    ).catch((e) => fail(`${e.message}: a ${JSON.stringify(sa)}, b ${JSON.stringify(sb)}`));
    if (sa.bc !== 0 || sb.bc !== 0) fail(`a BroadcastChannel peer exists: a ${sa.bc}, b ${sb.bc}`);
    console.log(`synced: a ${JSON.stringify(sa)}, b ${JSON.stringify(sb)}`);
  } finally {
    await a.context.close().catch(() => {});
    await b.context.close().catch(() => {});
  }
}

async function cppPeer(browser, htmlUrl, peerlink, topo) {
  const room = "peerlink-cpp-" + process.pid;
  const a = await openPage(browser, htmlUrl, room, undefined, "page");
  // stdin stays open and empty: the pipe sends nothing y-webrtc would have to decode.
  const pipe = new Child(
    "pipe",
    topo.echoNs,
    [peerlink, "pipe", room, "--signal", SIGNAL_URL, "--bind", OUR_IP, "--timeout", "30", "-v"],
    { stdinOpen: true },
  );
  try {
    const path = new RegExp(`connected to \\S+ via host ${OUR_IP}:\\d+ <-> (host|prflx) ${BROWSER_IP}:\\d+ \\(direct\\)`);
    await waitUntil(() => path.test(pipe.stderr), 30_000, "peerlink pipe to report a direct path to the browser");
    let s;
    await waitUntil(
      async () => (s = await a.state()).connected === 1,
      15_000,
      "the browser to report its peer connected",
    );
    await waitUntil(() => pipe.stdout.length >= 2, 15_000, "y-webrtc's first message on the channel");
    if (pipe.stdout[0] !== 0 || pipe.stdout[1] !== 0) {
      fail(`first bytes from the browser are ${pipe.stdout.subarray(0, 8).toString("hex")}, not sync step 1 (0000)`);
    }
    console.log(`browser ${JSON.stringify(s)}; pipe received ${pipe.stdout.length} bytes, starting 0000 (sync step 1)`);
  } finally {
    pipe.stop();
    await Promise.race([pipe.exited, new Promise((r) => setTimeout(r, 5000))]);
    await a.context.close().catch(() => {});
  }
}

async function run(peerlink, mode) {
  Topology.removeStale(NS_TAG);
  const topo = new Topology(NS_TAG);
  const tmp = mkdtempSync(join(tmpdir(), "peerlink-ywebrtc-"));
  let browser = null;
  let signal = null;
  try {
    topo.up();
    signal = new Child("signal", topo.echoNs, [peerlink, "signal", "--listen", `${OUR_IP}:${PORT}`]);
    await waitUntil(() => signal.stderr.includes('"listening"'), 10_000, "peerlink signal to listen");
    const html = join(tmp, "page.html");
    writeFileSync(html, `<!doctype html><meta charset="utf-8"><script src="${pathToFileURL(BUNDLE).href}"></script>\n`);
    browser = await chromium.launch({
      executablePath: chromiumInNetns(tmp, topo.browserNs),
      headless: true,
      args: [...HEADLESS_FLAGS, NO_MDNS_FLAG],
      timeout: 20_000,
    });
    const htmlUrl = pathToFileURL(html).href;
    if (mode === "docsync") await docSync(browser, htmlUrl, undefined);
    if (mode === "docsync-password") await docSync(browser, htmlUrl, "correct horse battery");
    if (mode === "cpp-peer") await cppPeer(browser, htmlUrl, peerlink, topo);
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (signal) signal.stop();
    topo.down();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const MODES = ["docsync", "docsync-password", "cpp-peer"];
const [peerlink, mode] = process.argv.slice(2);
if (!peerlink || !MODES.includes(mode)) {
  console.error(`usage: node ywebrtc_browser.mjs PEERLINK ${MODES.join("|")}`);
  process.exit(2);
}
requireExecutables([peerlink, CHROMIUM], "scripts/install-deps.sh installs chromium");
requireRoot();
await runTest(() => run(peerlink, mode), 80_000);
