/**
 * One agent connection: decoder → handler → writer.
 *
 * Frames are handled in arrival order and handed to the sink synchronously,
 * so the spool sees each agent's packets in the order the agent sent them.
 * Backpressure both ways: reading pauses while too many of this
 * connection's packets wait to become durable, or while the socket's write
 * side is full; a peer that stops reading its ACKs is cut off past a byte
 * limit. Any bad input ends the connection with an ERROR packet carrying the
 * coded error, then a close; nothing else in the relay is affected. Packets
 * the spool refuses (its cap reached under 'reject-new') are never ACKed: the
 * connection ends with a retriable OWL_ERR_OVERLOADED, and the agent resends
 * them after reconnecting, once the spool has room.
 *
 * A peer that opens with HELLO speaks v4 (batches, ACKs); one that does not
 * is a v3 agent and only ever receives v3 packets; the coded error of a
 * close goes to the log only. A peer whose first frame is already bad has not
 * spoken v3 and gets the ERROR packet.
 */
import type { Socket } from 'node:net';
import {
  encodePacket,
  ErrorCode,
  FrameDecoder,
  isV3Type,
  OwlError,
  PacketType,
  type Host,
  type HostConfigRequest,
  type NetDevice,
  type Port,
  type OwlErrorCode,
  type ForwardSummary,
  HEADER_BYTES,
  type Packet,
  type PacketParser,
  SYSTEM_TIMERS,
  type TimerHandle,
  type Timers,
} from '../protocol/index.js';
import type { AccessPolicy } from './access.js';
import type { BatchDedupe } from './dedupe.js';
import type { IngestGate } from './ingest-gate.js';
import { RelayErrorCode } from './errors.js';
import type { SpoolRefusals } from './refusals.js';
import { SpoolErrorCode } from './spool/index.js';

const PROTOCOL_VERSION = 1;
const RELAY_FEATURES = ['batch', 'ack'] as const;

/** A packet to spool: the agent packet's JSON body exactly as received. */
export interface SpoolRequest {
  type: number;
  body: Buffer;
  samples: number;
  source: string;
  /** The agent's UUID when known (HELLO, or the packet itself). */
  uuid: string;
  /**
   * When set, `body` is that many consecutive frames of `type`, headers
   * included, as they arrived in one socket read (PackedPacket.frames).
   */
  frames?: number;
}

/** Consecutive SERIESDATA frames of one socket read, spooled as one request (see `enqueue`). */
interface FrameRun {
  /** Byte offsets in the read's ArrayBuffer: the first frame's header, the last frame's end. */
  start: number;
  end: number;
  samples: number;
  frames: number;
  uuid: string;
  /** The first frame's body, for a run of one. */
  first: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** Longest run: far below any PACKED payload limit. */
const MAX_RUN_BYTES = 256 * 1024;

/** What a connection needs from the rest of the relay. */
export interface AgentSink {
  /**
   * Spool packets (those of one socket read). Called in arrival order; resolves once all are
   * durable. `release`, when given, must be called once the packets' bytes are no longer read.
   */
  spool(requests: SpoolRequest[], release?: () => void): Promise<void>;
  /** Config for a host: from the cache at once when known (a refresh is asked upstream either way). */
  hostConfig(request: HostConfigRequest, source: string): Promise<Host | null>;
  /** Latest agent version, if known. */
  clientVersion(): string | null;
  /**
   * GETDEVICES / GETPORTS from a v3 proxy (td-proxy) talking to an upstream:
   * the zone's items, or null when `source` is not a known proxy. Absent on a relay.
   */
  zoneItems?(what: 'devices' | 'ports', source: string): NetDevice[] | Port[] | null;
  /** Track which connection serves a host, so config pushes reach it. */
  attach(uuid: string, connection: AgentConnection): void;
  detach(uuid: string, connection: AgentConnection): void;
}

export interface AgentConnectionOptions {
  parser: PacketParser;
  access: AccessPolicy;
  dedupe: BatchDedupe;
  sink: AgentSink;
  /** Close a connection that completes no frame for this long. */
  idleTimeoutMs: number;
  /** Pause reading while this many packets of the connection await durability. */
  maxPendingPackets: number;
  /** Cut off a peer that lets this many unsent bytes pile up (it does not read). */
  maxWriteBacklogBytes: number;
  /** Relay-wide cap on bytes awaiting durability; every connection pauses while it is closed. */
  gate?: IngestGate;
  /** Told of connections closed because the spool refused their packets; else they go to `onError`. */
  refusals?: SpoolRefusals;
  /** Grace period for the peer to read our ERROR before the socket is destroyed. */
  closeGraceMs?: number;
  /** Timers of the idle timeout and the close grace (default SYSTEM_TIMERS). */
  timers?: Timers;
  onError?: (connection: AgentConnection, error: OwlError) => void;
}

type Mode = 'unknown' | 'v3' | 'v4';

export class AgentConnection {
  readonly remoteAddress: string;
  private readonly decoder: FrameDecoder;
  private mode: Mode = 'unknown';
  private uuid = '';
  private pending = 0;
  private writeBlocked = false;
  /** The socket is corked until the end of this tick (see send()). */
  private corked = false;
  private paused = false;
  private closing = false;
  private ended = false;
  private readonly idleTimer: TimerHandle;
  private readonly timers: Timers;
  private readonly attached = new Set<string>();
  private lastLearned = '';
  /** Packets of the current socket read, spooled together at its end. */
  private chunk:
    | {
        requests: SpoolRequest[];
        /** The run being extended, not yet in `requests`. */
        run: FrameRun | undefined;
        packets: number;
        bytes: number;
        durable: Promise<void>;
        resolve: () => void;
        reject: (err: unknown) => void;
      }
    | undefined;
  private readonly ungate: (() => void) | undefined;
  /** Raw JSON body of the frame being handled: spooled as received, never re-encoded. */
  private currentBody: Buffer = Buffer.alloc(0);
  /** The socket read being handled (frames of it may be spooled as one run). */
  private read: Buffer = EMPTY;

