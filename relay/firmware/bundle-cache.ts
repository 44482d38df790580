/**
 * The relay's bundles on disk, `<dir>/`: `<bundle>.part` while fetching (its size is where a
 * fetch resumes, after a reconnect or a restart), `<bundle>.owlfw` once the sha256 of the whole
 * file equals the id. Only offered bundles are kept (prune); agents are served from the
 * complete files with positional reads.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { FirmwareError, FirmwareErrorCode } from '../../firmware/index.js';
import { isBundleId } from '../../protocol/index.js';

const PART = '.part';
const COMPLETE = '.owlfw';
/** The .part file is fsynced after this many chunks (and when a fetch stops): a crash loses at most these. */
const SYNC_EVERY_CHUNKS = 8;

export class BundleCache {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  partPath(bundle: string): string {
    return join(this.dir, bundle + PART);
  }

  path(bundle: string): string {
    return join(this.dir, bundle + COMPLETE);
  }

  isComplete(bundle: string): boolean {
    return existsSync(this.path(bundle));
  }

  /** Bytes already fetched of `bundle` (its .part size, 0 when none). */
  partSize(bundle: string): number {
    try {
      return statSync(this.partPath(bundle)).size;
    } catch {
      return 0;
    }
  }

  /** Bytes every kept file takes. */
  diskBytes(): number {
    let n = 0;
    for (const name of this.names()) n += sizeOf(join(this.dir, name));
    return n;
  }

  /** Delete every bundle file (complete or partial) not in `keep`; returns the ids removed. */
  async prune(keep: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const name of this.names()) {
      const id = name.slice(0, 64);
      if (keep.has(id)) continue;
      await rm(join(this.dir, name), { force: true });
      removed.push(id);
    }
    return removed;
  }

  /** Open the .part file of `bundle` to append from its current size. */
  async openPart(bundle: string): Promise<PartFile> {
    const path = this.partPath(bundle);
    const fh = await open(path, existsSync(path) ? 'r+' : 'w+');
    const { size } = await fh.stat();
    return new PartFile(fh, size);
  }

  /**
   * The .part file is whole: keep it as `<bundle>.owlfw` if its sha256 is the id; otherwise it
   * is deleted and this throws OWL_ERR_FIRMWARE_CORRUPT (a torn tail after a crash, or bad bytes).
   */
  async complete(bundle: string): Promise<void> {
    const part = this.partPath(bundle);
    const digest = await sha256File(part);
    if (digest !== bundle) {
      await rm(part, { force: true });
      throw new FirmwareError(
        FirmwareErrorCode.CORRUPT,
        `the fetched file's sha256 is ${digest}, not the bundle id; deleted, to fetch again`,
      );
    }
    await rename(part, this.path(bundle));
    await syncDir(this.dir);
  }

  /** Bytes [offset, offset + length) of a complete bundle, shorter at its end; undefined when not cached. */
  async read(bundle: string, offset: number, length: number): Promise<Buffer | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(this.path(bundle), 'r');
    } catch {
      return undefined;
    }
    try {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  private names(): string[] {
    return readdirSync(this.dir).filter(
      (n) => (n.endsWith(PART) || n.endsWith(COMPLETE)) && isBundleId(n.slice(0, 64)),
    );
  }
}

/** A .part file being appended to, with positional writes; synced every few chunks and at close. */
export class PartFile {
  private unsynced = 0;

  constructor(
    private readonly fh: FileHandle,
    public size: number,
  ) {}

  /** Write `data` at `offset` (the current size: a fetch only appends). */
  async write(offset: number, data: Buffer): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    this.size = Math.max(this.size, offset + data.length);
    if (++this.unsynced >= SYNC_EVERY_CHUNKS) await this.sync();
  }

  /** Cut the file to `size` (a tail beyond the bundle's size). */
  async truncate(size: number): Promise<void> {
    await this.fh.truncate(size);
    this.size = size;
  }

  async sync(): Promise<void> {
    this.unsynced = 0;
    await this.fh.datasync();
  }

  async close(): Promise<void> {
    await this.sync().catch(() => undefined);
    await this.fh.close();
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => hash.update(c))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
