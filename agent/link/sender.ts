/**
 * The agent's side of docs/protocol.md §7: keep one session with the nearest
 * reachable relay and move the buffer's batches over it until each is ACKed.
 *
 * Nearest: every (re)connect races all configured relays; the first whose
 * session is ready wins and the others are closed, so the one that answers
 * fastest is used. The connect time of each is kept; while the agent is on
 * another relay it probes the fastest one every `probeMs` and moves back
 * when it answers (half-close first, so the relay sends its last ACKs).
 *
 * Nothing lost: batches are sent from the durable buffer, oldest first, at
 * most `windowBatches` unacknowledged; after any reconnect every unACKed
 * batch is resent with its seq (the relay answers stored ones as
 * duplicates). An ACK that does not come within `ackTimeoutMs` closes the
 * connection. A batch the relay rejects for its content twice is dropped
 * and counted, so it cannot block the ones behind it (§6.1).
 *
 * In a v3 session (a v3 proxy or server) the batch goes as SERIESDATA and
 * counts as delivered once written: v3 has no ACKs.
 */
import {
  Backoff,
  encodeFrame,
  encodeJsonFrame,
  encodePacket,
  ErrorCode,
  PacketType,
  type ErrorBody,
  type Host,
  type HostConfigRequest,
  type PacketBodies,
  type TimerHandle,
  type Timers,
} from '../../protocol/wire/index.js';
import type { BatchLog, BufferedBatch } from '../buffer/batch-log.js';
import { AgentErrorCode } from '../errors.js';
import { FIRMWARE_FEATURE, type FirmwarePacket } from '../firmware/index.js';
import type { AgentLogger } from '../log.js';
import type { RelayAddress } from './address.js';
import { RelayConnection, type CloseReason, type SessionMode } from './connection.js';
import { probeConnect } from './probe.js';
import { seriesDataFrames } from './v3-frames.js';

export interface SenderOptions {
  relays: RelayAddress[];
  uuid: string;
  token?: string;
  agent: string;
  log: BatchLog;
  timers: Timers;
  logger: AgentLogger;
  /** The HOSTCONFIG body, built fresh for each request (the local IP is the connection's). */
  hostConfigRequest(localIp: string | undefined): HostConfigRequest;
  onHostConfig(host: Host): void;
  onVersion(version: string): void;
  /**
   * Relays that answered HELLO before (kept by the agent across restarts): for them a missing
   * HELLO answer is a stalled relay or a partition, never a v3 peer, so the agent does not fall
   * back to v3, whose writes nothing acknowledges.
   */
  knownV4?: Iterable<string>;
  onKnownV4?(labels: string[]): void;
  /** The firmware updater's ears: sessions with a relay that serves bundles, its packets, ACKs. */
  firmware?: FirmwareHooks;
  windowBatches?: number;
  ackTimeoutMs?: number;
  heartbeatMs?: number;
  hostUpdateMs?: number;
  connectTimeoutMs?: number;
  helloTimeoutMs?: number;
  probeMs?: number;
  backoff?: { initialMs: number; maxMs: number };
}

export interface SenderStatus {
  relay: string | null;
  mode: SessionMode | null;
  connectedAt: number | null;
  inFlight: number;
  /** Per relay, ms to a ready session when last measured. */
  readyMs: Record<string, number>;
  acked: number;
  duplicates: number;
  rejectedBatches: number;
  lastError: string | null;
}

export interface FirmwareHooks {
  /** A v4 session with a relay listing `firmware` is up (true), or it ended (false). */
  session(up: boolean): void;
  packet(packet: FirmwarePacket): void;
  /** A batch was acknowledged (the health commit waits for the first). */
  acked(): void;
}

/** Codes about a batch's content: resending it as is would be refused again. */
const CONTENT_CODES = new Set<string>([
  ErrorCode.BAD_JSON,
  ErrorCode.EMPTY_BODY,
  ErrorCode.TOO_DEEP,
  ErrorCode.BAD_FIELD,
  ErrorCode.STRING_TOO_LONG,
  ErrorCode.TOO_MANY_ITEMS,
]);

