// What every harness that launches Debian's headless Firefox ESR shares: the firefox interop
// test (firefox_interop.mjs) and the end-to-end bench (bench/e2e/browser/e2e_browser.mjs).
export const FIREFOX = "/usr/bin/firefox-esr";

// Firefox takes no Chromium switches; puppeteer adds --headless, --profile and
// --remote-debugging-port. These preferences do the rest: no background traffic.
export const BASE_PREFS = {
  "app.update.enabled": false,
  "browser.shell.checkDefaultBrowser": false,
  "datareporting.policy.dataSubmissionEnabled": false,
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "toolkit.telemetry.enabled": false,
};
