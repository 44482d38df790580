/** A minimal agent for tests: real TCP, real frames, waits with deadlines (no sleeps). */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import {
  defaultParser,
  encodeFrame,
  encodePacket,
  FrameDecoder,
  type Packet,
  type PacketBodies,
  type PacketType,
} from '../../protocol/index.js';
import { WakeSignal } from './wake-signal.js';

export class TestAgent {
  readonly received: Packet[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder();
  private readonly signal = new WakeSignal();

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.decoder.push(chunk)) this.received.push(defaultParser.parse(frame));
      this.signal.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.signal.wake();
    });
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<TestAgent> {
    const socket = connect({ port, host });
    await once(socket, 'connect');
    return new TestAgent(socket);
  }

  send<T extends PacketType>(type: T, body: PacketBodies[T]): boolean {
    return this.socket.write(encodePacket(type, body));
  }

  sendRaw(bytes: Buffer | string): boolean {
    return this.socket.write(bytes);
  }

  sendFrame(type: number, body: string): boolean {
    return this.socket.write(encodeFrame(type, body));
  }

  /** Wait until `predicate` holds over what was received (or the connection closed), within `ms`. */
  async until(predicate: (agent: TestAgent) => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`condition not met within ${ms} ms (received ${this.received.length})`);
      await this.signal.sleep(left);
    }
  }

  /** Wait for the first packet of `type` not yet taken; returns it. */
  async next<T extends PacketType>(type: T, ms = 10_000): Promise<{ type: T; body: PacketBodies[T] }> {
    await this.until((a) => a.received.some((p) => p.type === type), ms);
    const i = this.received.findIndex((p) => p.type === type);
    return this.received.splice(i, 1)[0] as unknown as { type: T; body: PacketBodies[T] };
  }

  async waitClosed(ms = 10_000): Promise<void> {
    await this.until((a) => a.closed, ms);
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * Poll `check` until it returns true, within `ms`. For state that emits no event. `everyMs`:
 * longer for checks that ask another process (an API call, a status socket).
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = 'condition',
  everyMs = 10,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
