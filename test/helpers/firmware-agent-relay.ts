/**
 * A small scripted relay for the agent's firmware tests, speaking the real frame protocol
 * (protocol/ encoder, decoder and parser): answers HELLO listing `firmware`, ACKs every
 * SERIESBATCH, answers FWCHECK with FWOFFER (the bundle set by the test, or null) and serves
 * FWCHUNKREQ from the bundle's file. It records every FWCHECK and FWCHUNKREQ, and can stall
 * (stop answering chunk requests) after a number of chunks, to catch an agent mid-download.
 */
import { open } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import {
  defaultParser,
  encodePacket,
  FrameDecoder,
  PacketType,
  type FirmwareCheck,
  type FirmwareChunkRequest,
  type Packet,
} from '../../protocol/index.js';
import type { TestBundle } from './firmware-agent-bundles.js';

export interface FakeRelayOptions {
  /** Features in the HELLO reply (default batch, ack, firmware). */
  features?: string[];
}

export class FirmwareAgentRelay {
  readonly checks: FirmwareCheck[] = [];
  readonly chunkRequests: FirmwareChunkRequest[] = [];
  acked = 0;
  /** What FWOFFER offers (null: nothing). */
  offer: TestBundle | null = null;
  /** Chunk requests answered before the relay goes silent on them (Infinity: never). */
  stallAfter = Infinity;
  chunksServed = 0;
  /** Most chunk requests ever waiting for their answer at once on a connection (1: one in flight). */
  maxOutstanding = 0;
  /** Packets from the agent the real parser refused (a test asserts none). */
  readonly parseErrors: string[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly features: string[],
  ) {
    server.on('connection', (socket) => this.serve(socket));
  }

  static async start(o: FakeRelayOptions = {}): Promise<FirmwareAgentRelay> {
    const server = createServer();
    const relay = new FirmwareAgentRelay(server, o.features ?? ['batch', 'ack', 'firmware']);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The latest FWCHECK, if any. */
  get lastCheck(): FirmwareCheck | undefined {
    return this.checks[this.checks.length - 1];
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder();
    // Answers go out in the order the requests came, even where one reads a file.
    let queue = Promise.resolve();
    let outstanding = 0;
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        let packet: Packet;
        try {
          packet = defaultParser.parse(frame);
        } catch (err) {
          this.parseErrors.push(`type ${frame.type}: ${(err as Error).message}`);
          continue;
        }
        const chunkRequest = packet.type === PacketType.FWCHUNKREQ;
        if (chunkRequest) this.maxOutstanding = Math.max(this.maxOutstanding, ++outstanding);
        queue = queue
          .then(() => this.answer(socket, packet))
          .then(() => void (chunkRequest && outstanding--))
          .catch(() => void socket.destroy());
      }
    });
  }

  private async answer(socket: Socket, p: Packet): Promise<void> {
    switch (p.type) {
      case PacketType.HELLO:
        socket.write(encodePacket(PacketType.HELLO, { version: 1, features: this.features }));
        return;
      case PacketType.SERIESBATCH:
        this.acked++;
        socket.write(encodePacket(PacketType.ACK, { session: p.body.session, seq: p.body.seq }));
        return;
      case PacketType.FWCHECK: {
        this.checks.push(p.body);
        const b = this.offer;
        socket.write(
          encodePacket(PacketType.FWOFFER, {
            bundle: b ? { id: b.id, version: b.version, size: b.size } : null,
          }),
        );
        return;
      }
      case PacketType.FWCHUNKREQ:
        this.chunkRequests.push(p.body);
        if (this.chunksServed >= this.stallAfter) return;
        this.chunksServed++;
        socket.write(encodePacket(PacketType.FWCHUNK, await this.chunk(p.body)));
        return;
    }
  }

  private async chunk(r: FirmwareChunkRequest) {
    const b = this.offer;
    if (!b || b.id !== r.bundle) {
      return {
        id: r.id,
        bundle: r.bundle,
        offset: r.offset,
        code: 'OWL_ERR_FIRMWARE_UNKNOWN_BUNDLE',
        message: 'not cached',
      };
    }
    const fh = await open(b.file, 'r');
    try {
      const data = Buffer.alloc(Math.max(0, Math.min(r.length, b.size - r.offset)));
      await fh.read(data, 0, data.length, r.offset);
      return { id: r.id, bundle: r.bundle, offset: r.offset, data: data.toString('base64') };
    } finally {
      await fh.close();
    }
  }
}
