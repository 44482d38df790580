/**
 * The upstream's bundle files: each stored once, named by the sha256 of its bytes, under
 * `<stateDir>/firmware/bundles/<sha256>.owlfw`. An upload is streamed into `tmp/` (hashed and
 * size-capped on the way, never held in memory), then fsynced and renamed into place. Chunks are
 * read back with positional reads of a file handle.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FirmwareError, FirmwareErrorCode } from '../../firmware/index.js';
import { syncDir } from './atomic-file.js';

const SUFFIX = '.owlfw';

/** A received upload in `tmp/`, not yet kept. */
export interface Upload {
  file: string;
  /** sha256 of the bytes, 64 lowercase hex: the bundle id. */
  sha256: string;
  size: number;
}

export class BundleStore {
  readonly bundles: string;
  readonly tmp: string;
  private uploads = 0;

  private constructor(readonly dir: string) {
    this.bundles = join(dir, 'bundles');
    this.tmp = join(dir, 'tmp');
  }

  /** Open `<dir>` (`<stateDir>/firmware`): uploads and checks a crash left behind are removed. */
  static async open(dir: string): Promise<BundleStore> {
    const s = new BundleStore(dir);
    await rm(s.tmp, { recursive: true, force: true });
    await mkdir(s.bundles, { recursive: true });
    await mkdir(s.tmp, { recursive: true });
    return s;
  }

  /** A fresh path under `tmp/` (uploads, verification staging). */
  scratch(what: string): string {
    return join(this.tmp, `${what}-${process.pid}-${++this.uploads}`);
  }

  /**
   * Stream `source` into a temporary file; TOO_LARGE as soon as it passes `maxBytes` (the
   * partial file is removed). The caller keeps or discards the upload.
   */
  async receive(source: AsyncIterable<Buffer>, maxBytes: number): Promise<Upload> {
    const file = this.scratch('upload');
    const hash = createHash('sha256');
    let size = 0;
    const fh = await open(file, 'wx', 0o644);
    try {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > maxBytes)
          throw new FirmwareError(
            FirmwareErrorCode.TOO_LARGE,
            `the bundle is over the upstream's cap of ${maxBytes} bytes (firmware.maxBundleBytes)`,
          );
        hash.update(chunk);
        await fh.write(chunk);
      }
      await fh.sync();
    } catch (err) {
      await fh.close();
      await rm(file, { force: true });
      throw err;
    }
    await fh.close();
    return { file, sha256: hash.digest('hex'), size };
  }

  /** Move an upload into place under its id (dropped if that bundle is stored already). */
  async keep(upload: Upload): Promise<void> {
    const dest = this.path(upload.sha256);
    if (await exists(dest)) return this.discard(upload.file);
    await rename(upload.file, dest);
    await syncDir(this.bundles);
  }

  async discard(file: string): Promise<void> {
    await rm(file, { recursive: true, force: true });
  }

  path(id: string): string {
    return join(this.bundles, `${id}${SUFFIX}`);
  }

  async remove(id: string): Promise<void> {
    await rm(this.path(id), { force: true });
  }

  /** Ids of the stored bundle files. */
  async ids(): Promise<string[]> {
    return (await readdir(this.bundles))
      .filter((n) => n.endsWith(SUFFIX))
      .map((n) => n.slice(0, -SUFFIX.length));
  }

  /**
   * `length` bytes of bundle `id` from `offset` (fewer at the end of the file): one positional
   * read, the file is never loaded whole. Throws ENOENT when the file is gone (withdrawn).
   */
  async read(id: string, offset: number, length: number): Promise<Buffer> {
    const fh = await open(this.path(id), 'r');
    try {
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === length ? buf : buf.subarray(0, done);
    } finally {
      await fh.close();
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
