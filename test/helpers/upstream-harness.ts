/** Start a real upstream on a temp state dir, every listener on 127.0.0.1:0. */
import { request } from 'node:http';
import { pino } from 'pino';
import {
  resolveUpstreamConfig,
  Upstream,
  type UpstreamConfigInput,
  type UpstreamStartOptions,
} from '../../upstream/index.js';

export async function startUpstream(
  stateDir: string,
  overrides: UpstreamConfigInput = {},
  options: UpstreamStartOptions = {},
): Promise<Upstream> {
  const config = resolveUpstreamConfig({
    metrics: { enabled: true, host: '127.0.0.1', port: 0 },
    stateDir,
    uplink: { host: '127.0.0.1', port: 0 },
    agents: [{ host: '127.0.0.1', port: 0 }],
    api: { host: '127.0.0.1', port: 0 },
    logLevel: 'silent',
    ...overrides,
  });
  return Upstream.start(config, {
    logger: pino({ level: process.env['OWL_TEST_LOG'] ?? 'silent' }),
    ...options,
  });
}

/** Call the operator API. */
export function api(
  up: Upstream,
  method: string,
  path: string,
  body?: unknown,
  token = up.apiToken,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: up.apiAddress.port,
        method,
        path,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, body: text === '' ? null : (JSON.parse(text) as unknown) });
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
