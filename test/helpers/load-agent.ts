/**
 * A v4 agent that keeps sending for load and crash tests: HELLO, then
 * SERIESBATCH seq 1, 2, … of one session with up to `window` batches not yet
 * ACKed. It remembers what was ACKed; after its connection drops (the relay
 * was killed) `connect()` to the new relay resends every un-ACKed batch with
 * the same session and seq, in order, then goes on. Batch contents are a pure
 * function of (uuid, session, seq), so a test can name every sample it expects.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import {
  defaultParser,
  encodePacket,
  FrameDecoder,
  PacketType,
  type BatchSample,
  type SeriesBatch,
} from '../../protocol/index.js';
import { WakeSignal } from './wake-signal.js';

export interface LoadAgentOptions {
  uuid: string;
  session: string;
  /** Samples per batch. */
  samples: number;
  /** Most batches sent and not ACKed. */
  window: number;
  /** Zone token for HELLO. */
  token?: string;
}

/** The id of sample `i` of batch `seq`: unique over agents, sessions and batches. */
export function sampleId(uuid: string, session: string, seq: number, i: number): string {
  return `${uuid}/${session}/${seq}/${i}`;
}

/** The SERIESBATCH body a LoadAgent sends for `seq`. */
export function loadBatch(uuid: string, session: string, seq: number, samples: number): SeriesBatch {
  const list: BatchSample[] = [];
  for (let i = 0; i < samples; i++) {
    list.push({
      metric: 'load.value',
      value: seq * 1000 + i,
      timestamp_ms: 1_700_000_000_000 + seq,
      tags: { id: sampleId(uuid, session, seq, i) },
    });
  }
  return { session, seq, samples: list };
}

export class LoadAgent {
  /** Seqs the relay ACKed. */
  readonly acked = new Set<number>();
  /** Next new seq to send. */
  nextSeq = 1;
  /** Send new batches only up to this seq (bounded load). */
  limit = 0;
  /** Batches sent, resends included. */
  sentTotal = 0;
  resentTotal = 0;
  duplicateAcks = 0;
  errors: string[] = [];
  /** Called on every ACK, before anything else happens (a test may kill the relay right there). */
  onAck: ((seq: number) => void) | undefined;
  private socket: Socket | undefined;
  private ready = false;
  private inFlight = 0;
  private readonly signal = new WakeSignal();

  constructor(readonly options: LoadAgentOptions) {}

  get connected(): boolean {
    return this.ready;
  }

  /** Seqs sent at least once and not ACKed. */
  unacked(): number[] {
    const out: number[] = [];
    for (let seq = 1; seq < this.nextSeq; seq++) if (!this.acked.has(seq)) out.push(seq);
    return out;
  }

  /** Connect, HELLO, resend un-ACKed batches, then keep sending up to `limit`. */
  async connect(port: number): Promise<void> {
    this.socket?.destroy();
    const socket = connect({ port, host: '127.0.0.1' });
    this.socket = socket;
    this.ready = false;
    this.inFlight = 0;
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
        this.errors.push(String(err));
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        const packet = defaultParser.parse(frame);
        if (packet.type === PacketType.HELLO) helloSeen = true;
        else if (packet.type === PacketType.ACK)
          this.handleAck(socket, packet.body.seq, packet.body.duplicate);
        else if (packet.type === PacketType.ERROR) this.errors.push(packet.body.code);
      }
      this.signal.wake();
    });
    socket.on('close', () => {
      if (this.socket === socket) this.ready = false;
      this.signal.wake();
    });
    socket.write(
      encodePacket(PacketType.HELLO, {
        version: 1,
        features: ['batch', 'ack'],
        uuid: this.options.uuid,
        ...(this.options.token === undefined ? {} : { token: this.options.token }),
      }),
    );
    await this.until(() => helloSeen || socket.destroyed, 10_000, 'HELLO answer');
    if (!helloSeen) throw new Error(`relay closed the connection: ${this.errors.join(', ')}`);
    this.ready = true;
    for (const seq of this.unacked()) {
      this.write(socket, seq);
      this.resentTotal++;
    }
    this.pump();
  }

  /** Raise the send limit to `limit` and send. */
  sendUpTo(limit: number): void {
    this.limit = Math.max(this.limit, limit);
    this.pump();
  }

  /** Wait until every batch up to `limit` was sent and ACKed. */
  async allAcked(ms = 20_000): Promise<void> {
    await this.until(
      () => this.nextSeq > this.limit && this.acked.size >= this.limit,
      ms,
      `${this.options.uuid}: all ${this.limit} batches ACKed`,
    );
  }

  /** Wait for `predicate` (re-checked on every packet and close). */
  async until(predicate: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`${what} not met within ${ms} ms (acked ${this.acked.size}, next ${this.nextSeq})`);
      await this.signal.sleep(Math.min(left, 100));
    }
  }

  close(): void {
    this.ready = false;
    this.socket?.destroy();
  }

  private handleAck(socket: Socket, seq: number, duplicate: boolean | undefined): void {
    if (duplicate === true) this.duplicateAcks++;
    this.acked.add(seq);
    this.onAck?.(seq);
    if (socket === this.socket && this.inFlight > 0) this.inFlight--;
    this.pump();
  }

  private pump(): void {
    const socket = this.socket;
    if (!this.ready || socket === undefined || socket.destroyed) return;
    while (this.inFlight < this.options.window && this.nextSeq <= this.limit) {
      this.write(socket, this.nextSeq++);
    }
  }

  private write(socket: Socket, seq: number): void {
    const { uuid, session, samples } = this.options;
    socket.write(encodePacket(PacketType.SERIESBATCH, loadBatch(uuid, session, seq, samples)));
    this.inFlight++;
    this.sentTotal++;
  }
}
