/**
 * One connection from the agent to a relay (or a v3 proxy or server): TCP or
 * TLS, framing both ways, and the HELLO that decides the session's version.
 *
 * v4 (docs/protocol.md §7.2): HELLO first; the peer's HELLO listing `batch`
 * makes the session v4 (SERIESBATCH, ACKs). No reply within the HELLO
 * timeout means a v3 peer that ignored it: the connection stays, as v3.
 * A relay address marked `v3` skips the HELLO (a v3 td-proxy may close on an
 * unknown type). Bad input from the peer gets an ERROR (v4 only) and a
 * close, as the relay does to an agent (§6.2). Every event is reported once,
 * through the handlers; `closed` fires once with the reason.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import {
  encodePacket,
  ErrorCode,
  FrameDecoder,
  OwlError,
  PacketType,
  parseAgentBound,
  type AgentBoundPacket,
  type Ack,
  type ErrorBody,
  type Host,
  type PacketBodies,
  type TimerHandle,
  type Timers,
} from '../../protocol/wire/index.js';
import { isFirmwareBound, parseFirmwarePacket, type FirmwarePacket } from '../firmware/index.js';
import type { RelayAddress } from './address.js';

export type SessionMode = 'v4' | 'v3';

export interface ConnectionHandlers {
  ready(mode: SessionMode): void;
  hostConfig(host: Host): void;
  version(version: string): void;
  ack(ack: Ack): void;
  /** An ERROR from the peer (the peer closes after it). */
  peerError(body: ErrorBody): void;
  /** The socket can take more (after send() returned false). */
  drain(): void;
  /** FWOFFER or FWCHUNK (v4 sessions only). */
  firmware(packet: FirmwarePacket): void;
  closed(reason: CloseReason): void;
}

export interface CloseReason {
  /** An OWL_ERR_* code when one applies (ours or the peer's). */
  code?: string;
  message: string;
  /** True when the close came before the session was ready (the peer never answered). */
  beforeReady: boolean;
  /** True when the peer's HELLO never came and it closed: maybe a v3 peer refusing HELLO. */
  helloRefused: boolean;
}

export interface ConnectionOptions {
  uuid: string;
  token?: string;
  /** `owl-agent/<version>`, sent in HELLO so the registry shows each host's agent. */
  agent: string;
  timers: Timers;
  connectTimeoutMs: number;
  helloTimeoutMs: number;
  maxFrameBytes?: number;
}

const HELLO_FEATURES = ['batch', 'ack'];

export class RelayConnection {
  mode: SessionMode | undefined;
  /** Milliseconds from connect() to the TCP (or TLS) connection being up. */
  connectMs: number | undefined;
  /** Milliseconds from connect() to the session being ready (HELLO answered): how near the relay is. */
  readyMs: number | undefined;
  readonly startedAt: number;
  /** The features the relay's HELLO reply listed (`firmware`: it serves bundles, packets 19–22). */
  features: readonly string[] = [];
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private timer: TimerHandle | undefined;
  private done = false;
  private sentHello = false;

