/**
 * Writes a verified manifest's tree into a staging directory, from the payload's bytes as they
 * are decompressed: each file is created exclusively (never through a link, never over anything),
 * hashed while written, and compared with the manifest the moment its last byte is in. The
 * manifest already passed checkTree, so every parent is a directory this writer made itself.
 * Directory modes are applied last, deepest first, so a read-only directory is still filled.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { chmod, mkdir, open, symlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FirmwareError, FirmwareErrorCode } from './errors.js';
import { corrupt } from './format.js';
import type { Entry } from './manifest.js';

type FileEntry = Extract<Entry, { type: 'file' }>;

export class StagingWriter {
  private next = 0;
  private current: { entry: FileEntry; fh: FileHandle; hash: Hash; left: number } | undefined;

  private constructor(
    private readonly root: string,
    private readonly files: Entry[],
    private readonly sync: boolean,
  ) {}

  /**
   * Creates `root`, which must not exist (it is ours to remove on failure, and only then).
   * `sync`: every file and directory is on disk when finish() returns (a slot must survive a
   * power cut right after the switch); a check that throws the tree away skips it.
   */
  static async create(root: string, files: Entry[], sync: boolean): Promise<StagingWriter> {
    try {
      await mkdir(root, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new FirmwareError(
          FirmwareErrorCode.STAGING_EXISTS,
          `the staging directory ${root} exists already; remove it or name a new one`,
        );
      }
      throw ioError(`cannot create the staging directory ${root}`, err);
    }
    return new StagingWriter(root, files, sync);
  }

  /** The next bytes of the payload. */
  readonly write = async (bytes: Buffer): Promise<void> => {
    while (bytes.length > 0) {
      const c = this.current ?? (await this.openNextFile());
      if (c === undefined) throw corrupt('the payload holds more data than the manifest lists');
      const n = Math.min(c.left, bytes.length);
      const part = bytes.subarray(0, n);
      c.hash.update(part);
      await writeAll(c.fh, part);
      c.left -= n;
      bytes = bytes.subarray(n);
      if (c.left === 0) await this.closeCurrent();
    }
  };

  /** After the last payload byte: everything listed is written, then the directory modes. */
  async finish(): Promise<void> {
    if (this.current !== undefined || (await this.openNextFile()) !== undefined) {
      throw corrupt('the payload ends before every file the manifest lists (truncated or altered)');
    }
    for (let i = this.files.length - 1; i >= 0; i--) {
      const e = this.files[i]!;
      if (e.type !== 'dir') continue;
      await chmod(join(this.root, e.path), Number.parseInt(e.mode, 8));
      if (this.sync) await syncDir(join(this.root, e.path));
    }
    await chmod(this.root, 0o755);
    if (this.sync) {
      await syncDir(this.root);
      await syncDir(dirname(this.root));
    }
  }

  /** Whatever is open is closed (before the caller removes the directory). */
  async abort(): Promise<void> {
    await this.current?.fh.close().catch(() => undefined);
    this.current = undefined;
  }

  /** Makes the entries up to the next file with bytes; undefined when none is left. */
  private async openNextFile(): Promise<StagingWriter['current']> {
    while (this.next < this.files.length) {
      const e = this.files[this.next++]!;
      const path = join(this.root, e.path);
      if (e.type === 'dir') await mkdir(path, { mode: 0o700 });
      else if (e.type === 'symlink') await symlink(e.target, path);
      else {
        const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
        this.current = {
          entry: e,
          fh: await open(path, flags, 0o600),
          hash: createHash('sha256'),
          left: e.size,
        };
        if (e.size > 0) return this.current;
        await this.closeCurrent();
      }
    }
    return undefined;
  }

  private async closeCurrent(): Promise<void> {
    const c = this.current!;
    this.current = undefined;
    try {
      if (c.hash.digest('hex') !== c.entry.sha256) {
        throw corrupt(`${c.entry.path}: its content does not match the manifest's sha256 (altered)`);
      }
      await c.fh.chmod(Number.parseInt(c.entry.mode, 8));
      if (this.sync) await c.fh.datasync();
    } finally {
      await c.fh.close();
    }
  }
}

async function syncDir(path: string): Promise<void> {
  const fh = await open(path, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** filehandle.write may write less than asked (disk nearly full): loop until all is written. */
export async function writeAll(fh: FileHandle, bytes: Buffer): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

export function ioError(what: string, err: unknown): FirmwareError {
  return new FirmwareError(FirmwareErrorCode.IO, `${what}: ${(err as Error).message}`, { cause: err });
}
