// End-to-end benchmark adapter for the browsers (bench/e2e/PROTOCOL.md): Debian's headless
// Chromium driven by playwright-core, Firefox ESR driven by puppeteer-core over WebDriver BiDi,
// both resolved from the interop tests' node_modules (tests/interop/chromium, tests/interop/firefox).
//
//   node e2e_browser.mjs --browser chromium|firefox --mode t1|t2|t3 [mode options]
//        [--bind ADDR] [--timeout S]
//
// The benchmark itself runs in bench_page.html (loaded from file://); this script launches the
// browser with a fresh profile in a temporary directory, passes descriptions between the page and
// the runner (t1), samples CPU time and RSS of the browser's process tree (every descendant of
// this process, read from /proc) and prints the JSON lines. It starts no network namespace: the
// runner starts it inside one, and the browser inherits it.
//   t1: one peer per adapter process, one browser per process, non-trickle signaling through
//       stdin/stdout. CPU seconds = utime+stime of the browser process tree.
//   t2: both peers in one page, trickle ICE in page.
//   t3: pairs in the page (Chromium: spread over several pages, see PAIRS_PER_PAGE; --pages P
//       overrides); RSS = sum of VmRSS over the browser process tree.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { networkInterfaces, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CHROMIUM, HEADLESS_FLAGS, NO_MDNS_FLAG } from "../../../tests/interop/chromium/launch.mjs";
import { BASE_PREFS, FIREFOX } from "../../../tests/interop/firefox/launch.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const INTEROP = join(here, "../../../tests/interop");
const PAGE_URL = pathToFileURL(join(here, "bench_page.html")).href;

// Chromium refuses more than 500 live RTCPeerConnections per page ("Cannot create so many
// PeerConnections"); by default t3 puts at most this many pairs in one page and opens more pages
// (each gets its own renderer process) before measuring. Firefox has no such cap: one page.
// --pages P overrides the page count.
const PAIRS_PER_PAGE = { chromium: 200, firefox: Infinity };
// t3 connects this many pairs at a time.
const T3_BATCH = 10;
// A t2/t3 pair that is not open within this time is a failure (PROTOCOL.md).
const PAIR_TIMEOUT_MS = 10_000;

// Chromium: the interop tests' headless flags and plain host candidates, plus
// --use-fake-ui-for-media-stream, which grants the media permission: without it Chromium gathers
// only on the interface of the default route, and the runner's namespace has no default route
// (no candidate at all). Playwright adds its automation switches and --user-data-dir.
const CHROMIUM_FLAGS = [...HEADLESS_FLAGS, NO_MDNS_FLAG, "--use-fake-ui-for-media-stream"];

// Firefox: the interop test's background-traffic prefs, raw host addresses, a default "allow" for
// camera and microphone (without a media permission Firefox gathers only on the default route's
// interface: media.peerconnection.ice.default_address_only is forced on, and the runner's
// namespace has no default route), and unclamped performance.now() (1 ms steps otherwise).
const FIREFOX_PREFS = {
  ...BASE_PREFS,
  "media.peerconnection.ice.obfuscate_host_addresses": false,
  "permissions.default.camera": 1,
  "permissions.default.microphone": 1,
  "privacy.reduceTimerPrecision": false,
};

const log = (...args) => console.error("e2e_browser:", ...args);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

// --- command line ------------------------------------------------------------------------------

function parseArgs(argv) {
  const opts = { high: 4194304, low: 1048576, runs: 100, connections: 1000, timeout: 120 };
  const numeric = new Set(["bytes", "msg-size", "high", "low", "runs", "connections", "pages", "timeout"]);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    const value = argv[i + 1];
    if (!argv[i].startsWith("--") || value === undefined) usage(`bad argument ${argv[i]}`);
    opts[key === "msg-size" ? "msgSize" : key] = numeric.has(key) ? Number(value) : value;
  }
  if (!["chromium", "firefox"].includes(opts.browser)) usage("--browser chromium|firefox");
  if (!["t1", "t2", "t3"].includes(opts.mode)) usage("--mode t1|t2|t3");
  if (opts.mode === "t1") {
    if (!["offerer", "answerer"].includes(opts.role)) usage("t1 needs --role offerer|answerer");
    if (!(opts.bytes > 0) || !(opts.msgSize > 0)) usage("t1 needs --bytes N --msg-size M");
  }
  return opts;
}

