// Launching Debian's headless Chromium inside a network namespace, shared by the Chromium echo
// harness (chromium_interop.mjs) and the y-webrtc browser harness (../ywebrtc/ywebrtc_browser.mjs).
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const CHROMIUM = "/usr/bin/chromium";

// The headless flags of issue 4 ("Interop matrix"); Playwright adds --user-data-dir and its own
// automation switches.
export const HEADLESS_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// Plain host candidates instead of random `.local` names.
export const NO_MDNS_FLAG = "--disable-features=WebRtcHideLocalIpsWithMdns";

// A script in `dir` that runs Chromium inside netns `ns` (Playwright's executablePath; it talks
// to the browser over inherited pipes, which `ip netns exec` keeps).
export function chromiumInNetns(dir, ns) {
  const wrapper = join(dir, "chromium-in-netns.sh");
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return wrapper;
}
