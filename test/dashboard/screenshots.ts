/**
 * Screenshots of each dashboard page for docs/ (docs/dashboard-*.png), from the real chain:
 * an upstream, three relays (one killed, to show a zone down), six hosts sending two hours of
 * four metrics through them, and a host added by the operator that never reported.
 *
 *   npx tsx test/dashboard/screenshots.ts
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { BatchSample } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import { launchBrowser, signIn, watchPage } from '../helpers/browser.js';
import { upstreamStats } from '../helpers/owl-cli.js';
import { callApi } from '../helpers/upstream-api.js';
import { DashboardChain, sendThroughRelay } from './chain.js';

const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const HOSTS: Record<string, string[]> = {
  'zone-a': ['web-1', 'web-2', 'db-1'],
  'zone-b': ['edge-1', 'edge-2'],
  'zone-c': ['lab-1'],
};
const METRICS = ['cpu.user', 'cpu.system', 'mem.used_pct', 'load.1'];
const POINTS = 240;
const STEP_MS = 30_000;

/** A smooth, seeded walk: the same pictures each run. */
function walk(seed: number, base: number, spread: number): number[] {
  let x = seed;
  const rand = (): number => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
  let v = base;
  return Array.from({ length: POINTS }, (_, i) => {
    v = Math.max(0, v + rand() * spread * 0.3 + (base - v) * 0.05);
    return Math.round((v + spread * 0.4 * Math.sin(i / 25 + seed)) * 100) / 100;
  });
}

async function main(): Promise<void> {
  const chain = await DashboardChain.start();
  const browser = await launchBrowser();
  try {
    const now = Math.floor(Date.now() / STEP_MS) * STEP_MS;
    let n = 0;
    let seed = 7;
    for (const [zone, hosts] of Object.entries(HOSTS)) {
      const relay = await chain.startRelay(zone);
      for (const hostname of hosts) {
        const uuid = createHash('md5').update(hostname).digest('hex');
        const samples: BatchSample[] = METRICS.flatMap((metric, m) =>
          walk(seed++, [22, 6, 61, 1.2][m] as number, [18, 5, 12, 1][m] as number).map((value, i) => ({
            metric,
            value,
            timestamp_ms: now - (POINTS - 1 - i) * STEP_MS,
          })),
        );
        await sendThroughRelay(
          relay,
          { uuid, hostname, ip: `10.0.${Object.keys(HOSTS).indexOf(zone)}.${10 + n++}` },
          samples,
        );
      }
    }
    await callApi(chain.up.api, 'POST', '/api/v1/hosts', {
      uuid: 'f00dfeed00000000000000000000beef',
      hostname: 'printer-7',
    });
    const total = n * METRICS.length * POINTS;
    await eventually(async () => (await upstreamStats(chain.up.api)).points === total, 30_000, 'stored', 200);
    await chain.relays.get('zone-c')?.proc.kill();

    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const problems = watchPage(page);
    const shot = (name: string): Promise<Buffer> => page.screenshot({ path: `${DOCS}dashboard-${name}.png` });
    await page.goto(`http://127.0.0.1:${chain.up.api.port}/`);
    await page.locator('#login-token').waitFor();
    await shot('login');
    await signIn(page, chain.up.api.port, chain.up.api.token ?? '');
    await page.locator('#relays tr[data-relay="zone-c"][data-connected="false"]').waitFor();
    await shot('relays');
    await page.locator('nav a[data-view=hosts]').click();
    await page.locator('#hosts tbody tr').nth(6).waitFor();
    await shot('hosts');
    await page.locator('nav a[data-view=series]').click();
    await page.locator('#series-prefix').fill('cpu.');
    await page.locator('#series-list button[data-metric="cpu.user"]').first().click();
    await page.locator('#series-range').selectOption('6h');
    await page.locator('#chart[data-state=drawn] canvas').waitFor();
    await shot('series');
    await page.locator('nav a[data-view=store]').click();
    await page.locator('[data-stat=rate]', { hasText: '/s' }).waitFor();
    await shot('store');
    if (problems.length > 0) throw new Error(`the page had problems:\n${problems.join('\n')}`);
    console.log(`docs/dashboard-{login,relays,hosts,series,store}.png from ${total} points`);
  } finally {
    await browser.close();
    await chain.close();
  }
}

await main();
