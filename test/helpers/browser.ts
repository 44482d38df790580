/**
 * A real headless browser for dashboard tests: Debian's Chromium driven by playwright-core
 * (no browser download). `--no-sandbox` because CI runs as root. Every page is watched for
 * console errors and uncaught exceptions, which tests assert are absent.
 */
import { chromium, type Browser, type Page } from 'playwright-core';

/** The system browser (`.ci/run` installs Debian's chromium); OWL_CHROMIUM overrides. */
export const CHROMIUM = process.env['OWL_CHROMIUM'] ?? '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/** Console errors, uncaught exceptions and failed requests of `page`, as they happen. */
export function watchPage(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (r) =>
    problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`),
  );
  return problems;
}

/** Open the dashboard at `port` and sign in with `token` through its login form. */
export async function signIn(page: Page, port: number, token: string): Promise<void> {
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.locator('#login-token').fill(token);
  await page.locator('#login-form button[type=submit]').click();
  await page.locator('#app').waitFor({ state: 'visible' });
}
