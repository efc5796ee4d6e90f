// Our PeerConnection (examples/echo_server) against libdatachannel, through its Node binding
// node-datachannel (npm, pinned here; its prebuilt linux-x64 libdatachannel comes with it), both
// roles, using the binding's W3C-style RTCPeerConnection (node-datachannel/polyfill).
//
//   node ndc_interop.mjs ECHO_SERVER_BINARY offerer|answerer
//
// The role names OUR peer's role:
//   answerer: libdatachannel offers (with a reliable ordered channel "chat"), echo_server answers.
//   offerer:  echo_server offers (with its channel "echo"), libdatachannel answers.
// Both sides trickle: libdatachannel's candidates go to echo_server one JSON line each, then the
// end-of-candidates line; echo_server's description carries all of its candidates.
// libdatachannel sends messages of 0 B, 1 B, 1 KiB, 16 KiB and 64 KiB, text and binary;
// echo_server sends each back, and the SHA-256 over all sent messages (in order, tagged with
// type and length) must equal the one over all echoes. Then the channel matrix of the browser
// tests (../common/echo_harness.mjs, runChannelMatrix: unordered, maxRetransmits 0, lifetime
// 100 ms, negotiated, ten at once with the connection's largest message, close from either
// side). Exit 0 on success.
//
// Network: loopback only. echo_server binds 127.0.0.1 and libdatachannel's ICE (libjuice)
// binds 127.0.0.1 (bindAddress), with no STUN server.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  EchoServer,
  MESSAGE_SIZES,
  TIMEOUT_MS,
  checkEchoes,
  fail,
  payloads,
  requireExecutables,
  runChannelMatrix,
  runTest,
  toPageForm,
  portsFilter,
  withTimeout,
  WireTrace,
} from "../common/echo_harness.mjs";

// node-datachannel is resolved from this directory's node_modules (npm ci, pinned by
// package-lock.json).
const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), "package.json"));
const { RTCPeerConnection } = require("node-datachannel/polyfill");
const ndc = require("node-datachannel");

const LOOPBACK = "127.0.0.1";

// A received message as a string (text) or a Buffer (binary).
const received = (data) => (typeof data === "string" ? data : Buffer.from(data));

// Collects `count` messages from `ch` (resolves with them), from now on.
function collect(ch, count, ms, what) {
  const got = [];
  return withTimeout(
    new Promise((resolve) => {
      ch.onmessage = (e) => {
        got.push(received(e.data));
        if (got.length === count) resolve(got);
      };
      if (count === 0) resolve(got);
    }),
    ms,
    `${what}: ${count} echoes`,
  );
}

function waitOpen(ch, ms, what) {
  return withTimeout(
    new Promise((resolve) => (ch.readyState === "open" ? resolve() : ch.addEventListener("open", () => resolve()))),
    ms,
    what,
  );
}

// Forwards libdatachannel's trickled candidates (and the end-of-candidates mark) to echo_server,
// holding them back until flush(): they can come before echo_server has the description.
function trickle(pc, server) {
  let queue = [];
  pc.onicecandidate = (e) => {
    const c = e.candidate;
    const line = c && c.candidate ? { candidate: c.candidate, sdpMid: c.sdpMid ?? "0" } : { candidate: "", sdpMid: "0" };
    if (queue) queue.push(line);
    else server.send(line);
  };
  return () => {
    for (const line of queue) server.send(line);
    queue = null;
  };
}

