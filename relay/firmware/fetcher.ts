/**
 * Fetching one bundle over the uplink, paced: one chunk request in flight at most, and after a
 * chunk that took t ms from request to arrival a pause of t*(1-share)/share before the next, so
 * the transfer takes at most `share` of the link's time (docs/firmware-delivery.md). Bytes go
 * to the bundle's .part file; a fetch starts at its size, so a reconnect or a restart resumes.
 * The whole file's sha256 is checked at the end (BundleCache.complete).
 */
import type {
  OwlError,
  TimerHandle,
  Timers,
  UplinkFirmwareChunk,
  UplinkFirmwareChunkReq,
  UplinkFirmwareError,
} from '../../protocol/index.js';
import { FirmwareError, FirmwareErrorCode } from '../../firmware/index.js';
import type { BundleCache, PartFile } from './bundle-cache.js';

export interface FetchTarget {
  bundle: string;
  size: number;
  version: string;
  program: string;
}

/** How a fetch ended: complete, failed (`error`), or cancelled (no longer offered, stopping). */
export type FetchOutcome = { kind: 'complete' } | { kind: 'failed'; error: OwlError } | { kind: 'cancelled' };

export interface FetcherOptions {
  cache: BundleCache;
  timers: Timers;
  /** Share of the link's time a transfer may take, (0, 1]. */
  share: number;
  chunkBytes: number;
  /** Send a chunk request upstream; false when the uplink is not connected (sent again once it is). */
  send(request: UplinkFirmwareChunkReq): boolean;
  /** Bytes written to the .part file. */
  onBytes?(bytes: number): void;
}

interface Fetch {
  target: FetchTarget;
  part: PartFile;
  finish(outcome: FetchOutcome): void;
}

export class PacedFetcher {
  private current: Fetch | undefined;
  private inFlight: { id: number; offset: number; length: number; sentAt: number } | undefined;
  private pause: TimerHandle | undefined;
  /** A chunk is being written: the next request waits for it. */
  private writing = false;
  private connected = false;
  private nextId = 1;
  /** Bytes asked for since start (what the pacing spends of the link). */
  requestedBytes = 0;

  constructor(private readonly options: FetcherOptions) {}

  /** The bundle being fetched, with the bytes it has. */
  get progress(): { target: FetchTarget; bytes: number } | undefined {
    const c = this.current;
    return c === undefined ? undefined : { target: c.target, bytes: c.part.size };
  }

  /** Fetch `target` into the cache from its .part size on; resolves with how it ended. */
  async fetch(target: FetchTarget): Promise<FetchOutcome> {
    if (this.current !== undefined) throw new Error('a fetch is running');
    const part = await this.options.cache.openPart(target.bundle);
    // Longer than the bundle: not its bytes. The hash check would fail anyway; start over.
    if (part.size > target.size) await part.truncate(0);
    const outcome = new Promise<FetchOutcome>((resolve) => {
      this.current = { target, part, finish: resolve };
    });
    if (part.size === target.size) void this.complete();
    else this.request();
    return outcome;
  }

  /** The uplink is up (WELCOME) or down: a request in flight on a closed link is lost, ask again. */
  setConnected(connected: boolean): void {
    this.connected = connected;
    if (!connected) {
      this.inFlight = undefined;
      this.options.timers.clearTimeout(this.pause);
      this.pause = undefined;
    } else this.request();
  }

  chunk(body: UplinkFirmwareChunk): void {
    const asked = this.inFlight;
    const c = this.current;
    if (asked === undefined || c === undefined || body.id !== asked.id) return; // stale: an earlier link's
    this.inFlight = undefined;
    const arrival = this.options.timers.now();
    const { size } = c.target;
    const short = body.data.length < asked.length && body.offset + body.data.length !== size;
    if (body.offset !== asked.offset || body.data.length === 0 || body.data.length > asked.length || short) {
      this.end(c, {
        kind: 'failed',
        error: new FirmwareError(
          FirmwareErrorCode.CORRUPT,
          `the upstream answered bytes ${body.offset}+${body.data.length} to a request for ${asked.offset}+${asked.length}`,
        ),
      });
      return;
    }
    this.writing = true;
    c.part.write(body.offset, body.data).then(
      () => {
        this.writing = false;
        this.options.onBytes?.(body.data.length);
        if (this.current !== c) return;
        if (c.part.size >= size) return void this.complete();
        // The pacing: the link was busy t ms with this chunk; leave it to others t*(1-share)/share.
        const t = arrival - asked.sentAt;
        const wait = (t * (1 - this.options.share)) / this.options.share;
        const left = Math.max(0, arrival + wait - this.options.timers.now());
        this.pause = this.options.timers.setTimeout(() => {
          this.pause = undefined;
          this.request();
        }, left);
      },
      (err: unknown) => {
        this.writing = false;
        if (this.current === c) this.end(c, { kind: 'failed', error: ioFailure(err) });
      },
    );
  }

  /** FIRMWARE_ERROR for the request in flight: the bundle was withdrawn, or the range is bad. */
  error(body: UplinkFirmwareError): void {
    const c = this.current;
    if (c === undefined || this.inFlight?.id !== body.id) return;
    this.inFlight = undefined;
    const error = new FirmwareError(FirmwareErrorCode.IO, `${body.code}: ${body.message}`);
    this.end(c, { kind: 'failed', error });
  }

  /** Stop the fetch (no longer offered; stopping): the .part file is synced and kept. */
  async cancel(): Promise<void> {
    const c = this.current;
    if (c !== undefined) await this.end(c, { kind: 'cancelled' });
  }

  private request(): void {
    const c = this.current;
    if (c === undefined || !this.connected || this.inFlight !== undefined) return;
    if (this.pause !== undefined || this.writing) return;
    const offset = c.part.size;
    const length = Math.min(this.options.chunkBytes, c.target.size - offset);
    if (length <= 0) return;
    const id = this.nextId++;
    const sentAt = this.options.timers.now();
    if (!this.options.send({ id, bundle: c.target.bundle, offset, length })) return;
    this.inFlight = { id, offset, length, sentAt };
    this.requestedBytes += length;
  }

  /** Every byte is there: check the whole file's hash and keep it. */
  private async complete(): Promise<void> {
    const c = this.current;
    if (c === undefined) return;
    await c.part.close();
    this.current = undefined;
    try {
      await this.options.cache.complete(c.target.bundle);
      c.finish({ kind: 'complete' });
    } catch (err) {
      c.finish({ kind: 'failed', error: err instanceof FirmwareError ? err : ioFailure(err) });
    }
  }

  private async end(c: Fetch, outcome: FetchOutcome): Promise<void> {
    if (this.current !== c) return;
    this.current = undefined;
    this.inFlight = undefined;
    this.options.timers.clearTimeout(this.pause);
    this.pause = undefined;
    await c.part.close().catch(() => undefined);
    c.finish(outcome);
  }
}

function ioFailure(err: unknown): FirmwareError {
  return new FirmwareError(FirmwareErrorCode.IO, `bundle file: ${(err as Error).message}`, { cause: err });
}
