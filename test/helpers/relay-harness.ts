/** Start a real relay on a temp state dir, listening on 127.0.0.1:0, with fast test timings. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Relay, resolveRelayConfig, TEST_BACKOFF, type RelayConfigInput } from '../../relay/index.js';

export const RELAY_ID = 'zone-a';
export const RELAY_TOKEN = 'relay-secret-token';

export function tempDir(prefix = 'owl-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export async function startRelay(
  upstreamUrl: string,
  stateDir: string,
  overrides: RelayConfigInput = {},
): Promise<{ relay: Relay; port: number }> {
  const config = resolveRelayConfig({
    metrics: { port: 0 },
    relayId: RELAY_ID,
    token: RELAY_TOKEN,
    upstreams: [upstreamUrl],
    stateDir,
    listen: [{ host: '127.0.0.1', port: 0 }],
    logLevel: 'silent',
    ...overrides,
    batch: { lingerMs: 5, ...overrides.batch },
  });
  const relay = await Relay.start(config, {
    logger: pino({ level: process.env['OWL_TEST_LOG'] ?? 'silent' }),
    backoff: TEST_BACKOFF,
    slowRetryMs: 200,
  });
  const port = relay.addresses[0]?.port ?? 0;
  return { relay, port };
}
