/**
 * Backpressure of one agent connection, both ways: writes to the peer (corked
 * per tick, cut off past a backlog limit) and when reading pauses (the socket's
 * write side full, too many packets awaiting durability, or the relay-wide
 * ingest gate closed). Kept apart from AgentConnection, which decides what to
 * send and counts packets in and out; this owns only the socket's flow state.
 */
import type { Socket } from 'node:net';
import type { TimerHandle } from '../protocol/index.js';
import type { IngestGate } from './ingest-gate.js';

interface AgentFlowOptions {
  /** Pause reading while this many packets of the connection await durability. */
  maxPendingPackets: number;
  /** Refuse a write that would let more unsent bytes than this pile up. */
  maxWriteBacklogBytes: number;
  gate?: IngestGate | undefined;
}

export class AgentFlow {
  /** Packets of the connection awaiting durability. */
  pending = 0;
  writeBlocked = false;
  paused = false;
  /** The socket is corked until the end of this tick (see send()). */
  private corked = false;

  /**
   * @param idleTimer refreshed when reading resumes: the paused time was not the peer's silence.
   * @param isClosing no pausing or resuming once the connection is closing.
   */
  constructor(
    private readonly socket: Socket,
    private readonly options: AgentFlowOptions,
    private readonly idleTimer: TimerHandle,
    private readonly isClosing: () => boolean,
  ) {}

  /** The socket's write side drained. */
  drained(): void {
    this.writeBlocked = false;
    this.update();
  }

  /**
   * Write `frame` to the peer (nothing when the socket is no longer writable). False, and nothing
   * written, when the peer lets too many unsent bytes pile up: the caller cuts it off.
   */
  send(frame: Buffer): boolean {
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) return true;
    if (socket.writableLength + frame.length > this.options.maxWriteBacklogBytes) return false;
    if (!this.corked) {
      // ACKs of one spool append are sent in one burst: one write syscall for all of them.
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    if (!socket.write(frame)) {
      this.writeBlocked = true;
      this.update();
    }
    return true;
  }

  /** Pause or resume reading as the flow state now requires. */
  update(): void {
    if (this.isClosing()) return;
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
}
