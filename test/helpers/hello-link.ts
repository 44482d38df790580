/**
 * The v4 side of a test agent's connection (LoadAgent, NoisyAgent): HELLO,
 * then the relay's packets decoded and handed on (ACKs, ERROR codes). Shared
 * so that both agents speak the handshake the same way; what they send after
 * it, and how they count ACKs, stays theirs.
 */
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { defaultParser, encodePacket, FrameDecoder, PacketType, type Hello } from '../../protocol/index.js';

export interface HelloLinkEvents {
  /** An ACK arrived on `socket`. */
  ack(socket: Socket, seq: number, duplicate: boolean | undefined): void;
  /** An ERROR packet's code, or why the relay's bytes could not be decoded (then the socket is destroyed). */
  error(text: string): void;
  /** `socket` closed. */
  close(socket: Socket): void;
  /** After every read and close: waiters re-check. */
  wake(): void;
}

/**
 * Once `socket` (just made with net.connect) connects: listen, send HELLO, and wait (with the
 * agent's `until`) for the relay's answer. True once answered; false when the relay closed first.
 */
export async function helloLink(
  socket: Socket,
  hello: Hello,
  events: HelloLinkEvents,
  until: (predicate: () => boolean, ms: number, what: string) => Promise<void>,
): Promise<boolean> {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const decoder = new FrameDecoder();
  let helloSeen = false;
  socket.on('data', (chunk: Buffer) => {
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch (err) {
      events.error(String(err));
      socket.destroy();
      return;
    }
    for (const frame of frames) {
      const packet = defaultParser.parse(frame);
      if (packet.type === PacketType.HELLO) helloSeen = true;
      else if (packet.type === PacketType.ACK) events.ack(socket, packet.body.seq, packet.body.duplicate);
      else if (packet.type === PacketType.ERROR) events.error(packet.body.code);
    }
    events.wake();
  });
  socket.on('close', () => {
    events.close(socket);
    events.wake();
  });
  socket.write(encodePacket(PacketType.HELLO, hello));
  await until(() => helloSeen || socket.destroyed, 10_000, 'HELLO answer');
  return helloSeen;
}
