// Our PeerConnection (examples/echo_server) against headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core over its debugging pipe), both roles.
//
//   node chromium_interop.mjs ECHO_SERVER_BINARY offerer|answerer mdns|mdns-eoc|mdns-publish|plain
//
// The role names OUR peer's role:
//   answerer: the page offers (with a reliable ordered channel "chat"), echo_server answers.
//   offerer:  echo_server offers (with its channel "echo"), the page answers.
// mdns:  Chromium as shipped: it hides its host address behind a random `.local` name. The
//        harness forwards those candidates unchanged; our peer resolves each name with a one-shot
//        mDNS query, which Chromium answers on the veth. The test asserts that every name
//        resolved to the browser's address (our peer may still have selected the browser as
//        peer-reflexive, learned from its checks before the answer came). The browser's
//        end-of-candidates is NOT forwarded (as in many applications); mdns-eoc forwards it,
//        and our peer holds it until the names are resolved (docs/interop.md).
// mdns-publish: as mdns-eoc, and our peer publishes its own host candidate under a random
//        `.local` name (Configuration::publish_mdns_host_candidates): Chromium must resolve it
//        with its own mDNS query, which our responder answers.
// plain: --disable-features=WebRtcHideLocalIpsWithMdns, so the browser signals its raw host
//        address and both sides pair host candidates.
//
// Topology (root needed; nothing but these two namespaces carries a packet):
//   netns <p>b: Chromium, veth <p>v0 198.51.100.2/24 (TEST-NET-2), default route via .1
//   netns <p>e: echo_server --bind 198.51.100.1, veth <p>v1 198.51.100.1/24
// Chromium gathers no candidate at all on loopback, nor in a namespace without a default route,
// hence the veth pair and the route (which leads only into the echo namespace, where forwarding
// is off). The page (../common/page.html) is loaded from file:// and talks to the harness through
// Playwright's evaluate/exposeFunction; descriptions and trickled candidates pass through here to
// echo_server's stdin (JSON lines, see examples/echo_server.cc). The page sends messages of 0 B,
// 1 B, 1 KiB, 16 KiB and 64 KiB, text (multi-byte UTF-8) and binary; the SHA-256 over all sent
// messages (in order, tagged with type and length) must equal the one over all echoes. Exit 0 on
// success. The test itself (signalling, echo, checks) is runBrowserEcho in
// ../common/echo_harness.mjs, shared with ../firefox; this file starts Chromium.
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  EchoServer,
  OUR_IP,
  Topology,
  requireExecutables,
  requireRoot,
  runBrowserEcho,
  runTest,
  WireTrace,
} from "../common/echo_harness.mjs";
import { CHROMIUM, HEADLESS_FLAGS, NO_MDNS_FLAG, chromiumInNetns } from "./launch.mjs";

const here = dirname(fileURLToPath(import.meta.url));
// playwright-core is resolved from this directory's node_modules (npm ci, pinned by package-lock.json).
const { chromium } = createRequire(join(here, "package.json"))("playwright-core");

const NS_TAG = "plcr";
const MODE_FLAGS = {
  mdns: [],
  "mdns-eoc": [],
  "mdns-publish": [],
  plain: [NO_MDNS_FLAG],
};

async function run(binary, role, mode) {
  Topology.removeStale(NS_TAG);
  const topo = new Topology(NS_TAG);
  const tmp = mkdtempSync(join(tmpdir(), "peerlink-chromium-"));
  let server = null;
  let context = null;
  let trace = null;
  try {
    topo.up();
    trace = new WireTrace(topo.echoNs, topo.echoIface);
    await trace.ready;
    server = new EchoServer(binary, {
      bind: OUR_IP,
      offer: role === "offerer",
      netns: topo.echoNs,
      captureStderr: true,
      publishMdns: mode === "mdns-publish",
    });

    // Chromium runs inside the browser namespace; Playwright talks to it over inherited pipes.
    const wrapper = chromiumInNetns(tmp, topo.browserNs);
    const userDataDir = join(tmp, "profile");
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: wrapper,
      headless: true,
      args: [...HEADLESS_FLAGS, ...MODE_FLAGS[mode]],
      timeout: 20_000,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (m) => console.log("page:", m.text()));
    await runBrowserEcho({
      page,
      server,
      role,
      mdns: mode !== "plain",
      forwardEndOfCandidates: mode !== "mdns",  // see the header
      label: mode,
      publishMdns: mode === "mdns-publish",
    });
  } catch (e) {
    if (server) server.dumpLog();
    if (trace) trace.dump();
    throw e;
  } finally {
    if (trace) trace.stop();
    if (context) await context.close().catch(() => {});
    if (server && server.proc.exitCode === null) server.proc.kill("SIGKILL");
    topo.down();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const [binary, role, mode] = process.argv.slice(2);
if (!binary || !["offerer", "answerer"].includes(role) || !(mode in MODE_FLAGS)) {
  console.error("usage: node chromium_interop.mjs ECHO_SERVER_BINARY offerer|answerer mdns|mdns-eoc|mdns-publish|plain");
  process.exit(2);
}
requireExecutables([binary, CHROMIUM], "scripts/install-deps.sh installs chromium");
requireRoot();
await runTest(() => run(binary, role, mode), 75_000);
