/**
 * A v4 agent that keeps sending for load and crash tests: HELLO, then
 * SERIESBATCH seq 1, 2, … of one session with up to `window` batches not yet
 * ACKed. It remembers what was ACKed; after its connection drops (the relay
 * was killed) `connect()` to the new relay resends every un-ACKed batch with
 * the same session and seq, in order, then goes on. Batch contents are a pure
 * function of (uuid, session, seq), so a test can name every sample it expects.
 *
 * Opt-in, as docs/protocol.md 7.3 asks of an agent: with `reconnectMs` it
 * reconnects by itself (with backoff) whenever its connection drops, e.g.
 * after an ERROR such as OWL_ERR_OVERLOADED, and resends; with `ackTimeoutMs`
 * it drops a connection on which its oldest un-ACKed batch waits too long.
 * Without them it only reconnects when a test calls `connect()`.
 */
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { encodePacket, PacketType, type BatchSample, type SeriesBatch } from '../../protocol/index.js';
import { helloLink } from './hello-link.js';
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
  /** Give every sample a tag of 40 hex digits that hardly compress (see loadBatch). */
  noise?: boolean;
  /**
   * Reconnect by itself after the connection drops (not after close()): first after this many
   * ms, doubling up to 16 times that; an ACK resets it.
   */
  reconnectMs?: number;
  /** Drop the connection when the oldest batch sent on it has had no ACK for this long. */
  ackTimeoutMs?: number;
  /** Batch `seq`'s samples are at this + seq ms (default 2023-11-14, 1_700_000_000_000). */
  timestampBaseMs?: number;
}

/** The id of sample `i` of batch `seq`: unique over agents, sessions and batches. */
export function sampleId(uuid: string, session: string, seq: number, i: number): string {
  return `${uuid}/${session}/${seq}/${i}`;
}

/**
 * The SERIESBATCH body a LoadAgent sends for `seq`. With `noise`, each sample
 * also carries tag `n`: the SHA-1 of its id in hex, still a pure function of
 * (uuid, session, seq, i), but close to incompressible, so that a test can
 * fill a small spool with few batches.
 */
export function loadBatch(
  uuid: string,
  session: string,
  seq: number,
  samples: number,
  noise = false,
  timestampBaseMs = 1_700_000_000_000,
): SeriesBatch {
  const list: BatchSample[] = [];
  for (let i = 0; i < samples; i++) {
    const id = sampleId(uuid, session, seq, i);
    list.push({
      metric: 'load.value',
      value: seq * 1000 + i,
      timestamp_ms: timestampBaseMs + seq,
      tags: noise ? { id, n: createHash('sha1').update(id).digest('hex') } : { id },
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
  /** Connections that got their HELLO answer. */
  connects = 0;
  /** Connections dropped because an ACK took longer than `ackTimeoutMs`. */
  ackTimeouts = 0;
  /** Called on every ACK, before anything else happens (a test may kill the relay right there). */
  onAck: ((seq: number) => void) | undefined;
  private socket: Socket | undefined;
  private ready = false;
  private inFlight = 0;
  private readonly signal = new WakeSignal();
  private port = 0;
  private stopped = false;
  private readonly retry: { timer: NodeJS.Timeout | undefined; attempt: number } = {
    timer: undefined,
    attempt: 0,
  };
  /** Batches sent on the current connection and not ACKed → when sent (insertion order = send order). */
  private readonly sentAt = new Map<number, number>();
  private ackTimer: NodeJS.Timeout | undefined;

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
    this.port = port;
    this.stopped = false;
    clearTimeout(this.retry.timer);
    this.retry.timer = undefined;
    this.socket?.destroy();
    const socket = connect({ port, host: '127.0.0.1' });
    this.socket = socket;
    this.ready = false;
    this.inFlight = 0;
    this.sentAt.clear();
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const answered = await helloLink(
      socket,
      {
        version: 1,
        features: ['batch', 'ack'],
        uuid: this.options.uuid,
        ...(this.options.token === undefined ? {} : { token: this.options.token }),
      },
      {
        ack: (s, seq, duplicate) => this.handleAck(s, seq, duplicate),
        error: (text) => this.errors.push(text),
        close: (s) => {
          if (this.socket !== s) return;
          this.ready = false;
          this.scheduleReconnect();
        },
        wake: () => this.signal.wake(),
      },
      (predicate, ms, what) => this.until(predicate, ms, what),
    );
    if (!answered) throw new Error(`relay closed the connection: ${this.errors.join(', ')}`);
    this.ready = true;
    this.connects++;
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
    this.stopped = true;
    this.ready = false;
    clearTimeout(this.retry.timer);
    clearTimeout(this.ackTimer);
    this.socket?.destroy();
  }

  private handleAck(socket: Socket, seq: number, duplicate: boolean | undefined): void {
    if (duplicate === true) this.duplicateAcks++;
    this.acked.add(seq);
    this.onAck?.(seq);
    if (socket === this.socket) {
      if (this.inFlight > 0) this.inFlight--;
      this.sentAt.delete(seq);
      this.retry.attempt = 0;
    }
    this.pump();
  }

  /** With `reconnectMs`: connect again after a backoff, unless closed or already scheduled. */
  private scheduleReconnect(): void {
    const base = this.options.reconnectMs;
    if (base === undefined || this.stopped || this.retry.timer !== undefined) return;
    const delay = base * 2 ** Math.min(this.retry.attempt++, 4);
    this.retry.timer = setTimeout(() => {
      this.retry.timer = undefined;
      // A refused or failed attempt closes its socket, which schedules the next one.
      this.connect(this.port).catch(() => this.scheduleReconnect());
    }, delay);
  }

  /** With `ackTimeoutMs`: drop the connection once its oldest un-ACKed batch has waited that long. */
  private armAckTimer(socket: Socket): void {
    const timeout = this.options.ackTimeoutMs;
    if (timeout === undefined || this.ackTimer !== undefined) return;
    const oldest = this.sentAt.values().next();
    if (oldest.done === true) return;
    this.ackTimer = setTimeout(
      () => {
        this.ackTimer = undefined;
        if (socket !== this.socket || socket.destroyed) return;
        const first = this.sentAt.values().next();
        if (first.done === true) return;
        if (Date.now() - first.value < timeout) return this.armAckTimer(socket);
        this.ackTimeouts++;
        socket.destroy();
      },
      Math.max(0, oldest.value + timeout - Date.now()),
    );
  }

  private pump(): void {
    const socket = this.socket;
    if (!this.ready || socket === undefined || socket.destroyed) return;
    while (this.inFlight < this.options.window && this.nextSeq <= this.limit) {
      this.write(socket, this.nextSeq++);
    }
  }

  private write(socket: Socket, seq: number): void {
    const { uuid, session, samples, noise, timestampBaseMs } = this.options;
    const body = loadBatch(uuid, session, seq, samples, noise, timestampBaseMs);
    socket.write(encodePacket(PacketType.SERIESBATCH, body));
    this.inFlight++;
    this.sentTotal++;
    if (!this.sentAt.has(seq)) this.sentAt.set(seq, Date.now());
    this.armAckTimer(socket);
  }
}