function usage(msg) {
  console.error(`e2e_browser: ${msg}
usage: node e2e_browser.mjs --browser chromium|firefox --mode t1|t2|t3 [--bind ADDR] [--timeout S]
  t1: --role offerer|answerer --bytes N --msg-size M [--high 4194304] [--low 1048576]
  t2: [--runs 100]
  t3: [--connections 1000] [--pages P]  (default: Chromium ceil(pairs / 200), Firefox 1)`);
  process.exit(2);
}

// --- the browser's process tree (/proc) --------------------------------------------------------

const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

// Every descendant of this process: [{pid, utime, stime}] from /proc/PID/stat (ticks).
function descendants() {
  const procs = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue;  // exited meanwhile
    }
    // Fields after "(comm)": state ppid ... utime (14th field overall) stime (15th).
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    procs.set(Number(name), { pid: Number(name), ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]) });
  }
  const out = [];
  const frontier = [process.pid];
  while (frontier.length) {
    const parent = frontier.pop();
    for (const p of procs.values()) {
      if (p.ppid === parent) {
        out.push(p);
        frontier.push(p.pid);
      }
    }
  }
  return out;
}

// User+system CPU seconds of the browser process tree, so far.
const treeCpuSeconds = () => descendants().reduce((s, p) => s + p.utime + p.stime, 0) / CLK_TCK;

// Sum of one /proc/PID/status (kB) or smaps_rollup field over the browser process tree, in bytes.
function treeMemory(file, field) {
  let kb = 0;
  for (const p of descendants()) {
    try {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${p.pid}/${file}`, "utf8"));
      if (m) kb += Number(m[1]);
    } catch {
      // exited meanwhile
    }
  }
  return kb * 1024;
}

// --- browsers ----------------------------------------------------------------------------------

// The interface that carries `addr` in this namespace, or null.
function interfaceOf(addr) {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs.some((a) => a.address === addr)) return name;
  }
  return null;
}

// Non-loopback addresses of this namespace other than `addr` (a browser that cannot bind might
// gather on them).
const otherAddresses = (addr) =>
  Object.values(networkInterfaces())
    .flat()
    .filter((a) => !a.internal && a.address !== addr && !a.address.startsWith("fe80:"))
    .map((a) => a.address);

// Launches the browser with a fresh profile under tmp; resolves {newPage(), close(), version,
// setup} where setup describes flags/prefs for the config line.
async function launchBrowser(name, tmp, bind) {
  const profile = join(tmp, "profile");
  if (name === "chromium") {
    const { chromium } = createRequire(join(INTEROP, "chromium/package.json"))("playwright-core");
    const version = execFileSync(CHROMIUM, ["--version"]).toString().trim().split("\n").pop();
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      timeout: 30_000,
    });
    let first = context.pages()[0] ?? null;
    const bindNote = bind
      ? `--bind ${bind} not applicable (Chromium cannot be told an address; it gathers on every non-loopback interface` +
        (otherAddresses(bind).length ? `, here also ${otherAddresses(bind).join(" ")})` : ", here only that one)")
      : "no --bind";
    return {
      version,
      setup: `headless via playwright-core (CDP pipe), flags ${CHROMIUM_FLAGS.join(" ")} plus playwright-core's automation defaults, fresh --user-data-dir; ${bindNote}`,
      async newPage() {
        // Reuse the persistent context's initial tab once.
        const page = first ?? (await context.newPage());
        first = null;
        return page;
      },
      close: () => context.close(),
    };
  }
  const puppeteer = createRequire(join(INTEROP, "firefox/package.json"))("puppeteer-core");
  const prefs = { ...FIREFOX_PREFS };
  let bindNote = "no --bind";
  if (bind) {
    // Firefox can be told one interface to gather on.
    const ifname = interfaceOf(bind);
    if (!ifname) throw new Error(`--bind ${bind}: no interface carries that address here`);
    prefs["media.peerconnection.ice.force_interface"] = ifname;
    bindNote = `--bind ${bind} as media.peerconnection.ice.force_interface=${ifname}`;
  }
  const browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX,
    headless: true,
    userDataDir: profile,
    extraPrefsFirefox: prefs,
    timeout: 30_000,
  });
  // force_interface appears in the bind note instead.
  const prefText = Object.entries(FIREFOX_PREFS)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return {
    version: execFileSync(FIREFOX, ["--version"]).toString().trim(),
    setup: `headless via puppeteer-core (WebDriver BiDi), fresh profile, prefs ${prefText} plus puppeteer-core's defaults; ${bindNote}`,
    newPage: () => browser.newPage(),
    close: () => browser.close(),
  };
}

