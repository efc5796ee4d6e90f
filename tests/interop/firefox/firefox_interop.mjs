// Our PeerConnection (examples/echo_server) against headless Firefox ESR (Debian's
// /usr/bin/firefox-esr, driven by puppeteer-core over WebDriver BiDi), both roles.
//
//   node firefox_interop.mjs ECHO_SERVER_BINARY offerer|answerer mdns|plain
//
// The same test as ../chromium/chromium_interop.mjs (runBrowserEcho in ../common/echo_harness.mjs,
// loading ../common/page.html), with Firefox:
//   answerer: the page offers (with a reliable ordered channel "chat"), echo_server answers.
//   offerer:  echo_server offers (with its channel "echo"), the page answers.
// mdns:  media.peerconnection.ice.obfuscate_host_addresses = true: Firefox signals `.local` host
//        candidates; our peer must resolve every name to the browser's address over mDNS
//        (asserted). The browser's end-of-candidates is not forwarded (see docs/interop.md,
//        Chromium "mdns-eoc").
// plain: the pref false: raw host candidates.
// Topology as for Chromium (two namespaces, veth, 198.51.100.0/24, default route into the echo
// namespace). puppeteer talks to Firefox over a WebSocket on the browser namespace's loopback, so
// this script re-runs itself inside that namespace (PEERLINK_FF_INNER) after building it.
import { spawn } from "node:child_process";
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
import { BASE_PREFS, FIREFOX } from "./launch.mjs";

const here = dirname(fileURLToPath(import.meta.url));
// puppeteer-core is resolved from this directory's node_modules (npm ci, pinned by package-lock.json).
const puppeteer = createRequire(join(here, "package.json"))("puppeteer-core");

const NS_TAG = "plff";
const MODE_PREFS = {
  mdns: { "media.peerconnection.ice.obfuscate_host_addresses": true },
  plain: { "media.peerconnection.ice.obfuscate_host_addresses": false },
};

// Inside the browser namespace (the outer process built the topology; see main below).
async function run(binary, role, mode, echoNs) {
  const tmp = mkdtempSync(join(tmpdir(), "peerlink-firefox-"));
  let server = null;
  let browser = null;
  let trace = null;
  try {
    trace = new WireTrace(echoNs, echoNs.replace(/e$/, "v1"));  // Topology's echoNs and echoIface
    await trace.ready;
    server = new EchoServer(binary, { bind: OUR_IP, offer: role === "offerer", netns: echoNs, captureStderr: true });
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
    await runBrowserEcho({
      page,
      server,
      role,
      mdns: mode === "mdns",
      forwardEndOfCandidates: mode !== "mdns",  // see the header
      label: mode,
    });
  } catch (e) {
    if (server) server.dumpLog();
    if (trace) trace.dump();
    throw e;
  } finally {
    if (trace) trace.stop();
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
requireExecutables([binary, FIREFOX], "scripts/install-deps.sh installs firefox-esr");
requireRoot();
if (process.env.PEERLINK_FF_INNER) {
  await runTest(() => run(binary, role, mode, process.env.PEERLINK_FF_INNER), 70_000);
}
// Outer process: build the namespaces, re-run this script inside the browser one, tear down.
Topology.removeStale(NS_TAG);
const topo = new Topology(NS_TAG);
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