export class Sender {
  private link: RelayConnection | undefined;
  private attempts = new Set<RelayConnection>();
  /** Per relay, ms from connect to a ready session at the last race: the nearest is the smallest. */
  private readonly distance = new Map<string, number>();
  /** Relays that refused HELLO: spoken to in v3 from then on. */
  private readonly v3Relays = new Set<string>();
  private readonly knownV4: Set<string>;
  private readonly inFlight = new Map<number, number>();
  private sentUpTo = 0;
  private cursor: IterableIterator<BufferedBatch> | undefined;
  private pumping = false;
  private stopped = false;
  private connectedAt: number | null = null;
  private readonly timersHeld: TimerHandle[] = [];
  private retry: TimerHandle | undefined;
  private ackTimer: TimerHandle | undefined;
  private readonly backoff: Backoff;
  private readonly counts = { acked: 0, duplicates: 0, rejectedBatches: 0 };
  private lastError: string | null = null;
  private unreachableLogged = false;
  private rejected: { seq: number; times: number } | undefined;
  private readonly pendingInventory = new Map<number, Buffer>();
  private stopWaiter: (() => void) | undefined;

  constructor(private readonly o: SenderOptions) {
    this.knownV4 = new Set(o.knownV4 ?? []);
    const b = o.backoff ?? { initialMs: 1000, maxMs: 60_000 };
    this.backoff = new Backoff({ ...b, factor: 2, minMs: Math.min(250, b.initialMs) });
  }

  start(): void {
    this.connectAll();
  }

  /** A batch was appended to the buffer: send it if a session is up. */
  wake(): void {
    void this.pump();
  }

  /** Send an inventory packet (ports, assets) now or on the next session; the latest of each type wins. */
  sendInventory<T extends typeof PacketType.PORTDISCOVERYR | typeof PacketType.ASSESTDISCOVERY>(
    type: T,
    body: PacketBodies[T],
  ): void {
    const frame = encodePacket(type, body);
    if (this.link?.mode) this.link.send(frame);
    else this.pendingInventory.set(type, frame);
  }

  /** Send a firmware packet (19, 21) when the session's relay serves bundles; false otherwise. */
  sendFirmware(type: number, body: unknown): boolean {
    const link = this.link;
    if (link?.mode !== 'v4' || !link.features.includes(FIRMWARE_FEATURE)) return false;
    link.send(encodeJsonFrame(type, body));
    return true;
  }

  status(): SenderStatus {
    return {
      relay: this.link?.mode ? this.link.address.label : null,
      mode: this.link?.mode ?? null,
      connectedAt: this.connectedAt,
      inFlight: this.inFlight.size,
      readyMs: Object.fromEntries(this.distance),
      ...this.counts,
      lastError: this.lastError,
    };
  }

