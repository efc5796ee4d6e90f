// Room-password interop between y-webrtc's own crypto (npm y-webrtc 10.3.0, src/crypto.js, run
// under Node's WebCrypto) and peerlink's C++ (src/signaling/room_crypto.*), through
// ywebrtc_crypto_tool. Usage: node ywebrtc_crypto_interop.mjs <path to ywebrtc_crypto_tool>
// Needs `npm ci` in this directory (scripts/install-deps.sh does it); fails if it was not run.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const cryptoJs = join(here, 'node_modules', 'y-webrtc', 'src', 'crypto.js')
if (!existsSync(cryptoJs)) {
  console.error(`FAIL: ${cryptoJs} missing. Run scripts/install-deps.sh (or: cd ${here} && npm ci).`)
  process.exit(1)
}
const tool = process.argv[2]
if (!tool || !existsSync(tool)) {
  console.error(`FAIL: usage: node ywebrtc_crypto_interop.mjs <ywebrtc_crypto_tool>; got ${tool}`)
  process.exit(1)
}
// y-webrtc's package exports only its entry point, so load the crypto module by path; it imports
// lib0 from the same node_modules.
const ycrypto = await import(pathToFileURL(cryptoJs).href)
const buffer = await import(pathToFileURL(join(here, 'node_modules', 'lib0', 'buffer.js')).href)

const room = 'peerlink-interop-räum'
const password = 'correct horse battery staple ✓'
const wrongPassword = 'correct horse battery stapler'

function runTool (op, pw, input) {
  const r = spawnSync(tool, [op, room, pw], { input: input ?? '', encoding: 'utf8', timeout: 30000 })
  if (r.error) throw r.error
  return r
}

// The messages y-webrtc publishes (y-webrtc.js: announceSignalingInfo, WebrtcConn 'signal').
const peerA = crypto.randomUUID()
const peerB = crypto.randomUUID()
const sdp = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n' +
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n' +
  'a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 ' +
  '12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0\r\n' +
  'a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n'
const messages = [
  { type: 'announce', from: peerA },
  { to: peerB, from: peerA, type: 'signal', token: Date.now() + Math.random(), signal: { type: 'offer', sdp } },
  { to: peerA, from: peerB, type: 'signal', token: Date.now() + Math.random(), signal: { type: 'answer', sdp } },
  {
    to: peerB,
    from: peerA,
    type: 'signal',
    token: Date.now() + Math.random(),
    signal: { type: 'candidate', candidate: { candidate: 'candidate:842163049 1 udp 1677729535 198.51.100.7 61665 typ srflx raddr 0.0.0.0 rport 0 generation 0', sdpMLineIndex: 0, sdpMid: '0' } }
  },
  { to: peerB, from: peerA, type: 'signal', token: 42, signal: { type: 'renegotiate', renegotiate: true } }
]

let checks = 0
const key = await ycrypto.deriveKey(password, room)
const wrongKey = await ycrypto.deriveKey(wrongPassword, room)

// Same key bytes from both PBKDF2 implementations.
{
  const raw = Buffer.from(await crypto.subtle.exportKey('raw', key)).toString('hex')
  const r = runTool('derive', password)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), raw, 'derived keys differ')
  checks++
}

for (const m of messages) {
  // (a) y-webrtc encrypts (publishSignalingMessage with room.key), C++ decrypts.
  const sealed = await ycrypto.encryptJson(m, key)
  const publish = JSON.stringify({ type: 'publish', topic: room, data: buffer.toBase64(sealed) })
  const a = runTool('open-publish', password, publish)
  assert.equal(a.status, 0, `C++ failed to open y-webrtc's ${m.type}: ${a.stderr}`)
  assert.deepStrictEqual(JSON.parse(a.stdout), m)
  checks++

  // (b) C++ encrypts, y-webrtc decrypts (as SignalingConn's 'publish' handler does).
  const b = runTool('seal-publish', password, JSON.stringify(m))
  assert.equal(b.status, 0, `C++ failed to seal ${m.type}: ${b.stderr}`)
  const outer = JSON.parse(b.stdout)
  assert.equal(outer.type, 'publish')
  assert.equal(outer.topic, room)
  assert.equal(typeof outer.data, 'string')
  const opened = await ycrypto.decryptJson(buffer.fromBase64(outer.data), key)
  assert.deepStrictEqual(opened, m)
  checks++

  // (c) wrong password fails on both sides.
  const c1 = runTool('open-publish', wrongPassword, publish)
  assert.equal(c1.status, 2, `C++ must refuse a wrong password, got status ${c1.status}: ${c1.stdout}`)
  assert.match(c1.stderr, /wrong room password/)
  await assert.rejects(ycrypto.decryptJson(buffer.fromBase64(outer.data), wrongKey))
  checks++

  // Tampering: flip one ciphertext bit in y-webrtc's box; C++ must reject it.
  const tampered = new Uint8Array(sealed)
  tampered[tampered.length - 5] ^= 1
  const t = runTool('open-publish', password,
    JSON.stringify({ type: 'publish', topic: room, data: buffer.toBase64(tampered) }))
  assert.equal(t.status, 2, `C++ must refuse a tampered box: ${t.stderr}`)
  checks++
}

console.log(`ok: ${checks} y-webrtc <-> peerlink room-crypto checks passed`)
