/**
 * The baseline peer, in its own process: a bare `net` server that only
 * counts bytes (mode 'count'), or that also answers just enough of v4 for a
 * v4 generator to keep going (mode 'v4': HELLO back, and an ACK per
 * SERIESBATCH with the session and seq cut from the body's first bytes, no
 * JSON parse). It shows what the load generator (or a plain socket) costs
 * with no relay in between.
 *
 *   node --import tsx bench/lib/sink-main.ts '{"mode":"count"|"v4"}'
 *
 * Stdout: `READY <port>`; `STATUS {"now","connections","bytes","frames"}`.
 */
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { encodePacket, PacketType } from '../../protocol/index.js';
import { serveCommands } from './child.js';

const { mode } = JSON.parse(process.argv[2] ?? '{}') as { mode?: 'count' | 'v4' };
let connections = 0;
let bytes = 0;
let frames = 0;
const HELLO = encodePacket(PacketType.HELLO, { version: 1, features: ['batch', 'ack'] });
const SEQ = /"session":"([^"]*)","seq":(\d+)/;

function v4Peer(socket: Socket): void {
  // Header bytes of the frame being read, and how many body bytes are left to skip.
  let header = Buffer.alloc(0);
  let need = 0;
  let type = -1;
  let head = '';
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    let at = 0;
    while (at < chunk.length) {
      if (need === 0) {
        const take = Math.min(5 - header.length, chunk.length - at);
        header = Buffer.concat([header, chunk.subarray(at, at + take)]);
        at += take;
        if (header.length < 5) return;
        need = header.readUInt32BE(0) - 1;
        type = header[4] as number;
        header = Buffer.alloc(0);
        head = '';
        if (need === 0) frames++;
        if (need === 0 && type === PacketType.HELLO) socket.write(HELLO);
        continue;
      }
      const take = Math.min(need, chunk.length - at);
      if (type === PacketType.SERIESBATCH && head.length < 200)
        head += chunk.toString('latin1', at, at + Math.min(take, 200));
      at += take;
      need -= take;
      if (need > 0) continue;
      frames++;
      if (type === PacketType.HELLO) socket.write(HELLO);
      else if (type === PacketType.SERIESBATCH) {
        const m = SEQ.exec(head);
        if (m !== null)
          socket.write(encodePacket(PacketType.ACK, { session: m[1] as string, seq: Number(m[2]) }));
      }
    }
  });
}

const server = createServer({ allowHalfOpen: false }, (socket) => {
  connections++;
  socket.on('error', () => undefined);
  socket.on('close', () => connections--);
  if (mode === 'v4') v4Peer(socket);
  else
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
});
server.maxConnections = 100_000;
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
await once(server, 'listening');
process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`);

serveCommands(
  {
    status: () => {
      process.stdout.write(`STATUS ${JSON.stringify({ now: Date.now(), connections, bytes, frames })}\n`);
    },
    gc: () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      process.stdout.write(`GC ${gc === undefined ? 'unavailable' : 'done'}\n`);
    },
  },
  () => new Promise<void>((resolve) => server.close(() => resolve())),
);