  /** Stop: half-close so the relay sends the ACKs it owes, wait up to `graceMs`, then close. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true;
    for (const t of this.timersHeld) this.o.timers.clearInterval(t);
    this.o.timers.clearTimeout(this.retry);
    this.o.timers.clearTimeout(this.ackTimer);
    for (const a of this.attempts) if (a !== this.link) a.close(undefined, 'agent stopping');
    const link = this.link;
    if (!link) return;
    if (link.mode === 'v4' && this.inFlight.size > 0) {
      const closed = new Promise<void>((resolve) => (this.stopWaiter = resolve));
      link.end();
      const t = this.o.timers.setTimeout(() => link.close(undefined, 'agent stopping'), graceMs);
      await closed;
      this.o.timers.clearTimeout(t);
    } else {
      link.close(undefined, 'agent stopping');
    }
  }

  // ---- connecting ------------------------------------------------------------------

  private connectAll(): void {
    if (this.stopped || this.link || this.attempts.size > 0) return;
    for (const relay of this.o.relays) {
      const protocol = this.v3Relays.has(relay.label)
        ? 'v3'
        : this.knownV4.has(relay.label)
          ? 'v4'
          : relay.protocol;
      const address = protocol === relay.protocol ? relay : { ...relay, protocol };
      const conn: RelayConnection = new RelayConnection(
        address,
        {
          uuid: this.o.uuid,
          ...(this.o.token ? { token: this.o.token } : {}),
          agent: this.o.agent,
          timers: this.o.timers,
          connectTimeoutMs: this.o.connectTimeoutMs ?? 5000,
          helloTimeoutMs: this.o.helloTimeoutMs ?? 10_000,
        },
        {
          ready: (mode) => this.onReady(conn, mode),
          hostConfig: (host) => conn === this.link && this.o.onHostConfig(host),
          version: (v) => conn === this.link && this.o.onVersion(v),
          ack: (ack) => conn === this.link && this.onAck(ack.session, ack.seq, ack.duplicate === true),
          peerError: (body) => this.onPeerError(conn, body),
          drain: () => conn === this.link && void this.pump(),
          firmware: (p) => conn === this.link && this.o.firmware?.packet(p),
          closed: (reason) => this.onClosed(conn, reason),
        },
      );
      this.attempts.add(conn);
    }
  }

  private onReady(conn: RelayConnection, mode: SessionMode): void {
    this.distance.set(conn.address.label, conn.readyMs!);
    if (this.link || this.stopped) return conn.close(undefined, 'another relay answered first');
    this.link = conn;
    for (const other of this.attempts) {
      if (other === conn) continue;
      // Not ready yet: at least this far, so a stale better figure does not pull the agent back.
      const atLeast = this.o.timers.now() - other.startedAt;
      if ((this.distance.get(other.address.label) ?? 0) < atLeast)
        this.distance.set(other.address.label, atLeast);
      other.close(undefined, 'another relay answered first');
    }
    this.attempts.clear();
    this.connectedAt = this.o.timers.now();
    if (mode === 'v4' && !this.knownV4.has(conn.address.label)) {
      this.knownV4.add(conn.address.label);
      this.o.onKnownV4?.([...this.knownV4]);
    }
    this.unreachableLogged = false;
    if (mode === 'v3') this.backoff.reset();
    this.o.logger.info({ relay: conn.address.label, mode, readyMs: conn.readyMs }, 'connected to relay');
    this.sendHostConfig();
    for (const frame of this.pendingInventory.values()) conn.send(frame);
    this.pendingInventory.clear();
    this.startSessionTimers();
    void this.pump();
    if (mode === 'v4' && conn.features.includes(FIRMWARE_FEATURE)) this.o.firmware?.session(true);
  }

  private startSessionTimers(): void {
    const t = this.o.timers;
    this.timersHeld.push(
      t.setInterval(
        () => this.link?.sendPacket(PacketType.HOSTHB, { uuid: this.o.uuid }),
        this.o.heartbeatMs ?? 30_000,
      ),
      t.setInterval(() => this.sendHostConfig(), this.o.hostUpdateMs ?? 300_000),
      t.setInterval(() => void this.probeNearest(), this.o.probeMs ?? 60_000),
    );
  }

  private sendHostConfig(): void {
    const link = this.link;
    if (!link) return;
    link.sendPacket(PacketType.HOSTCONFIG, this.o.hostConfigRequest(link.localAddress));
    link.sendPacket(PacketType.CLIENTVERSION, null);
  }

  private onClosed(conn: RelayConnection, reason: CloseReason): void {
    this.attempts.delete(conn);
    if (reason.helloRefused && conn.address.protocol === 'auto' && !this.knownV4.has(conn.address.label)) {
      this.v3Relays.add(conn.address.label);
    }
    if (conn !== this.link) {
      if (!this.link && this.attempts.size === 0) this.scheduleRetry(reason);
      return;
    }
    this.link = undefined;
    this.connectedAt = null;
    for (const t of this.timersHeld) this.o.timers.clearInterval(t);
    this.timersHeld.length = 0;
    this.o.timers.clearTimeout(this.ackTimer);
    this.inFlight.clear();
    this.sentUpTo = 0;
    this.cursor = undefined;
    this.o.firmware?.session(false);
    this.stopWaiter?.();
    if (this.stopped) return;
    this.lastError = reason.code ? `${reason.code}: ${reason.message}` : reason.message;
    this.o.logger.warn(
      { relay: conn.address.label, code: reason.code, reason: reason.message },
      'relay connection lost',
    );
    this.scheduleRetry(reason);
  }

  private scheduleRetry(reason: CloseReason): void {
    if (this.stopped) return;
    this.lastError = reason.code ? `${reason.code}: ${reason.message}` : reason.message;
    if (!this.unreachableLogged && !this.link) {
      this.unreachableLogged = true;
      this.o.logger.warn(
        { relays: this.o.relays.map((r) => r.label), reason: this.lastError },
        'no relay reachable',
      );
    }
    const delay =
      reason.code === ErrorCode.UNAUTHENTICATED ? (this.o.backoff?.maxMs ?? 60_000) : this.backoff.next();
    this.o.timers.clearTimeout(this.retry);
    this.retry = this.o.timers.setTimeout(() => this.connectAll(), delay);
  }

  /** On another relay than the fastest one seen: move back to it when it answers again. */
  private async probeNearest(): Promise<void> {
    const link = this.link;
    if (!link || this.stopped) return;
    let best: RelayAddress | undefined;
    for (const r of this.o.relays) {
      const ms = this.distance.get(r.label);
      if (ms !== undefined && (best === undefined || ms < this.distance.get(best.label)!)) best = r;
    }
    if (!best || best.label === link.address.label) return;
    // Clearly nearer only (a fifth and 2 ms), so two relays about as near do not swap back and forth.
    const here = this.distance.get(link.address.label) ?? Infinity;
    const there = this.distance.get(best.label)!;
    if (there > here * 0.8 || here - there < 2) return;
    const ms = await probeConnect(best, this.o.connectTimeoutMs ?? 5000);
    if (ms === undefined || this.link !== link) return;
    this.o.logger.info(
      { from: link.address.label, to: best.label, connectMs: ms },
      'moving back to the nearest relay',
    );
    this.backoff.reset();
    // The half-close lets the relay send its ACKs; the close that follows reconnects at once.
    link.end();
  }

