/**
 * A scriptable agent-side peer for robustness tests: a raw TCP socket that can
 * send any bytes (bad frames, half frames, floods), bind a chosen local
 * address (`127.0.0.2` etc. to look like another host), stop reading, and
 * records everything the relay sends back and how the relay closed.
 * Waits are event driven with deadlines; nothing here sleeps.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import {
  defaultParser,
  encodePacket,
  FrameDecoder,
  PacketType,
  type ErrorBody,
  type Packet,
  type PacketBodies,
} from '../../protocol/index.js';
import { WakeSignal } from './wake-signal.js';

export interface PeerOptions {
  /** Relay host to dial (default 127.0.0.1). */
  host?: string;
  /** Local address to bind, e.g. 127.0.0.2 (Linux routes all of 127/8 to lo). */
  localAddress?: string;
  /** Connect timeout (default 10 s). */
  connectMs?: number;
}

export class RawPeer {
  /** Every packet the relay sent, in order. */
  readonly received: Packet[] = [];
  /** Packets received per type (kept as they arrive, so waiting on a count stays cheap). */
  readonly counts = new Map<number, number>();
  bytesReceived = 0;
  /** Set when the relay sent bytes that are not valid OWL packets. */
  garbage: Error | undefined;
  /** The relay half-closed (we saw its FIN). */
  gotEnd = false;
  closed = false;
  /** The socket closed with an error (e.g. ECONNRESET). */
  closeError: Error | undefined;
  /** Date.now() at connect and at close. */
  readonly connectedAt: number;
  closedAt: number | undefined;
  private readonly decoder = new FrameDecoder();
  private readonly signal = new WakeSignal();

  private constructor(readonly socket: Socket) {
    this.connectedAt = Date.now();
    socket.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      if (this.garbage === undefined) {
        try {
          for (const frame of this.decoder.push(chunk)) {
            const packet = defaultParser.parse(frame);
            this.received.push(packet);
            this.counts.set(packet.type, (this.counts.get(packet.type) ?? 0) + 1);
          }
        } catch (err) {
          this.garbage = err as Error;
        }
      }
      this.signal.wake();
    });
    socket.on('end', () => {
      this.gotEnd = true;
      this.signal.wake();
    });
    socket.on('error', (err) => {
      this.closeError = err;
    });
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
      this.signal.wake();
    });
  }

  static async connect(port: number, options: PeerOptions = {}): Promise<RawPeer> {
    const socket = connect({
      port,
      host: options.host ?? '127.0.0.1',
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    socket.setNoDelay(true);
    const timer = setTimeout(
      () => socket.destroy(new Error('connect timed out')),
      options.connectMs ?? 10_000,
    );
    try {
      await once(socket, 'connect');
    } finally {
      clearTimeout(timer);
    }
    return new RawPeer(socket);
  }

  /** Write bytes; resolves when they were handed to the kernel (the write callback), or on error. */
  write(bytes: Buffer | string): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || !this.socket.writable) return resolve();
      this.socket.write(bytes, () => resolve());
    });
  }

  /** Write one packet. */
  send<T extends PacketType>(type: T, body: PacketBodies[T]): Promise<void> {
    return this.write(encodePacket(type, body));
  }

  /** Open a v4 session: HELLO, then wait for the relay's HELLO. */
  async hello(token: string | undefined, uuid?: string, ms = 10_000): Promise<void> {
    await this.send(PacketType.HELLO, {
      version: 1,
      features: ['batch', 'ack'],
      ...(uuid === undefined ? {} : { uuid }),
      ...(token === undefined ? {} : { token }),
    });
    const answered = (p: RawPeer): boolean => p.received.some((x) => x.type === PacketType.HELLO);
    await this.until((p) => answered(p) || p.closed, ms, 'HELLO reply');
    if (!answered(this)) {
      throw new Error(`no HELLO reply; closed with ${JSON.stringify(this.errors())}`);
    }
  }

  /** Number of packets of `type` received so far. */
  countOf(type: PacketType): number {
    return this.counts.get(type) ?? 0;
  }

  /** ERROR packets received so far. */
  errors(): ErrorBody[] {
    return this.received.flatMap((p) => (p.type === PacketType.ERROR ? [p.body] : []));
  }

  /** ACKs received so far. */
  acks(): PacketBodies[typeof PacketType.ACK][] {
    return this.received.flatMap((p) => (p.type === PacketType.ACK ? [p.body] : []));
  }

  /** Wait until `predicate` holds (checked on every arrival and on close), within `ms`. */
  async until(predicate: (peer: RawPeer) => boolean, ms = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate(this)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `${what} not met within ${ms} ms (received ${this.received.length} packets, closed=${this.closed})`,
        );
      }
      await this.signal.sleep(left);
    }
  }

  async waitClosed(ms = 10_000): Promise<void> {
    await this.until((p) => p.closed, ms, 'connection closed');
  }

  /** Stop reading: what the relay sends piles up in the kernel buffers. */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A frame header claiming `n` bytes follow (type byte + body), with nothing after it. */
export function frameHeader(n: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(n, 0);
  return header;
}

/** `count` copies of `frame` in one buffer (one write puts them all on the wire). */
export function repeatFrame(frame: Buffer, count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, () => frame));
}
