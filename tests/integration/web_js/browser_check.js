// Drive the status page in a real headless Chromium (the system's /usr/bin/chromium through
// playwright-core): wait for the live stream, collect what the page shows, watch values update,
// click a relay button, take screenshots at 1280 px and 360 px. Prints one JSON line.
// Usage: node browser_check.js URL RELAY REFUSED_RELAY OUTDIR
'use strict';
const {chromium} = require('playwright-core');
const path = require('path');
const fs = require('fs');
const [url, relay, refusedRelay, outdir] = process.argv.slice(2);

(async () => {
  const profile = fs.mkdtempSync(path.join(outdir, 'profile-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: {width: 1280, height: 900}});
  const result = {errors: []};
  try {
    const page = browser.pages()[0] || await browser.newPage();
    page.on('pageerror', (e) => result.errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') result.errors.push(m.text()); });
    await page.goto(url);
    await page.waitForSelector('#live.ok', {timeout: 10000});
    const snapshot = () => page.evaluate(() => ({
      sensors: Array.from(document.querySelectorAll('[data-sensor]')).map((c) => ({
        name: c.dataset.sensor,
        values: Object.fromEntries(Array.from(c.querySelectorAll('.val')).map(
          (v) => [v.id, v.textContent])),
        plotted: Array.from(c.querySelectorAll('polyline')).filter(
          (p) => (p.getAttribute('points') || '').trim()).length})),
      relays: Array.from(document.querySelectorAll('[data-relay-card]')).map((c) => ({
        name: c.dataset.relayCard,
        state: c.querySelector('[id$="-state"]').textContent,
        buttons: Array.from(c.querySelectorAll('button')).map((b) => b.textContent)})),
      updated: document.body.dataset.updated || null,
      sections: Array.from(document.querySelectorAll('main > section h2')).map((h) => h.textContent)}));
    result.first = await snapshot();
    // values update without a reload: wait until some sensor value on the page changed
    const firstValues = JSON.stringify(result.first.sensors.map((s) => s.values));
    await page.waitForFunction((before) => JSON.stringify(Array.from(
      document.querySelectorAll('[data-sensor]')).map((c) => Object.fromEntries(Array.from(
        c.querySelectorAll('.val')).map((v) => [v.id, v.textContent])))) !== before,
      firstValues, {timeout: 15000});
    result.second = await snapshot();
    // switch the relay from the page
    const before = result.second.relays.find((r) => r.name === relay).state;
    const want = before === 'ON' ? 'OFF' : 'ON';
    await page.click(`button[data-relay="${relay}"][data-cmd="${want}"]`);
    await page.waitForFunction(([id, s]) => document.getElementById(id).textContent === s,
                               [`r-${relay}-state`, want], {timeout: 10000});
    result.switchedTo = want;
    result.message = await page.textContent(`#r-${relay}-msg`);
    // a refused command shows its reason on the page
    await page.click(`button[data-relay="${refusedRelay}"][data-cmd="ON"]`);
    await page.waitForFunction((id) => !['', '…'].includes(document.getElementById(id).textContent),
                               `r-${refusedRelay}-msg`, {timeout: 10000});
    result.refusal = await page.textContent(`#r-${refusedRelay}-msg`);
    await page.waitForFunction(() => Array.from(document.querySelectorAll('polyline')).some(
      (p) => (p.getAttribute('points') || '').trim()), null, {timeout: 40000});
    result.third = await snapshot();
    await page.screenshot({path: path.join(outdir, 'status-1280.png'), fullPage: true});
    await page.setViewportSize({width: 360, height: 800});
    await page.waitForTimeout(300);
    result.phoneScrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    await page.screenshot({path: path.join(outdir, 'status-360.png'), fullPage: true});
  } catch (e) {
    result.error = String(e);
  } finally {
    await browser.close();
    fs.rmSync(profile, {recursive: true, force: true});
  }
  console.log(JSON.stringify(result));
})();
