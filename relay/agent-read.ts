/**
 * The packets of one socket read, gathered to go to the spool as one append
 * (one promise, one queue entry): what makes a stream of small v3 frames
 * cheap. Consecutive SERIESDATA frames lying in the read are kept as one run,
 * headers and all (one request, one copy into the record). Also decides when
 * a read's memory may be freed once the sink has copied it. Kept apart from
 * AgentConnection: this is the byte-level hot path, the connection only says
 * where a read starts and ends.
 */
import type { Socket } from 'node:net';
import { HEADER_BYTES, PacketType, type FrameDecoder } from '../protocol/index.js';
import type { SpoolRequest } from './agent-sink.js';

/** Consecutive SERIESDATA frames of one socket read, spooled as one request (see `add`). */
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

/** The packets queued during one read, and the promise their append settles. */
interface ReadAppend {
  requests: SpoolRequest[];
  /** The run being extended, not yet in `requests`. */
  run: FrameRun | undefined;
  packets: number;
  bytes: number;
  durable: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const EMPTY = Buffer.alloc(0);

/** Longest run: far below any PACKED payload limit. */
const MAX_RUN_BYTES = 256 * 1024;

export class AgentRead {
  /** The socket read being handled (frames of it may be spooled as one run). */
  private read: Buffer = EMPTY;
  /** Packets of the current socket read, spooled together at its end. */
  private append: ReadAppend | undefined;

  /** @param source the peer's address, the `source` of every request. */
  constructor(private readonly source: string) {}

  /** A socket read begins: frames decoded from it may be views into `read`. */
  begin(read: Buffer): void {
    this.read = read;
  }

  /**
   * Queue a packet of the current read for the spool; the returned promise settles when the
   * read's append is durable.
   */
  add(type: number, body: Buffer, samples: number, uuid: string): Promise<void> {
    let append = this.append;
    if (append === undefined) {
      let resolve: () => void = () => undefined;
      let reject: (err: unknown) => void = () => undefined;
      const durable = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      append = { requests: [], run: undefined, packets: 0, bytes: 0, durable, resolve, reject };
      this.append = append;
    }
    append.bytes += body.length;
    append.packets++;
    // v3 frames come many per read: consecutive ones, headers and all, are one request (one entry,
    // one copy into the record) instead of one each.
    if (type === PacketType.SERIESDATA && this.inRead(body)) {
      const run = append.run;
      const at = body.byteOffset;
      if (
        run !== undefined &&
        run.end + HEADER_BYTES + 1 === at &&
        run.uuid === uuid &&
        at + body.length - run.start <= MAX_RUN_BYTES
      ) {
        run.end = at + body.length;
        run.samples += samples;
        run.frames++;
        return append.durable;
      }
      this.endRun(append);
      const start = at - HEADER_BYTES - 1;
      append.run = { start, end: at + body.length, samples, frames: 1, uuid, first: body };
      return append.durable;
    }
    this.endRun(append);
    append.requests.push({ type, body, samples, source: this.source, uuid });
    return append.durable;
  }

  /**
   * The read's packets, ready for the spool, and the read they came from; undefined when it
   * queued none. Either way the packets are forgotten here: the read itself only when it had some.
   */
  take(): { append: ReadAppend; read: Buffer } | undefined {
    const append = this.append;
    if (append === undefined) return undefined;
    this.endRun(append);
    this.append = undefined;
    const read = this.read;
    this.read = EMPTY;
    return { append, read };
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
  private endRun(append: ReadAppend): void {
    const run = append.run;
    if (run === undefined) return;
    append.run = undefined;
    const base = {
      type: PacketType.SERIESDATA,
      samples: run.samples,
      source: this.source,
      uuid: run.uuid,
    };
    if (run.frames === 1) {
      append.requests.push({ ...base, body: run.first });
      return;
    }
    const read = this.read;
    const body = read.subarray(run.start - read.byteOffset, run.end - read.byteOffset);
    append.requests.push({ ...base, body, frames: run.frames });
  }
}

/**
 * Free a socket read once the sink has copied the packets out of it, rather than when V8 next
 * collects: at 150 MB/s of reads, what waited for collection was most of the relay's memory
 * (docs/benchmarks.md, relay memory). Only a plain TCP read the decoder no longer holds, in a
 * buffer of its own (Node gives each read one), is freed: transfer(0) detaches it, and any view
 * still into it would read as empty.
 */
export function readReleaser(read: Buffer, decoder: FrameDecoder, socket: Socket): (() => void) | undefined {
  if (read === EMPTY || read.byteOffset !== 0 || decoder.holds(read)) return undefined;
  if ((socket as Socket & { encrypted?: boolean }).encrypted === true) return undefined;
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
