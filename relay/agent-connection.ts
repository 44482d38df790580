/**
 * One agent connection: decoder → handler → writer.
 *
 * Frames are handled in arrival order and handed to the sink synchronously,
 * so the spool sees each agent's packets in the order the agent sent them.
 * Backpressure both ways: reading pauses while too many of this
 * connection's packets wait to become durable, or while the socket's write
 * side is full; a peer that stops reading its ACKs is cut off past a byte
 * limit. Bad input ends the connection with an ERROR packet carrying the
 * coded error, then a close; nothing else in the relay is affected. One
 * exception: a v3 peer (it never resends) that sends a well-framed packet with
 * bad content loses that packet only (`onDroppedPacket`); framing errors
 * (bad or oversized length) still close, as any bad input of a v4 peer. Packets
 * the spool refuses (its cap reached under 'reject-new') are never ACKed: the
 * connection ends with a retriable OWL_ERR_OVERLOADED, and the agent resends
 * them after reconnecting, once the spool has room.
 *
 * A peer that opens with HELLO speaks v4 (batches, ACKs); one that does not
 * is a v3 agent and only ever receives v3 packets; the coded error of a
 * close goes to the log only. A peer whose first frame is already bad has not
 * spoken v3 and gets the ERROR packet.
 *
 * This file owns the connection's lifecycle and packet dispatch; the parts
 * live beside it: agent-sink.ts (the contract with the relay), agent-read.ts
 * (a read's packets as one spool append), agent-session.ts (HELLO / v3 access,
 * the hosts served), agent-flow.ts (writes and pausing), agent-replies.ts (the
 * v3 requests answered from the sink).
 */
import type { Socket } from 'node:net';
import {
  encodePacket,
  ErrorCode,
  FrameDecoder,
  OwlError,
  PacketType,
  type Host,
  type OwlErrorCode,
  type ForwardSummary,
  type Packet,
  SYSTEM_TIMERS,
  type TimerHandle,
  type Timers,
} from '../protocol/index.js';
import { AgentFlow } from './agent-flow.js';
import { AgentRead, readReleaser } from './agent-read.js';
import { clientVersionReply, replyHostConfig, zoneReply } from './agent-replies.js';
import { AgentSession, type Mode } from './agent-session.js';
import type { AgentConnectionOptions } from './agent-sink.js';
import { RelayErrorCode } from './errors.js';
import { SpoolErrorCode } from './spool/index.js';

const EMPTY = Buffer.alloc(0);

/** What the agent server adds to the connection options. */
export interface AgentDropOptions {
  /** A v3 peer's well-framed packet with bad content was dropped; the connection goes on. */
  onDroppedPacket?: (connection: AgentConnection, error: OwlError) => void;
}

export class AgentConnection {
  readonly remoteAddress: string;
  private readonly decoder: FrameDecoder;
  private readonly session: AgentSession;
  private readonly reads: AgentRead;
  private readonly writes: AgentFlow;
  private closing = false;
  private ended = false;
  private readonly idleTimer: TimerHandle;
  private readonly timers: Timers;
  private readonly ungate: (() => void) | undefined;
  /** Clock time of the last complete frame (or of the connect): how long the peer has been idle. */
  private lastFrameAt: number;
  /** Raw JSON body of the frame being handled: spooled as received, never re-encoded. */
  private currentBody: Buffer = EMPTY;

