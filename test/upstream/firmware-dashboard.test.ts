/**
 * The dashboard's Firmware page in a real headless Chromium against a real upstream (in process):
 * the published bundle with the relays it is offered to, and each relay's and agent's version,
 * state, last failure and refusal as a (scripted) relay reported them; a new report shows without
 * a reload; no console error.
 */
import test from 'ava';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { FirmwareUnitReport } from '../../protocol/index.js';
import { launchBrowser, signIn, watchPage } from '../helpers/browser.js';
import { testBundle, testKey } from '../helpers/firmware-upstream-bundles.js';
import { tempDir } from '../helpers/relay-harness.js';
import { callApi } from '../helpers/upstream-api.js';
import { startUpstream } from '../helpers/upstream-harness.js';
import { UplinkTestClient } from '../helpers/upstream-uplink-client.js';

const AGENT = '9b2d5e7c4f1a4c3e8d6b0a1f2e3d4c5b';

let browser: Browser;
test.before(async () => {
  browser = await launchBrowser();
});
test.after.always(async () => {
  await browser?.close();
});

test('the Firmware page: publications, and each unit with its state, failure and refusal, refreshed live', async (t) => {
  const dir = tempDir('owl-fw-dash-');
  t.teardown(() => dir.remove());
  const up = await startUpstream(join(dir.path, 'up'));
  t.teardown(() => up.stop());
  const api = { port: up.apiAddress.port, token: up.apiToken };
  const token = ((await callApi(api, 'POST', '/api/v1/relays', { id: 'zone-a' })).body as { token: string })
    .token;
  const b = await testBundle(dir.path, testKey(dir.path), { program: 'owl-agent', version: '1.5.0' });
  t.is((await callApi(api, 'POST', '/api/v1/firmware?zones=*&percent=25', b.bytes)).status, 201);
  const { client } = await UplinkTestClient.open(
    `ws://127.0.0.1:${up.uplinkAddress.port}`,
    'zone-a',
    token,
    'sp',
  );
  t.teardown(() => client.terminate());
  const relayUnit: FirmwareUnitReport = {
    program: 'owl-relay',
    version: '1.4.2',
    arch: 'amd64',
    state: 'committed',
    refused: {
      bundle: 'c'.repeat(64),
      version: '1.5.0',
      code: 'OWL_ERR_FIRMWARE_UNKNOWN_KEY',
      message: 'key 0123 is not pinned',
      at: 1,
    },
    t: 1,
  };
  const agentUnit: FirmwareUnitReport = {
    program: 'owl-agent',
    uuid: AGENT,
    version: '1.4.2',
    arch: 'amd64',
    state: 'rolled-back',
    lastFailure: {
      code: 'OWL_ERR_FIRMWARE_HEALTH_TIMEOUT',
      reason: 'not healthy within 120 s',
      version: '1.5.0',
      at: 2,
    },
    download: { bundle: b.id, version: '1.5.0', bytes: b.bytes.length, size: b.bytes.length },
    t: 2,
  };
  client.send({ type: 'FIRMWARE_REPORT', body: { units: [relayUnit, agentUnit] } });

  const context = await browser.newContext({ viewport: { width: 1400, height: 800 } });
  t.teardown(() => context.close());
  const page = await context.newPage();
  const problems = watchPage(page);
  await signIn(page, api.port, api.token);
  await page.locator('nav a[data-view=firmware]').click();

  const pub = page.locator(`#firmware-publications tr[data-bundle="${b.id}"]`);
  await pub.waitFor();
  const pubText = (await pub.textContent()) ?? '';
  t.regex(pubText, /owl-agent/);
  t.regex(pubText, /1\.5\.0/);
  t.regex(pubText, /25 %/);
  t.regex(pubText, /zone-a/, 'offered to zone-a');

  const relayRow = page.locator('#firmware-units tr[data-unit="zone-a"][data-state="committed"]');
  await relayRow.waitFor();
  t.regex(
    (await relayRow.locator('[data-field=refused]').textContent()) ?? '',
    /OWL_ERR_FIRMWARE_UNKNOWN_KEY: key 0123/,
  );
  const agentRow = page.locator(`#firmware-units tr[data-unit="${AGENT}"][data-state="rolled-back"]`);
  await agentRow.waitFor();
  t.regex((await agentRow.textContent()) ?? '', /agent via zone-a/);
  t.regex((await agentRow.textContent()) ?? '', /1\.5\.0: 100 %/);
  t.regex(
    (await agentRow.locator('[data-field=failure]').textContent()) ?? '',
    /OWL_ERR_FIRMWARE_HEALTH_TIMEOUT: not healthy within 120 s/,
  );

  // The relay starts a trial of a new version: shown at the next refresh, no reload.
  client.send({
    type: 'FIRMWARE_REPORT',
    body: { units: [{ ...relayUnit, state: 'trial', pendingVersion: '1.5.0', t: 3 }] },
  });
  await page
    .locator('#firmware-units tr[data-unit="zone-a"][data-state="trial"]')
    .waitFor({ timeout: 10_000 });
  t.deepEqual(problems, [], 'no console error, page error or failed request');
});
