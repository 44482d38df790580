/**
 * The dashboard in a real headless Chromium against the real chain (`owl-upstream run`,
 * `owl-relay run`, a v4 agent sending through the relay): it loads with no console error,
 * signs in with the API token kept in sessionStorage (never in the URL), shows the relay
 * connected and then down within 10 s of its SIGKILL without a reload, lists the host, and
 * draws the series whose points came through the relay, with exactly the points sent.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { UPLINK_PATH } from '../../protocol/index.js';
import {
  addRelay,
  bothEndsConnected,
  startRelayCli,
  startUpstreamCli,
  upstreamStats,
} from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';
import { closedPort } from '../helpers/upstream-check.js';
import { eventually } from '../helpers/agent-client.js';
import { launchBrowser, signIn, watchPage } from '../helpers/browser.js';
import { DashboardChain, sendThroughRelay, ZONE_TOKEN } from './chain.js';

const ZONE = 'zone-a';
const UUID = '9b2d5e7c4f1a4c3e8d6b0a1f2e3d4c5b';
const POINTS = 120;
/** The bound for a relay going down to show. */
const DOWN_WITHIN_MS = 10_000;

let browser: Browser;
test.before(async () => {
  browser = await launchBrowser();
});
test.after.always(async () => {
  await browser?.close();
});

test('the dashboard: sign in, relay up then down within 10 s, host, and a series drawn from points sent through a relay', async (t) => {
  const chain = await DashboardChain.start();
  t.teardown(() => chain.close());
  const { api } = chain.up;
  const token = api.token ?? '';
  const relay = await chain.startRelay(ZONE);
  const now = Date.now();
  const samples = Array.from({ length: POINTS }, (_, i) => ({
    metric: 'dash.load',
    value: Math.round(100 * (1 + Math.sin(i / 10))) / 100,
    timestamp_ms: now - (POINTS - i) * 15_000,
  }));
  await sendThroughRelay(relay, { uuid: UUID, hostname: 'web-1', ip: '10.1.0.7' }, samples);
  await eventually(async () => (await upstreamStats(api)).points === POINTS, 15_000, 'points stored', 100);

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'UTC' });
  t.teardown(() => context.close());
  const page = await context.newPage();
  const problems = watchPage(page);
  await signIn(page, api.port, token);
  t.false(page.url().includes(token), 'the token is not in the URL');
  t.is(await page.evaluate(() => sessionStorage.getItem('owl.apiToken')), token);

  // Zones → relays: connected, with the relay's RELAY_STATUS figures.
  const row = page.locator(`#relays tr[data-relay="${ZONE}"]`);
  await page.locator(`#relays tr[data-relay="${ZONE}"][data-connected="true"]`).waitFor();
  t.regex(
    (await row.locator('td').nth(4).textContent()) ?? '',
    /^\d/,
    'the version column shows the relay version',
  );
  t.is(await row.locator('td').nth(3).textContent(), '0', 'no drops');

  // Hosts: registered through the relay, in its zone, up.
  await page.locator('nav a[data-view=hosts]').click();
  const host = page.locator(`#hosts tr[data-uuid="${UUID}"][data-status="up"]`);
  await host.waitFor();
  t.is(await host.locator('td').nth(1).textContent(), ZONE);
  t.is(await host.locator('th').textContent(), 'web-1');

  // Series: listed with the zone the upstream stamped, drawn with every point sent.
  await page.locator('nav a[data-view=series]').click();
  await page.locator('#series-prefix').fill('dash.');
  const item = page.locator('#series-list button[data-metric="dash.load"]');
  await item.waitFor();
  t.regex((await item.getAttribute('data-tags')) ?? '', new RegExp(`zone=${ZONE}`));
  await item.click();
  await page.locator('#chart[data-state=drawn] canvas').waitFor();
  t.is(await page.locator('#chart').getAttribute('data-points'), String(POINTS));
  t.false(page.url().includes(token), 'the chosen series is in the URL, the token is not');

  // A reload keeps the session; the chosen series is drawn again from the hash.
  await page.reload();
  await page.locator('#chart[data-state=drawn] canvas').waitFor();
  t.is(await page.locator('#chart').getAttribute('data-points'), String(POINTS));

  // A custom range: the chart holds exactly the points sent within it.
  const fromMs = Math.floor((now - 10 * 60_000) / 60_000) * 60_000;
  const toMs = Math.floor((now + 60 * 60_000) / 60_000) * 60_000;
  const inRange = samples.filter((s) => s.timestamp_ms >= fromMs && s.timestamp_ms < toMs).length;
  t.true(inRange > 0 && inRange < POINTS);
  await page.locator('#series-range').selectOption('custom');
  await page.locator('#series-from').fill(new Date(fromMs).toISOString().slice(0, 16));
  await page.locator('#series-to').fill(new Date(toMs).toISOString().slice(0, 16));
  await page.locator(`#chart[data-points="${inRange}"]`).waitFor({ timeout: 5000 });
  t.regex(page.url(), /range=custom/);

  // Store figures.
  await page.locator('nav a[data-view=store]').click();
  await t.notThrowsAsync(
    page.locator(`[data-stat=points]`, { hasText: new RegExp(`^${POINTS}$`) }).waitFor({ timeout: 5000 }),
  );
  // No sinks in this chain: the page says so instead of an empty table.
  await page.locator('p', { hasText: 'No sinks configured' }).waitFor({ timeout: 5000 });
  t.true(await page.locator('#sinks').isHidden());

  // The relay dies: the page, left alone, shows it down within 10 s.
  await page.locator('nav a[data-view=relays]').click();
  await page.locator(`#relays tr[data-relay="${ZONE}"][data-connected="true"]`).waitFor();
  await relay.proc.kill();
  const killedAt = Date.now();
  await page
    .locator(`#relays tr[data-relay="${ZONE}"][data-connected="false"]`)
    .waitFor({ timeout: DOWN_WITHIN_MS });
  const shownAfter = Date.now() - killedAt;
  t.true(shownAfter < DOWN_WITHIN_MS, `down shown after ${shownAfter} ms`);
  t.log(`relay down shown ${shownAfter} ms after its SIGKILL`);
  t.is(await row.locator('td').first().textContent(), 'down');

  // Sign out forgets the token.
  await page.locator('#logout').click();
  await page.locator('#login').waitFor({ state: 'visible' });
  t.is(await page.evaluate(() => sessionStorage.getItem('owl.apiToken')), null);

  t.deepEqual(problems, [], 'no console error, page error or failed request');
});