  constructor(
    private readonly socket: Socket,
    private readonly options: AgentConnectionOptions,
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.decoder = new FrameDecoder({ maxFrameBytes: options.parser.limits.maxFrameBytes });
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.idleTimer = this.timers.setTimeout(() => {
      // Silence while the relay itself holds the agent back is not the agent's fault.
      if (this.paused) this.idleTimer.refresh();
      else this.close(ErrorCode.IDLE_TIMEOUT, 'no frame received in time');
    }, options.idleTimeoutMs);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => {
      this.writeBlocked = false;
      this.updateFlow();
    });
    socket.on('error', () => {
      /* reset by peer etc.: 'close' follows */
    });
    socket.on('close', () => this.onClose());
    this.ungate = options.gate?.onOpen(() => this.updateFlow());
  }

  /** The protocol the peer speaks, once known. */
  get protocol(): Mode {
    return this.mode;
  }

  /** True once the connection is closing or closed. */
  get closed(): boolean {
    return this.closing;
  }

  /** Why reading is paused, if it is: the peer does not read, packets await durability, or the relay holds back. */
  get flow(): { paused: boolean; writeBlocked: boolean; pendingPackets: number } {
    return { paused: this.paused, writeBlocked: this.writeBlocked, pendingPackets: this.pending };
  }

  /** Send a config the upstream pushed for `uuid` (a v3-compatible HOSTCONFIGRESP). */
  pushConfig(host: Host): void {
    this.send(encodePacket(PacketType.HOSTCONFIGRESP, host));
  }

