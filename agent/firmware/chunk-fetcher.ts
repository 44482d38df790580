/**
 * Fetches one bundle from the relay in chunks (FWCHUNKREQ → FWCHUNK), one request in flight,
 * into `<dir>/<bundle>.part`. Resumable: a reconnect or a restart (even after kill -9) asks for
 * the next chunk at the .part file's size. Complete when the file holds `size` bytes; then the
 * sha256 of the whole file must equal the bundle id (what the relay and upstream name it by), and
 * it is renamed to `<bundle>.owlfw`. A mismatch deletes it: a CORRUPT refusal.
 * Per-chunk progress is not logged (the updater logs state changes only).
 */
import { createHash } from 'node:crypto';
import { constants as fsc, createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { TimerHandle, Timers } from '../../protocol/wire/index.js';
import type { FwChunk, FwChunkReq, OfferedBundle } from './wire.js';

/** FirmwareErrorCode.CORRUPT (firmware/errors.ts), without loading firmware/ for one string. */
export const CORRUPT_CODE = 'OWL_ERR_FIRMWARE_CORRUPT';
/** FirmwareErrorCode.IO: retriable, so the bundle is not remembered as refused. */
export const IO_CODE = 'OWL_ERR_FIRMWARE_IO';

export interface FetchOptions {
  /** `<stateDir>/firmware`. */
  dir: string;
  chunkBytes: number;
  timers: Timers;
  /** Send a chunk request; false when no firmware session is up (then resume() later). */
  send(req: FwChunkReq): boolean;
  /** The whole bundle is at `file`, its sha256 checked. */
  done(bundle: OfferedBundle, file: string): void;
  /** The fetch stopped: the relay cannot serve it (its code), or the bytes did not match the id. */
  failed(bundle: OfferedBundle, code: string, message: string): void;
  /** A chunk not answered within this is asked for again (default 60 s). */
  chunkTimeoutMs?: number;
}

export interface DownloadStatus {
  bundle: string;
  version: string;
  bytes: number;
  size: number;
}

export class ChunkFetcher {
  private bundle: OfferedBundle | undefined;
  private fh: FileHandle | undefined;
  private offset = 0;
  private inFlight: { id: number; offset: number; length: number } | undefined;
  private nextId = 1;
  private timer: TimerHandle | undefined;
  /** Chunks are written one after another, never two at once. */
  private work: Promise<void> = Promise.resolve();
  private sessionUp = false;

  constructor(private readonly o: FetchOptions) {}

  get download(): DownloadStatus | undefined {
    const b = this.bundle;
    return b && { bundle: b.id, version: b.version, bytes: this.offset, size: b.size };
  }

  get active(): string | undefined {
    return this.bundle?.id;
  }

  /** Starts (or resumes from its .part) fetching `bundle`; other downloads' files are removed. */
  start(bundle: OfferedBundle): Promise<void> {
    this.dropRequest(); // a request for the download this one replaces
    return this.queue(async () => {
      await this.closeFile();
      await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
      await this.removeOthers(bundle.id);
      const complete = this.completePath(bundle.id);
      if ((await sizeOf(complete)) === bundle.size) {
        this.bundle = bundle;
        this.offset = bundle.size;
        return this.finish(complete);
      }
      const part = this.partPath(bundle.id);
      // Not O_APPEND: Linux would ignore the positions given to write().
      this.fh = await open(part, fsc.O_RDWR | fsc.O_CREAT, 0o600);
      let size = (await this.fh.stat()).size;
      if (size > bundle.size) {
        await this.fh.truncate(0); // not this bundle's bytes: start over
        size = 0;
      }
      this.bundle = bundle;
      this.offset = size;
      if (size === bundle.size) return this.complete();
      this.request();
    });
  }

  /** A firmware session is up: ask for the next chunk (at the .part size). */
  resume(): void {
    this.sessionUp = true;
    this.request();
  }

  /** The session went down: the request in flight is lost with it. */
  pause(): void {
    this.sessionUp = false;
    this.dropRequest();
  }

  /** Stop fetching; the .part stays for a later resume unless `remove`. */
  cancel(remove = false): Promise<void> {
    const id = this.bundle?.id;
    this.bundle = undefined;
    this.dropRequest();
    return this.queue(async () => {
      await this.closeFile();
      if (remove && id) await rm(this.partPath(id), { force: true });
    });
  }

  onChunk(c: FwChunk): void {
    const req = this.inFlight;
    const b = this.bundle;
    if (!req || !b || c.id !== req.id || c.bundle !== b.id) return; // late or stray: ignored
    this.dropRequest();
    if (c.code !== undefined) {
      void this.cancel().then(() => this.o.failed(b, c.code!, c.message ?? 'the relay cannot serve it'));
      return;
    }
    const data = Buffer.from(c.data ?? '', 'base64');
    const short = c.offset + data.length < Math.min(b.size, req.offset + req.length);
    if (c.offset !== req.offset || data.length === 0 || data.length > req.length || short) {
      // Not what was asked: ask again rather than write it.
      this.request();
      return;
    }
    void this.queue(async () => {
      if (this.bundle !== b || !this.fh) return;
      await writeAt(this.fh, data, c.offset);
      this.offset = c.offset + data.length;
      if (this.offset === b.size) return this.complete();
      this.request();
    }).catch((err: Error) => this.fail(b, err));
  }

  /** A local failure (disk full, I/O error): stop; the next offer resumes from the .part. */
  private fail(b: OfferedBundle, err: Error): void {
    void this.cancel().then(() => this.o.failed(b, IO_CODE, `writing the download failed: ${err.message}`));
  }

  private request(): void {
    const b = this.bundle;
    if (!b || !this.sessionUp || this.inFlight || this.offset >= b.size || !this.fh) return;
    const length = Math.min(this.o.chunkBytes, b.size - this.offset);
    const req = { id: this.nextId++, bundle: b.id, offset: this.offset, length };
    if (!this.o.send(req)) return;
    this.inFlight = { id: req.id, offset: req.offset, length };
    this.timer = this.o.timers.setTimeout(() => {
      this.dropRequest();
      this.request();
    }, this.o.chunkTimeoutMs ?? 60_000);
  }

  private dropRequest(): void {
    this.inFlight = undefined;
    this.o.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async complete(): Promise<void> {
    const b = this.bundle!;
    await this.fh!.datasync();
    await this.closeFile();
    const complete = this.completePath(b.id);
    await rename(this.partPath(b.id), complete);
    await this.finish(complete);
  }

  /** The whole file's sha256 must be the id. */
  private async finish(file: string): Promise<void> {
    const b = this.bundle!;
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    const digest = hash.digest('hex');
    this.bundle = undefined;
    if (digest === b.id) return this.o.done(b, file);
    await rm(file, { force: true });
    this.o.failed(b, CORRUPT_CODE, `the downloaded file's sha256 is ${digest}, not the bundle id`);
  }

  private async removeOthers(keep: string): Promise<void> {
    for (const name of await readdir(this.o.dir)) {
      if (!/\.(part|owlfw)$/.test(name) || name.startsWith(`${keep}.`)) continue;
      await rm(join(this.o.dir, name), { force: true });
    }
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  private partPath(id: string): string {
    return join(this.o.dir, `${id}.part`);
  }

  private completePath(id: string): string {
    return join(this.o.dir, `${id}.owlfw`);
  }

  private queue(step: () => Promise<void>): Promise<void> {
    const next = this.work.then(step);
    this.work = next.catch(() => undefined);
    return next;
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/** filehandle.write may write less than asked: loop until all is written. */
async function writeAt(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let done = 0; done < data.length;) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