// Opens bench_page.html; CPU marks from the page land in `marks`.
async function openPage(browser, marks) {
  const page = await browser.newPage();
  page.on("console", (m) => log("page:", m.text()));
  await page.exposeFunction("benchMark", (name) => {
    marks[name] = treeCpuSeconds();
  });
  await page.goto(PAGE_URL);
  return page;
}

// --- stdin (t1) --------------------------------------------------------------------------------

// JSON lines from stdin, taken by type; waiting fails once stdin has ended.
class Lines {
  constructor() {
    this.queue = [];
    this.waiters = [];
    this.ended = false;
    const rl = createInterface({ input: process.stdin });
    rl.on("close", () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w.reject(new Error(`stdin ended while waiting for ${w.type}`));
    });
    rl.on("line", (line) => {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        log("ignoring stdin line:", line.slice(0, 80));
        return;
      }
      const w = this.waiters.findIndex((x) => x.type === msg.type);
      if (w >= 0) this.waiters.splice(w, 1)[0].resolve(msg);
      else this.queue.push(msg);
    });
  }
  next(type) {
    const at = this.queue.findIndex((m) => m.type === type);
    if (at >= 0) return Promise.resolve(this.queue.splice(at, 1)[0]);
    if (this.ended) return Promise.reject(new Error(`stdin ended while waiting for ${type}`));
    return new Promise((resolve, reject) => this.waiters.push({ type, resolve, reject }));
  }
}

// --- modes -------------------------------------------------------------------------------------

async function modeT1(opts, browser, config) {
  const marks = {};
  const page = await openPage(browser, marks);
  const lines = new Lines();
  const timeoutMs = opts.timeout * 1000;
  emit(config(await page.evaluate(() => window.bench.probe())));
  if (opts.role === "offerer") {
    emit(await page.evaluate(() => window.bench.t1Offer()));
    const answer = await lines.next("answer");
    await page.evaluate((a) => window.bench.t1Accept(a), { type: "answer", sdp: answer.sdp });
    const { messages } = await page.evaluate((o) => window.bench.t1Send(o), {
      bytes: opts.bytes,
      msgSize: opts.msgSize,
      high: opts.high,
      low: opts.low,
      timeoutMs,
    });
    log(`sender: ${messages} messages queued; waiting for done`);
    await lines.next("done");
    const cpu = treeCpuSeconds() - marks.open;
    emit({ type: "result", role: "sender", cpu_seconds: round(cpu) });
  } else {
    const offer = await lines.next("offer");
    emit(await page.evaluate((o) => window.bench.t1Answer(o), { type: "offer", sdp: offer.sdp }));
    const r = await page.evaluate((o) => window.bench.t1Receive(o), { bytes: opts.bytes, timeoutMs });
    if (r.misordered) log(`receiver: ${r.misordered} messages with an unexpected byte 0`);
    emit({
      type: "result",
      role: "receiver",
      bytes: r.bytes,
      messages: r.messages,
      seconds: round(r.seconds),
      open_to_done_seconds: round(r.openToDone),
      cpu_seconds: round(marks.last - marks.open),
      ok: r.misordered === 0 && r.bytes === opts.bytes,
    });
  }
  await page.evaluate(() => window.bench.t1Close());
}

async function modeT2(opts, browser, config) {
  const page = await openPage(browser, {});
  emit(config(await page.evaluate(() => window.bench.probe())));
  const r = await page.evaluate((o) => window.bench.t2(o), { runs: opts.runs, runTimeoutMs: PAIR_TIMEOUT_MS });
  emit({ type: "result", ms: r.ms.map(round), failures: r.failures });
}