  // ---- batches -----------------------------------------------------------------------

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.link?.mode && !this.stopped) {
        const link = this.link;
        if (link.mode === 'v4' && this.inFlight.size >= (this.o.windowBatches ?? 16)) break;
        if (link.mode === 'v3' && this.inFlight.size > 0) break;
        if (link.writableLength > 256 * 1024) break;
        const batch = this.nextBatch();
        if (!batch) break;
        const body = await this.bodyOf(batch);
        if (this.link !== link) break;
        if (!body) continue;
        this.sentUpTo = batch.seq;
        this.inFlight.set(batch.seq, this.o.timers.now());
        if (link.mode === 'v4') {
          link.send(encodeFrame(PacketType.SERIESBATCH, body));
          this.armAckTimer();
        } else {
          link.send(seriesDataFrames(body, link.localAddress), (err) => {
            if (!err && this.link === link) this.onAck(this.o.log.session, batch.seq, false);
          });
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * The batch's body; undefined when it went meanwhile (ACKed on another session or dropped by
   * the cap, its segment deleted). A read that fails otherwise drops the session: the batch stays
   * buffered and is tried again after the reconnect.
   */
  private async bodyOf(batch: BufferedBatch): Promise<Buffer | undefined> {
    try {
      return await this.o.log.body(batch);
    } catch (err) {
      this.sentUpTo = Math.max(this.sentUpTo, batch.seq);
      if (!this.o.log.has(batch.seq)) return undefined;
      this.link?.close(AgentErrorCode.BUFFER_IO, `buffer read failed: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** The next unACKed batch after the last one sent on this session (a live Map iterator, so no rescans). */
  private nextBatch(): BufferedBatch | undefined {
    for (let fresh = false; ; fresh = true) {
      if (!this.cursor) this.cursor = this.o.log.unacked();
      for (let r = this.cursor.next(); !r.done; r = this.cursor.next()) {
        if (r.value.seq > this.sentUpTo) return r.value;
      }
      this.cursor = undefined;
      if (fresh) return undefined;
    }
  }

  private onAck(session: string, seq: number, duplicate: boolean): void {
    if (session !== this.o.log.session || !this.inFlight.has(seq)) return;
    this.inFlight.delete(seq);
    this.o.log.ack(seq);
    this.counts.acked++;
    if (duplicate) this.counts.duplicates++;
    this.backoff.reset();
    this.rejected = undefined;
    this.armAckTimer();
    void this.pump();
    if (this.link?.mode === 'v4') this.o.firmware?.acked();
  }

  private armAckTimer(): void {
    const t = this.o.timers;
    t.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const oldest = this.inFlight.values().next();
    if (oldest.done || this.link?.mode !== 'v4') return;
    const timeout = this.o.ackTimeoutMs ?? 30_000;
    const link = this.link;
    this.ackTimer = t.setTimeout(
      () => link.close(ErrorCode.IDLE_TIMEOUT, `no ACK within ${timeout} ms`),
      Math.max(0, oldest.value + timeout - t.now()),
    );
  }

  private onPeerError(conn: RelayConnection, body: ErrorBody): void {
    if (conn !== this.link) return;
    if (body.code === ErrorCode.UNSUPPORTED_VERSION) this.v3Relays.add(conn.address.label);
    if (!CONTENT_CODES.has(body.code)) return;
    // ACKs come in seq order: the oldest batch without one is the one the relay stopped at.
    const seq = this.inFlight.keys().next().value;
    if (seq === undefined) return;
    this.rejected = this.rejected?.seq === seq ? { seq, times: this.rejected.times + 1 } : { seq, times: 1 };
    if (this.rejected.times < 2) return;
    this.o.logger.error(
      { seq, code: body.code, field: body.field, message: body.message },
      'relay refused a batch twice: dropped',
    );
    this.counts.rejectedBatches++;
    this.inFlight.delete(seq);
    this.o.log.ack(seq);
    this.rejected = undefined;
  }
}