  constructor(
    readonly address: RelayAddress,
    private readonly options: ConnectionOptions,
    private readonly on: ConnectionHandlers,
  ) {
    this.decoder = new FrameDecoder({ maxFrameBytes: options.maxFrameBytes ?? 1 << 20 });
    const started = options.timers.now();
    this.startedAt = started;
    this.socket = openSocket(address);
    this.socket.setNoDelay(true);
    this.timer = options.timers.setTimeout(
      () => this.close(ErrorCode.IDLE_TIMEOUT, `no connection within ${options.connectTimeoutMs} ms`),
      options.connectTimeoutMs,
    );
    this.socket.once(address.tls ? 'secureConnect' : 'connect', () => {
      this.connectMs = options.timers.now() - started;
      this.options.timers.clearTimeout(this.timer);
      this.onConnected();
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('drain', () => this.on.drain());
    this.socket.on('error', (err) => this.close((err as NodeJS.ErrnoException).code, err.message, true));
    this.socket.on('close', () => this.close(undefined, 'closed by the peer', true));
  }

  /** The local address of the connection (the host's IP as the relay sees it). */
  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }

  /** Write one encoded frame; false when the socket's buffer is full (wait for drain). */
  send(frame: Buffer, written?: (err?: Error | null) => void): boolean {
    if (this.done) return false;
    return this.socket.write(frame, written);
  }

  sendPacket<T extends PacketType>(type: T, body: PacketBodies[T]): boolean {
    return this.send(encodePacket(type, body));
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** Half-close: the peer finishes what it read, sends its last ACKs, then closes. */
  end(): void {
    if (!this.done) this.socket.end();
  }

  /** Close; `byPeer` when the peer or the network ended it (only then may a silent close mean "a v3 peer refusing HELLO"). */
  close(code: string | undefined, message: string, byPeer = false): void {
    if (this.done) return;
    this.done = true;
    this.options.timers.clearTimeout(this.timer);
    this.socket.destroy();
    const beforeReady = this.mode === undefined;
    this.on.closed({
      code,
      message,
      beforeReady,
      helloRefused: byPeer && beforeReady && this.sentHello && this.connectMs !== undefined,
    });
  }

  private onConnected(): void {
    if (this.address.protocol === 'v3') return this.ready('v3');
    this.sentHello = true;
    const hello = {
      version: 1,
      features: HELLO_FEATURES,
      uuid: this.options.uuid,
      agent: this.options.agent,
    };
    this.sendPacket(PacketType.HELLO, this.options.token ? { ...hello, token: this.options.token } : hello);
    this.timer = this.options.timers.setTimeout(() => {
      if (this.address.protocol === 'v4')
        this.close(ErrorCode.UNSUPPORTED_VERSION, 'no HELLO from the relay');
      else this.ready('v3');
    }, this.options.helloTimeoutMs);
  }

  private ready(mode: SessionMode): void {
    if (this.mode !== undefined || this.done) return;
    this.options.timers.clearTimeout(this.timer);
    this.mode = mode;
    this.readyMs = this.options.timers.now() - this.startedAt;
    this.on.ready(mode);
  }

  private onData(chunk: Buffer): void {
    try {
      for (const frame of this.decoder.push(chunk)) {
        if (this.done) return;
        // Packets 20 and 22 have their own checker (agent/firmware/wire.ts).
        if (isFirmwareBound(frame.type) && this.mode === 'v4') this.on.firmware(parseFirmwarePacket(frame));
        else this.onPacket(parseAgentBound(frame));
      }
      if (this.decoder.error) throw this.decoder.error;
    } catch (err) {
      this.fail(err);
    }
  }

  private onPacket(packet: AgentBoundPacket): void {
    switch (packet.type) {
      case PacketType.HELLO:
        if (this.mode !== undefined) return;
        this.features = (packet.body.features ?? []).filter((f): f is string => typeof f === 'string');
        return this.ready(this.features.includes('batch') ? 'v4' : 'v3');
      case PacketType.ACK:
        if (this.mode === 'v4') this.on.ack(packet.body);
        return;
      case PacketType.ERROR:
        this.on.peerError(packet.body);
        return this.close(packet.body.code, `relay: ${packet.body.message}`);
      case PacketType.HOSTCONFIGRESP:
        return this.on.hostConfig(packet.body);
      case PacketType.CLIENTVERSIONRESP:
        return this.on.version(packet.body.version);
    }
  }

  /** Bad input from the peer: tell it (v4 only: a v3 peer knows no ERROR), then close. */
  private fail(err: unknown): void {
    const code = err instanceof OwlError ? err.code : ErrorCode.INTERNAL;
    const message = err instanceof Error ? err.message : String(err);
    if (this.mode !== 'v3' && !this.done) {
      const field = (err as { field?: string }).field;
      this.socket.end(encodePacket(PacketType.ERROR, field ? { code, message, field } : { code, message }));
    }
    this.close(code, `bad input from the relay: ${message}`);
  }
}

function openSocket(address: RelayAddress): Socket {
  if (!address.tls) return tcpConnect({ host: address.host, port: address.port });
  return address.tls.connect();
}