async function modeT3(opts, browser, config) {
  const pairs = Math.floor(opts.connections / 2);
  const pageCount = opts.pages > 0 ? opts.pages : Math.max(1, Math.ceil(pairs / PAIRS_PER_PAGE[opts.browser]));
  // Every page is open before the first RSS sample, so that their renderers count as baseline.
  const pages = [];
  for (let i = 0; i < pageCount; ++i) pages.push(await openPage(browser, {}));
  emit(config(await pages[0].evaluate(() => window.bench.probe()), pageCount));
  for (const page of pages) await page.evaluate((o) => window.bench.t3Warmup(o), { timeoutMs: PAIR_TIMEOUT_MS });
  await sleep(1000);
  const rssBefore = treeMemory("status", "VmRSS");
  const pssBefore = treeMemory("smaps_rollup", "Pss");
  let connected = 0;
  for (let i = 0; i < pageCount; ++i) {
    // Pairs spread evenly over the pages.
    const n = Math.floor(pairs / pageCount) + (i < pairs % pageCount ? 1 : 0);
    const r = await pages[i].evaluate((o) => window.bench.t3Connect(o), { pairs: n, batch: T3_BATCH, timeoutMs: PAIR_TIMEOUT_MS });
    log(`t3 page ${i}: ${r.connected} connections open, ${r.failed} pairs failed${r.firstError ? ` (first error: ${r.firstError})` : ""}`);
    connected += r.connected;
  }
  await sleep(2000);
  const rssAfter = treeMemory("status", "VmRSS");
  const pssAfter = treeMemory("smaps_rollup", "Pss");
  log(`t3: PSS of the process tree ${pssBefore} -> ${pssAfter} bytes (${Math.round((pssAfter - pssBefore) / opts.connections)} per connection)`);
  if (connected < opts.connections) {
    log(`t3: only ${connected} of ${opts.connections} connected; RSS growth per connected connection ${Math.round((rssAfter - rssBefore) / Math.max(1, connected))} bytes`);
  }
  emit({
    type: "result",
    connections: opts.connections,
    connected,
    rss_before: rssBefore,
    rss_after: rssAfter,
    bytes_per_connection: Math.round((rssAfter - rssBefore) / opts.connections),
  });
  for (const page of pages) await page.evaluate(() => window.bench.t3Close());
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (x) => Math.round(x * 1e6) / 1e6;

// The config line: browser, flags/prefs, and what each mode measures.
function configText(opts, browser, probe, pageCount) {
  const parts = [
    `${browser.version} (${probe.userAgent})`,
    browser.setup,
    `host candidates only (UDP, plus the browser's own TCP active ones, port 9), no ICE servers, mDNS off; max-message-size advertised ${probe.maxMessageSize}; SCTP/DTLS MTU: browser default, not exposed to pages`,
  ];
  if (opts.mode === "t1") {
    parts.push(
      `t1: one browser per adapter, non-trickle; messages of ${opts.msgSize} B, high ${opts.high} low ${opts.low}; ` +
        "cpu_seconds = utime+stime of the whole browser process tree (all descendants of the adapter, /proc/PID/stat), " +
        "sampled by the adapter when the page reports channel open / last arrival; wall times from performance.now() in the page",
    );
  } else if (opts.mode === "t2") {
    parts.push("t2: both peers in one page, trickle ICE in page (candidates passed directly), timed with performance.now()");
  } else {
    parts.push(
      `t3: ${pageCount} page(s), both peers of a pair in one page, ${T3_BATCH} pairs connected at a time` +
        (pageCount > 1 ? ` (pairs spread evenly; Chromium refuses more than 500 RTCPeerConnections per page; all pages opened before rss_before)` : "") +
        "; rss = sum of VmRSS over the whole browser process tree (all descendants of the adapter; shared pages count once per process)",
    );
  }
  return parts.join("; ");
}

// --- main --------------------------------------------------------------------------------------

const opts = parseArgs(process.argv.slice(2));
const tmp = mkdtempSync(join(tmpdir(), `peerlink-e2e-${opts.browser}-`));
let browser = null;

// Closes the browser (bounded), kills any descendant left over, removes the profile.
async function cleanup() {
  if (browser) {
    const b = browser;
    browser = null;
    await Promise.race([b.close().catch(() => {}), sleep(10_000)]);
  }
  for (const p of descendants()) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  rmSync(tmp, { recursive: true, force: true });
}

async function fail(msg) {
  console.error(`e2e_browser: FAIL: ${msg}`);
  await cleanup();
  process.exit(1);
}

const watchdog = setTimeout(() => fail(`timeout after ${opts.timeout} s`), opts.timeout * 1000);
try {
  browser = await launchBrowser(opts.browser, tmp, opts.bind);
  const config = (probe, pageCount = 1) => {
    const text = configText(opts, browser, probe, pageCount);
    log("config:", text);
    return { type: "config", text };
  };
  await { t1: modeT1, t2: modeT2, t3: modeT3 }[opts.mode](opts, browser, config);
  clearTimeout(watchdog);
  await cleanup();
  process.exit(0);
} catch (e) {
  await fail(e.stack || e.message);
}
