/**
 * `owl-agent status` asks the running agent over a Unix socket in its state
 * directory (`agent.sock`, mode 0600): connect, read one JSON document, done.
 * Plain net rather than HTTP: node:http would cost the agent a few MiB of
 * RSS for one request a day.
 */
import { once } from 'node:events';
import { chmod, rm } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';

export function statusSocketPath(stateDir: string): string {
  return join(stateDir, 'agent.sock');
}

export async function startStatusSocket(stateDir: string, status: () => unknown): Promise<Server> {
  const path = statusSocketPath(stateDir);
  await rm(path, { force: true }); // left by a killed agent; the state dir is ours alone
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.end(JSON.stringify(status()));
  });
  server.listen(path);
  await once(server, 'listening');
  await chmod(path, 0o600);
  server.unref();
  return server;
}

/** The running agent's status; rejects when no agent answers on `stateDir`. */
export function fetchAgentStatus(stateDir: string, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect(statusSocketPath(stateDir));
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString()));
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}