// The channel matrix (../common/echo_harness.mjs, runChannelMatrix) with libdatachannel channels.
function ndcDriver(pc) {
  const channels = {};
  const fromPageForm = (m) => (m.t === "text" ? m.d : Buffer.from(m.d, "base64"));
  const openOne = async (spec, messages, ms, max) => {
    const ch = pc.createDataChannel(spec.label, spec.init);
    ch.binaryType = "arraybuffer";
    channels[spec.label] = ch;
    const sent = messages.map(fromPageForm);
    if (spec.maxSize) sent.push(Buffer.from(Uint8Array.from({ length: max }, (_, i) => (i * 13) & 0xff)));
    await waitOpen(ch, ms, `channel ${spec.label} to open`);
    const echoes = collect(ch, sent.length, ms, spec.label);
    for (const m of sent) ch.send(m);
    const got = await echoes;
    const { id, ordered, maxRetransmits, maxPacketLifeTime, negotiated } = ch;
    return [spec.label, { id, ordered, maxRetransmits, maxPacketLifeTime, negotiated, echoes: got.map(toPageForm) }];
  };
  return {
    async matrix(specs, messages, ms, concurrent) {
      const max = pc.sctp ? pc.sctp.maxMessageSize : 65536;
      const results = [];
      if (concurrent) results.push(...(await Promise.all(specs.map((s) => openOne(s, messages, ms, max)))));
      else for (const spec of specs) results.push(await openOne(spec, messages, ms, max));
      return { maxMessageSize: max, channels: Object.fromEntries(results) };
    },
    closeChannel: (label) => channels[label].close(),
    async waitClosed(label, ms) {
      const ch = channels[label];
      if (ch.readyState !== "closed") {
        await withTimeout(new Promise((resolve) => ch.addEventListener("close", () => resolve())), ms, `${label} to close`);
      }
      return ch.readyState;
    },
  };
}

async function run(binary, role) {
  // The STUN traffic on lo, printed (echo_server's ports only) if the test fails.
  const trace = new WireTrace(null, "lo");
  await trace.ready;
  const ourSdps = [];
  // An error event from echo_server fails the step waiting for it.
  const server = new EchoServer(binary, { bind: LOOPBACK, offer: role === "offerer", rejectOnError: true });
  const pc = new RTCPeerConnection({ iceServers: [], bindAddress: LOOPBACK });
  try {
    let opened;
    if (role === "answerer") {
      const channel = pc.createDataChannel("chat", { ordered: true });
      opened = new Promise((resolve) => channel.addEventListener("open", () => resolve(channel)));
      const flush = trickle(pc, server);
      await pc.setLocalDescription(await pc.createOffer());
      server.send({ type: "offer", sdp: pc.localDescription.sdp });
      flush();
      const answer = await withTimeout(server.next("answer"), TIMEOUT_MS, "echo_server's answer");
      ourSdps.push(answer.sdp);
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    } else {
      opened = new Promise((resolve) => {
        pc.ondatachannel = (e) => {
          const ch = e.channel;
          if (ch.readyState === "open") resolve(ch);
          else ch.addEventListener("open", () => resolve(ch));
        };
      });
      const offer = await withTimeout(server.next("offer"), TIMEOUT_MS, "echo_server's offer");
      ourSdps.push(offer.sdp);
      await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
      const flush = trickle(pc, server);
      await pc.setLocalDescription(await pc.createAnswer());
      server.send({ type: "answer", sdp: pc.localDescription.sdp });
      flush();
    }
    const channel = await withTimeout(opened, TIMEOUT_MS, "the data channel to open");
    channel.binaryType = "arraybuffer";
    if (channel.ordered === false) fail("channel is not ordered");
    console.log(`channel '${channel.label}' open (our peer: ${role})`);
    const sent = payloads(MESSAGE_SIZES);
    const echoes = collect(channel, sent.length, TIMEOUT_MS, channel.label);
    for (const m of sent) channel.send(m);
    checkEchoes(sent, await echoes);
    await runChannelMatrix(ndcDriver(pc), server);
    if (server.errors.length) fail("echo_server reported: " + server.errors.join("; "));
  } catch (e) {
    trace.dump(150, portsFilter(ourSdps, LOOPBACK));
    throw e;
  } finally {
    trace.stop();
    pc.close();
    server.proc.stdin.end();
    const exited = await withTimeout(server.exited, 5000, "echo_server to exit").catch(() => null);
    if (!exited) server.proc.kill("SIGKILL");
    else console.log(`echo_server exited with code ${exited.code}`);
    ndc.cleanup();
  }
}

const [binary, role] = process.argv.slice(2);
if (!binary || !["offerer", "answerer"].includes(role)) {
  console.error("usage: node ndc_interop.mjs ECHO_SERVER_BINARY offerer|answerer");
  process.exit(2);
}
requireExecutables([binary]);
await runTest(() => run(binary, role), TIMEOUT_MS + 20_000);
