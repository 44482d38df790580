/**
 * Who is at the other end of an agent connection: the protocol it speaks
 * (HELLO makes a v4 session, token checked; anything else must come from a
 * v3-allowed address) and the hosts it serves (attached to the sink, so
 * config pushes reach them). Kept apart from AgentConnection, which moves the
 * bytes; this holds the peer's identity.
 */
import {
  encodePacket,
  ErrorCode,
  FIRMWARE_FEATURE,
  isV3Type,
  OwlError,
  PacketType,
  type ForwardSummary,
  type Packet,
} from '../protocol/index.js';
import type { AccessPolicy } from './access.js';
import type { AgentConnection } from './agent-connection.js';
import type { AgentSink } from './agent-sink.js';
import { RelayErrorCode } from './errors.js';

const PROTOCOL_VERSION = 1;
const RELAY_FEATURES = ['batch', 'ack'] as const;
/** Hosts one connection may serve: a v3 proxy chained behind us could carry many, but not unboundedly many. */
const MAX_ATTACHED = 10_000;

export type Mode = 'unknown' | 'v3' | 'v4';

export class AgentSession {
  mode: Mode = 'unknown';
  /** The first host the peer named (HELLO, or a packet): the agent's UUID. */
  uuid = '';
  /** The agent software as its HELLO named it (`owl-agent/0.1.0`), `v3` for a v3 agent. */
  agent = '';
  private readonly attached = new Set<string>();
  private lastLearned = '';

  constructor(
    private readonly connection: AgentConnection,
    private readonly access: AccessPolicy,
    private readonly sink: AgentSink,
  ) {}

  /**
   * First packet: decides the mode, or throws when the peer may not connect. Returns the HELLO
   * to answer with, for a v4 peer.
   */
  admit(packet: Packet | ForwardSummary): Buffer | undefined {
    const { access } = this;
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
      this.agent = packet.body.agent ?? '';
      if (packet.body.uuid !== undefined) this.learn(packet.body.uuid);
      // `firmware` only where bundles are served (a relay; not the upstream's direct agent server).
      const features: string[] = [...RELAY_FEATURES];
      if (this.sink.firmware !== undefined) features.push(FIRMWARE_FEATURE);
      return encodePacket(PacketType.HELLO, { version: PROTOCOL_VERSION, features });
    }
    const remote = this.connection.remoteAddress;
    if (!access.allowsV3(remote)) {
      throw new OwlError(RelayErrorCode.NOT_ALLOWED, `${remote} may not connect without HELLO`);
    }
    // Only a v3 packet type shows a v3 agent: a v4 type without HELLO (SERIESBATCH, ACK, ERROR)
    // leaves the session undecided, so its rejection still carries an ERROR (protocol.md 6.2).
    if (isV3Type(packet.type)) {
      this.mode = 'v3';
      this.agent = 'v3';
    }
    return undefined;
  }

  /** A packet names host `uuid`: attach the connection to it. */
  learn(uuid: string): void {
    // Per packet: most packets of a connection name the host of the one before.
    if (uuid === this.lastLearned) return;
    this.lastLearned = uuid;
    if (uuid === '' || this.attached.has(uuid)) return;
    if (this.uuid === '') this.uuid = uuid;
    if (this.attached.size >= MAX_ATTACHED) return;
    this.attached.add(uuid);
    this.sink.attach(uuid, this.connection);
  }

  /** The connection closed: it serves no host any more. */
  detachAll(): void {
    for (const uuid of this.attached) this.sink.detach(uuid, this.connection);
    this.attached.clear();
  }
}