  /** Close with a coded ERROR (e.g. the relay shutting down). */
  close(code: OwlErrorCode, message: string): void {
    this.fail(new OwlError(code, message));
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.read = chunk;
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.failWith(err);
      return;
    }
    if (frames.length > 0) this.idleTimer.refresh();
    try {
      for (const frame of frames) {
        if (this.closing) break;
        this.currentBody = frame.body;
        // Samples are spooled as bytes: validated by a scan, built only when the scan is not sure.
        const forward = this.options.parser.scan(frame);
        if (forward !== undefined) this.forward(forward);
        else this.handle(this.options.parser.parse(frame));
      }
    } catch (err) {
      // Packets before the bad one are good: they are spooled, then the connection ends.
      this.flushChunk();
      this.failWith(err);
      return;
    }
    this.flushChunk();
    this.currentBody = EMPTY; // a view into the read: keeping it would keep the whole read alive
    // Good frames came before a bad header in this chunk: they are spooled, now the error.
    if (this.decoder.error !== undefined) this.failWith(this.decoder.error);
  }

  /** A SERIESDATA or SERIESBATCH, validated: to the spool. */
  private forward(s: ForwardSummary): void {
    if (this.mode === 'unknown') this.admit(s);
    if (s.type === PacketType.SERIESDATA) {
      this.learn(s.uuid);
      return this.spool(s.type, 1);
    }
    return this.batch(s.session, s.seq, s.samples, s.uuid);
  }

  private handle(packet: Packet): void {
    if (this.mode === 'unknown') this.admit(packet);
    switch (packet.type) {
      case PacketType.HELLO:
        return; // handled by admit(); a second HELLO is harmless
      case PacketType.SERIESDATA:
        return this.forward({ type: packet.type, uuid: packet.body.uuid, samples: 1 });
      case PacketType.SERIESBATCH: {
        const { session, seq, samples, uuid } = packet.body;
        return this.forward({ type: packet.type, session, seq, uuid, samples: samples.length });
      }
      case PacketType.HOSTHB:
        if (packet.body === null) return; // the watchdog form: nothing to forward
        this.learn(packet.body.uuid);
        return this.spool(packet.type, 0);
      case PacketType.PORTDISCOVERYR:
      case PacketType.ASSESTDISCOVERY:
        this.learn(packet.body.uuid);
        return this.spool(packet.type, 0);
      case PacketType.UPDATEDEVICES:
      case PacketType.UPDATEPORTS:
        return this.spool(packet.type, 0);
      case PacketType.HOSTCONFIG:
        return this.hostConfig(packet.body);
      case PacketType.CLIENTVERSION: {
        const version = this.options.sink.clientVersion();
        if (version !== null) this.send(encodePacket(PacketType.CLIENTVERSIONRESP, { version }));
        return;
      }
      case PacketType.GETDEVICES:
      case PacketType.GETPORTS:
        return this.zoneQuery(packet.type);
      case PacketType.GUARDHB:
      case PacketType.ACK:
        return;
      case PacketType.ERROR:
        this.close(ErrorCode.UNEXPECTED_PACKET, `peer reported ${packet.body.code}`);
        return;
      default:
        throw new OwlError(ErrorCode.UNEXPECTED_PACKET, `an agent does not send packet type ${packet.type}`);
    }
  }

  /** First packet: HELLO makes a v4 session (token checked); anything else must come from a v3-allowed address. */
  private admit(packet: Packet | ForwardSummary): void {
    const { access } = this.options;
    if (packet.type === PacketType.HELLO) {
      if (packet.body.version < PROTOCOL_VERSION) {
        throw new OwlError(
          ErrorCode.UNSUPPORTED_VERSION,
          `protocol version ${packet.body.version} is not supported`,
        );
      }
      if (!access.acceptsToken(packet.body.token)) {
        throw new OwlError(ErrorCode.UNAUTHENTICATED, 'zone token rejected');
      }
      this.mode = 'v4';
      if (packet.body.uuid !== undefined) this.learn(packet.body.uuid);
      this.send(encodePacket(PacketType.HELLO, { version: PROTOCOL_VERSION, features: [...RELAY_FEATURES] }));
      return;
    }
    if (!access.allowsV3(this.remoteAddress)) {
      throw new OwlError(RelayErrorCode.NOT_ALLOWED, `${this.remoteAddress} may not connect without HELLO`);
    }
    // Only a v3 packet type shows a v3 agent: a v4 type without HELLO (SERIESBATCH, ACK, ERROR)
    // leaves the session undecided, so its rejection still carries an ERROR (protocol.md 6.2).
    if (isV3Type(packet.type)) this.mode = 'v3';
  }

  private learn(uuid: string): void {
    // Per packet: most packets of a connection name the host of the one before.
    if (uuid === this.lastLearned) return;
    this.lastLearned = uuid;
    if (uuid === '' || this.attached.has(uuid)) return;
    if (this.uuid === '') this.uuid = uuid;
    // Bounded: a v3 proxy chained behind us could carry many hosts, but not unboundedly many.
    if (this.attached.size >= 10_000) return;
    this.attached.add(uuid);
    this.options.sink.attach(uuid, this);
  }

  private spool(type: number, samples: number): void {
    this.enqueue(type, this.currentBody, samples);
  }

  /**
   * Queue a packet for the spool. All packets of one socket read go to the
   * spool as one append (one promise, one queue entry), which is what makes a
   * stream of small v3 frames cheap; the returned promise settles when that
   * append is durable.
   */
  private enqueue(type: number, body: Buffer, samples: number): Promise<void> {
    let chunk = this.chunk;
    if (chunk === undefined) {
      let resolve: () => void = () => undefined;
      let reject: (err: unknown) => void = () => undefined;
      const durable = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      chunk = { requests: [], run: undefined, packets: 0, bytes: 0, durable, resolve, reject };
      this.chunk = chunk;
    }
    chunk.bytes += body.length;
    chunk.packets++;
    // v3 frames come many per read: consecutive ones, headers and all, are one request (one entry,
    // one copy into the record) instead of one each.
    if (type === PacketType.SERIESDATA && this.inRead(body)) {
      const run = chunk.run;
      const at = body.byteOffset;
      if (
        run !== undefined &&
        run.end + HEADER_BYTES + 1 === at &&
        run.uuid === this.uuid &&
        at + body.length - run.start <= MAX_RUN_BYTES
      ) {
        run.end = at + body.length;
        run.samples += samples;
        run.frames++;
        return chunk.durable;
      }
      this.endRun(chunk);
      const start = at - HEADER_BYTES - 1;
      chunk.run = { start, end: at + body.length, samples, frames: 1, uuid: this.uuid, first: body };
      return chunk.durable;
    }
    this.endRun(chunk);
    chunk.requests.push({ type, body, samples, source: this.remoteAddress, uuid: this.uuid });
    return chunk.durable;
  }

  /**
   * `body` lies in the current socket read with its header right before it:
   * then those 5 bytes are the header the decoder read (a frame whose header
   * or body crossed reads was copied, and is not in this read's memory).
   */
  private inRead(body: Buffer): boolean {
    const read = this.read;
    return (
      body.buffer === read.buffer &&
      body.byteOffset - HEADER_BYTES - 1 >= read.byteOffset &&
      body.byteOffset + body.length <= read.byteOffset + read.length
    );
  }

  /** Move the run being extended into the read's requests. */
  private endRun(chunk: NonNullable<AgentConnection['chunk']>): void {
    const run = chunk.run;
    if (run === undefined) return;
    chunk.run = undefined;
    const base = {
      type: PacketType.SERIESDATA,
      samples: run.samples,
      source: this.remoteAddress,
      uuid: run.uuid,
    };
    if (run.frames === 1) {
      chunk.requests.push({ ...base, body: run.first });
      return;
    }
    const read = this.read;
    const body = read.subarray(run.start - read.byteOffset, run.end - read.byteOffset);
    chunk.requests.push({ ...base, body, frames: run.frames });
  }

  /** Hand the packets queued during this read to the spool. */
  private flushChunk(): void {
    const chunk = this.chunk;
    if (chunk === undefined) return;
    this.endRun(chunk);
    this.chunk = undefined;
    const read = this.read;
    this.read = EMPTY;
    const gate = this.options.gate;
    const { bytes, resolve, reject } = chunk;
    gate?.add(bytes);
    this.track(chunk.durable, chunk.packets);
    // Nothing waiting for durability keeps the packets (or the socket reads they are views into).
    const written = this.options.sink.spool(chunk.requests, this.releaser(read));
    const refusals = this.options.refusals;
    written
      .then(() => {
        refusals?.accepted();
        resolve();
      }, reject)
      .finally(() => gate?.done(bytes));
  }

  /**
   * Free a socket read once the sink has copied the packets out of it, rather than when V8 next
   * collects: at 150 MB/s of reads, what waited for collection was most of the relay's memory
   * (docs/benchmarks.md, relay memory). Only a plain TCP read the decoder no longer holds, in a
   * buffer of its own (Node gives each read one), is freed: transfer(0) detaches it, and any view
   * still into it would read as empty.
   */
  private releaser(read: Buffer): (() => void) | undefined {
    if (read === EMPTY || read.byteOffset !== 0 || this.decoder.holds(read)) return undefined;
    if ((this.socket as Socket & { encrypted?: boolean }).encrypted === true) return undefined;
    const buffer = read.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
    if (typeof buffer.transfer !== 'function') return undefined;
    return () => {
      try {
        buffer.transfer?.(0);
      } catch {
        // Not detachable (a buffer Node marked so): left to the garbage collector.
      }
    };
  }

  private batch(session: string, seq: number, samples: number, uuid: string | undefined): void {
    if (this.mode !== 'v4')
      throw new OwlError(ErrorCode.UNEXPECTED_PACKET, 'SERIESBATCH needs a HELLO first');
    if (uuid !== undefined) this.learn(uuid);
    const agent = this.uuid !== '' ? this.uuid : this.remoteAddress;
    const body = this.currentBody;
    const result = this.options.dedupe.check(agent, session, seq, () =>
      this.enqueue(PacketType.SERIESBATCH, body, samples),
    );
    this.track(
      result.durable.then(() => {
        this.send(
          encodePacket(
            PacketType.ACK,
            result.duplicate ? { session, seq, duplicate: true } : { session, seq },
          ),
        );
      }),
    );
  }

  /** Count a packet until durable; reading pauses while too many are outstanding. */
  private track(durable: Promise<void>, packets = 1): void {
    this.pending += packets;
    this.updateFlow();
    durable.then(
      () => {
        this.pending -= packets;
        this.updateFlow();
        this.maybeFinish();
      },
      (err: unknown) => {
        this.pending -= packets;
        // Not durable: never ACK it. The connection ends and the agent resends after reconnecting.
        if (err instanceof OwlError && err.code === SpoolErrorCode.FULL) this.refuse(err);
        else this.failWith(err);
      },
    );
  }

  /**
   * The spool refused packets of this connection (cap reached under 'reject-new'). Pausing
   * would leave a v4 agent waiting for ACKs that never come, its HOSTHBs keeping the idle
   * timeout away; instead it is told to come back later (protocol.md 6.1: OWL_ERR_OVERLOADED,
   * reconnect with backoff, resend what was not ACKed) and the connection closes.
   */
  private refuse(cause: OwlError): void {
    if (this.closing) return;
    const error = new OwlError(ErrorCode.OVERLOADED, 'spool full: reconnect later and resend', {
      retriable: true,
      cause,
    });
    const refusals = this.options.refusals;
    if (refusals === undefined) return this.fail(error);
    refusals.refused(this.remoteAddress, error);
    this.fail(error, false);
  }

  private zoneQuery(type: typeof PacketType.GETDEVICES | typeof PacketType.GETPORTS): void {
    const items = this.options.sink.zoneItems?.(
      type === PacketType.GETDEVICES ? 'devices' : 'ports',
      this.remoteAddress,
    );
    if (items === undefined || items === null) {
      throw new OwlError(ErrorCode.UNEXPECTED_PACKET, `${this.remoteAddress} is not a v3 proxy served here`);
    }
    if (type === PacketType.GETDEVICES)
      this.send(encodePacket(PacketType.GETDEVICESRESP, items as NetDevice[]));
    else this.send(encodePacket(PacketType.GETPORTSRESP, items as Port[]));
  }

  private hostConfig(request: HostConfigRequest): void {
    this.learn(request.uuid);
    this.options.sink.hostConfig(request, this.remoteAddress).then(
      (host) => {
        if (host !== null) this.send(encodePacket(PacketType.HOSTCONFIGRESP, host));
      },
      () => {
        /* no config known and upstream unreachable: the agent asks again on its next cycle */
      },
    );
  }

  private send(frame: Buffer): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    if (this.socket.writableLength + frame.length > this.options.maxWriteBacklogBytes) {
      this.close(RelayErrorCode.WRITE_BACKLOG, 'peer does not read what the relay sends');
      return;
    }
    if (!this.corked) {
      // ACKs of one spool append are sent in one burst: one write syscall for all of them.
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    if (!this.socket.write(frame)) {
      this.writeBlocked = true;
      this.updateFlow();
    }
  }

  private updateFlow(): void {
    if (this.closing) return;
    const shouldPause =
      this.writeBlocked ||
      this.pending >= this.options.maxPendingPackets ||
      this.options.gate?.closed === true;
    if (shouldPause && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      this.idleTimer.refresh();
      this.socket.resume();
    }
  }

  private onEnd(): void {
    this.ended = true;
    try {
      this.decoder.end();
    } catch (err) {
      this.failWith(err);
      return;
    }
    this.maybeFinish();
  }

  /** After the peer's FIN: close our side once everything it sent is durable and acknowledged. */
  private maybeFinish(): void {
    if (this.ended && this.pending === 0 && !this.closing) {
      this.closing = true;
      this.timers.clearTimeout(this.idleTimer);
      this.socket.end();
    }
  }

  private failWith(err: unknown): void {
    this.fail(
      err instanceof OwlError ? err : new OwlError(ErrorCode.INTERNAL, 'internal error', { cause: err }),
    );
  }

  /** End the connection on `error` (reported to `onError` unless `report` is false). */
  private fail(error: OwlError, report = true): void {
    if (this.closing) return;
    if (report) this.options.onError?.(this, error);
    const { code, message } = error;
    const field = 'field' in error && typeof error.field === 'string' ? error.field : undefined;
    // A v3 agent only ever receives v3 packets; everyone else learns why it is closed.
    if (this.socket.writable && this.mode !== 'v3') {
      this.socket.write(
        encodePacket(PacketType.ERROR, field === undefined ? { code, message } : { code, message, field }),
      );
    }
    this.closing = true;
    this.timers.clearTimeout(this.idleTimer);
    this.socket.end();
    const grace = this.timers.setTimeout(() => this.socket.destroy(), this.options.closeGraceMs ?? 2000);
    this.socket.once('close', () => this.timers.clearTimeout(grace));
  }

  private onClose(): void {
    this.closing = true;
    this.timers.clearTimeout(this.idleTimer);
    this.ungate?.();
    for (const uuid of this.attached) this.options.sink.detach(uuid, this);
    this.attached.clear();
  }
}