  constructor(
    private readonly socket: Socket,
    private readonly options: AgentConnectionOptions & AgentDropOptions,
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.decoder = new FrameDecoder({ maxFrameBytes: options.parser.limits.maxFrameBytes });
    this.session = new AgentSession(this, options.access, options.sink);
    this.reads = new AgentRead(this.remoteAddress);
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.lastFrameAt = this.timers.now();
    this.idleTimer = this.timers.setTimeout(() => {
      // Silence while the relay itself holds the agent back is not the agent's fault.
      if (this.writes.paused) this.idleTimer.refresh();
      else this.close(ErrorCode.IDLE_TIMEOUT, 'no frame received in time');
    }, options.idleTimeoutMs);
    this.writes = new AgentFlow(socket, options, this.idleTimer, () => this.closing);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => this.writes.drained());
    socket.on('error', () => {
      /* reset by peer etc.: 'close' follows */
    });
    socket.on('close', () => this.onClose());
    this.ungate = options.gate?.onOpen(() => this.writes.update());
  }

  /** The protocol the peer speaks, once known. */
  get protocol(): Mode {
    return this.session.mode;
  }

  /** True once the connection is closing or closed. */
  get closed(): boolean {
    return this.closing;
  }

  /** Why reading is paused, if it is: the peer does not read, packets await durability, or the relay holds back. */
  get flow(): { paused: boolean; writeBlocked: boolean; pendingPackets: number } {
    const { paused, writeBlocked, pending } = this.writes;
    return { paused, writeBlocked, pendingPackets: pending };
  }

  /**
   * How long the peer has completed no frame, at clock time `now`; 0 while the relay itself holds
   * it back (paused reading is not the peer's silence).
   */
  idleMs(now: number): number {
    return this.writes.paused ? 0 : now - this.lastFrameAt;
  }

  /** Send a firmware packet (FWOFFER, FWCHUNK) to this v4 agent. */
  sendFirmware(frame: Buffer): void {
    if (!this.closing) this.send(frame);
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
    this.reads.begin(chunk);
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.failWith(err);
      return;
    }
    if (frames.length > 0) {
      this.idleTimer.refresh();
      this.lastFrameAt = this.timers.now();
    }
    for (const frame of frames) {
      if (this.closing) break;
      this.currentBody = frame.body;
      let stage = 'content';
      try {
        // Samples are spooled as bytes: validated by a scan, built only when the scan is not sure.
        const forward = this.options.parser.scan(frame);
        if (forward !== undefined) {
          stage = 'handling';
          this.forward(forward);
        } else {
          const packet = this.options.parser.parse(frame);
          stage = 'handling';
          this.handle(packet);
        }
      } catch (err) {
        if (stage === 'content' && this.dropped(err)) continue;
        // Packets before the bad one are good: they are spooled, then the connection ends.
        this.flushRead();
        this.failWith(err);
        return;
      }
    }
    this.flushRead();
    this.currentBody = EMPTY; // a view into the read: keeping it would keep the whole read alive
    // Good frames came before a bad header in this chunk: they are spooled, now the error.
    if (this.decoder.error !== undefined) this.failWith(this.decoder.error);
  }

  /**
   * True when a packet whose content failed validation costs only itself: a v3 peer never
   * resends, so closing would lose the rest of the read and whatever it had queued. The decoder
   * framed it already, and nothing of it was queued for the spool. A valid packet the peer may
   * not send (a type agents never send, GETDEVICES from an address that is not a v3 proxy) still
   * closes: that is not a damaged packet but the wrong peer.
   */
  private dropped(err: unknown): boolean {
    if (this.session.mode !== 'v3' || !(err instanceof OwlError)) return false;
    this.options.onDroppedPacket?.(this, err);
    return true;
  }

  /** The first packet decides the session (or ends the connection). */
  private admit(packet: Packet | ForwardSummary): void {
    const hello = this.session.admit(packet);
    if (hello !== undefined) this.send(hello);
  }

  /** A SERIESDATA or SERIESBATCH, validated: to the spool. */
  private forward(s: ForwardSummary): void {
    if (this.session.mode === 'unknown') this.admit(s);
    if (s.type === PacketType.SERIESDATA) {
      this.session.learn(s.uuid);
      return this.spool(s.type, 1);
    }
    return this.batch(s.session, s.seq, s.samples, s.uuid);
  }

  private handle(packet: Packet): void {
    const session = this.session;
    if (session.mode === 'unknown') this.admit(packet);
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
        session.learn(packet.body.uuid);
        return this.spool(packet.type, 0);
      case PacketType.PORTDISCOVERYR:
      case PacketType.ASSESTDISCOVERY:
        session.learn(packet.body.uuid);
        return this.spool(packet.type, 0);
      case PacketType.UPDATEDEVICES:
      case PacketType.UPDATEPORTS:
        return this.spool(packet.type, 0);
      case PacketType.HOSTCONFIG:
        session.learn(packet.body.uuid);
        // What the agent runs, as its session showed it (an agent's own `agent` field is not believed).
        return replyHostConfig(
          this.options.sink,
          { ...packet.body, agent: session.agent },
          this.remoteAddress,
          (f) => this.send(f),
        );
      case PacketType.CLIENTVERSION: {
        const reply = clientVersionReply(this.options.sink);
        if (reply !== undefined) this.send(reply);
        return;
      }
      case PacketType.GETDEVICES:
      case PacketType.GETPORTS:
        return this.send(zoneReply(this.options.sink, packet.type, this.remoteAddress));
      case PacketType.FWCHECK:
      case PacketType.FWCHUNKREQ:
        return this.firmware(packet);
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

  /**
   * FWCHECK / FWCHUNKREQ: only from a v4 agent that saw the `firmware` feature. A v3 session
   * never gets an answer: its packet is dropped (counted) and the connection goes on.
   */
  private firmware(packet: Packet): void {
    const sink = this.options.sink.firmware;
    if (sink === undefined || this.session.mode !== 'v4') {
      const err = new OwlError(
        ErrorCode.UNEXPECTED_PACKET,
        `packet type ${packet.type} needs a HELLO and the firmware feature`,
      );
      if (this.dropped(err)) return;
      throw err;
    }
    if (packet.type === PacketType.FWCHECK) return sink.check(this, this.session.uuid, packet.body);
    if (packet.type === PacketType.FWCHUNKREQ) return sink.chunkRequest(this, packet.body);
  }

  private spool(type: number, samples: number): void {
    void this.reads.add(type, this.currentBody, samples, this.session.uuid);
  }

  /** Hand the packets queued during this read to the spool. */
  private flushRead(): void {
    const taken = this.reads.take();
    if (taken === undefined) return;
    const { append, read } = taken;
    const gate = this.options.gate;
    const { bytes, resolve, reject } = append;
    gate?.add(bytes);
    this.track(append.durable, append.packets);
    // Nothing waiting for durability keeps the packets (or the socket reads they are views into).
    const written = this.options.sink.spool(append.requests, readReleaser(read, this.decoder, this.socket));
    const refusals = this.options.refusals;
    written
      .then(() => {
        refusals?.accepted();
        resolve();
      }, reject)
      .finally(() => gate?.done(bytes));
  }

  /** A v4 SERIESBATCH: spooled once (a resent one is a duplicate), ACKed once durable. */
  private batch(session: string, seq: number, samples: number, uuid: string | undefined): void {
    if (this.session.mode !== 'v4')
      throw new OwlError(ErrorCode.UNEXPECTED_PACKET, 'SERIESBATCH needs a HELLO first');
    if (uuid !== undefined) this.session.learn(uuid);
    const agent = this.session.uuid !== '' ? this.session.uuid : this.remoteAddress;
    const body = this.currentBody;
    const result = this.options.dedupe.check(agent, session, seq, () =>
      this.reads.add(PacketType.SERIESBATCH, body, samples, this.session.uuid),
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
    const writes = this.writes;
    writes.pending += packets;
    writes.update();
    durable.then(
      () => {
        writes.pending -= packets;
        writes.update();
        this.maybeFinish();
      },
      (err: unknown) => {
        writes.pending -= packets;
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

  private send(frame: Buffer): void {
    if (!this.writes.send(frame))
      this.close(RelayErrorCode.WRITE_BACKLOG, 'peer does not read what the relay sends');
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
    if (this.ended && this.writes.pending === 0 && !this.closing) {
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
    if (this.socket.writable && this.session.mode !== 'v3') {
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
    this.session.detachAll();
    this.options.sink.firmware?.closed(this);
  }
}
