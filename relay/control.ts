/**
 * Local control endpoint: HTTP over a Unix socket in the state directory
 * (`<stateDir>/relay.sock`), so `owl-relay status` works without opening a
 * network port; file permissions decide who may ask.
 */
import { createServer, request, type Server } from 'node:http';
import { once } from 'node:events';
import { chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { RelayStatus } from './metrics.js';

function controlSocketPath(stateDir: string): string {
  return join(stateDir, 'relay.sock');
}

export async function startControlServer(stateDir: string, status: () => RelayStatus): Promise<Server> {
  const path = controlSocketPath(stateDir);
  // A socket file left by a killed relay would make listen() fail.
  rmSync(path, { force: true });
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status()));
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(path);
  await once(server, 'listening');
  chmodSync(path, 0o600);
  return server;
}

/** Ask the relay whose state is in `stateDir` for its status; rejects when it is not running. */
export function fetchStatus(stateDir: string, timeoutMs = 3000): Promise<RelayStatus> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: controlSocketPath(stateDir), path: '/status', timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString()) as RelayStatus);
          } catch (err) {
            reject(err as Error);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('relay did not answer')));
    req.on('error', reject);
    req.end();
  });
}
