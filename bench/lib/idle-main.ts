/**
 * Idle agent connections, in their own process: opens connections spread
 * over loopback source addresses (127.1.x.y), each sending one HELLO (a v4
 * agent between batches) and, against a relay, waiting for its HELLO answer;
 * then holds them without sending anything.
 *
 *   node --import tsx bench/lib/idle-main.ts '{"port":N,"sources":100,"waitHello":true}'
 *
 * Stdin: `open <n>` → `OPENED <n> <ms>`; `close` (end() every connection,
 * wait for every close) → `CLOSED <ms>`; `status`. Stdout: `READY`.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { agentIdentity, helloFrame, sourceAddress } from './agents.js';
import { serveCommands } from './child.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as { port: number; sources?: number; waitHello?: boolean };
const sources = opts.sources ?? 100;
let sockets: Socket[] = [];
let opened = 0;
const errors: string[] = [];

async function openOne(i: number): Promise<Socket> {
  const socket = connect({ port: opts.port, host: '127.0.0.1', localAddress: sourceAddress(i, sources) });
  socket.on('error', (err) => {
    if (errors.length < 20) errors.push(`${i}: ${err.message}`);
  });
  await once(socket, 'connect');
  const answered = opts.waitHello === true ? once(socket, 'data') : undefined;
  socket.write(helloFrame(agentIdentity(i).uuid));
  if (answered !== undefined) {
    const timer = setTimeout(() => socket.destroy(new Error('no HELLO answer in 15 s')), 15_000);
    await answered;
    clearTimeout(timer);
  }
  return socket;
}

process.stdout.write('READY\n');
serveCommands(
  {
    open: async (arg) => {
      const n = Number(arg);
      const t0 = Date.now();
      for (let i = 0; i < n; i += 400) {
        const group = [];
        for (let j = i; j < Math.min(n, i + 400); j++) group.push(openOne(opened + j));
        sockets.push(...(await Promise.all(group)));
      }
      opened += n;
      process.stdout.write(`OPENED ${sockets.length} ${Date.now() - t0}\n`);
    },
    close: async () => {
      const t0 = Date.now();
      const closed = sockets.map((s) => (s.closed ? Promise.resolve() : once(s, 'close')));
      for (const s of sockets) s.end();
      const timer = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, 15_000);
      await Promise.all(closed);
      clearTimeout(timer);
      sockets = [];
      process.stdout.write(`CLOSED ${Date.now() - t0}\n`);
    },
    status: () => {
      process.stdout.write(`STATUS ${JSON.stringify({ open: sockets.length, errors })}\n`);
    },
  },
  () => {
    for (const s of sockets) s.destroy();
  },
);