test('a wrong token is refused at the login form and nothing is stored', async (t) => {
  const chain = await DashboardChain.start();
  t.teardown(() => chain.close());
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const page = await context.newPage();
  const problems = watchPage(page);
  await page.goto(`http://127.0.0.1:${chain.up.api.port}/`);
  await page.locator('#login-token').fill('not-the-token');
  await page.locator('#login-form button[type=submit]').click();
  await page.locator('#login-error', { hasText: 'That token was refused.' }).waitFor();
  t.true(await page.locator('#app').isHidden());
  t.is(await page.evaluate(() => sessionStorage.getItem('owl.apiToken')), null);
  t.is(new URL(page.url()).search, '', 'the form did not submit the token anywhere');
  // Chromium reports the refused check as a failed resource load; nothing else may go wrong.
  t.true(
    problems.every((p) => p.includes('401')),
    problems.join('\n'),
  );
});

test('the store page lists a sink that cannot be reached as down, its URL without credentials', async (t) => {
  const dir = tempDir('owl-dash-sink-');
  t.teardown(() => dir.remove());
  const port = await closedPort();
  const config = join(dir.path, 'upstream.json');
  writeFileSync(
    config,
    JSON.stringify({
      sinks: [{ name: 'vm', type: 'remote_write', url: `http://owl:s3cret@127.0.0.1:${port}/api/v1/write` }],
    }),
  );
  const up = await startUpstreamCli(join(dir.path, 'up'), 0, [], { config });
  t.teardown(() => up.proc.kill());
  // A sink is tried when there is something to send: one relay batch's worth.
  const token = await addRelay(up.api, 'zone-s');
  const relay = await startRelayCli({
    stateDir: join(dir.path, 'relay'),
    relayId: 'zone-s',
    token,
    upstreamUrl: `ws://127.0.0.1:${up.uplinkPort}${UPLINK_PATH}`,
    zoneToken: ZONE_TOKEN,
  });
  t.teardown(() => relay.proc.kill());
  await bothEndsConnected(up.api, relay, 'zone-s');
  await sendThroughRelay(relay, { uuid: UUID, hostname: 'web-9', ip: '10.1.0.9' }, [
    { metric: 'dash.sink', value: 1, timestamp_ms: Date.now() },
  ]);

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  t.teardown(() => context.close());
  const page = await context.newPage();
  await signIn(page, up.api.port, up.api.token ?? '');
  await page.locator('nav a[data-view=store]').click();
  const row = page.locator('#sinks tr[data-sink="vm"][data-state="down"]');
  await row.waitFor({ timeout: 20_000 });
  const text = (await row.textContent()) ?? '';
  t.regex(text, new RegExp(`127\\.0\\.0\\.1:${port}/api/v1/write`));
  t.false(text.includes('s3cret'), 'no password on the page');
  t.false(text.includes('owl:'), 'no user name either');
});
