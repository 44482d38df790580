/**
 * The entries of a package tree on disk, as a manifest lists them: depth first, each directory
 * before its contents, names in byte order (the same tree always gives the same manifest).
 * Only directories, regular files and symlinks; file sizes and hashes are filled in later, while
 * the payload is written. The tree rules of manifest.ts are checked here too, so `sign` refuses a
 * tree no gateway would accept.
 */
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { FirmwareError, FirmwareErrorCode } from './errors.js';
import { checkTree, type Entry } from './manifest.js';

export async function walkTree(root: string): Promise<Entry[]> {
  const top = await lstat(root).catch((err: unknown) => {
    throw new FirmwareError(FirmwareErrorCode.BAD_TREE, `cannot read ${root}: ${(err as Error).message}`, {
      cause: err,
    });
  });
  if (!top.isDirectory()) throw new FirmwareError(FirmwareErrorCode.BAD_TREE, `${root} is not a directory`);
  const entries: Entry[] = [];
  await walk(root, '', entries);
  try {
    checkTree(entries);
  } catch (err) {
    throw new FirmwareError(FirmwareErrorCode.BAD_TREE, `${root}: ${(err as Error).message}`);
  }
  return entries;
}

async function walk(root: string, rel: string, out: Entry[]): Promise<void> {
  const names = (await readdir(join(root, rel))).sort((a, b) =>
    Buffer.compare(Buffer.from(a), Buffer.from(b)),
  );
  for (const name of names) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const st = await lstat(join(root, path));
    const mode = `0${(st.mode & 0o777).toString(8).padStart(3, '0')}`;
    if (st.isDirectory()) {
      out.push({ path, type: 'dir', mode });
      await walk(root, path, out);
    } else if (st.isFile()) {
      out.push({ path, type: 'file', mode, size: st.size, sha256: '' });
    } else if (st.isSymbolicLink()) {
      out.push({ path, type: 'symlink', target: await readlink(join(root, path)) });
    } else {
      throw new FirmwareError(
        FirmwareErrorCode.BAD_TREE,
        `${join(root, path)} is not a directory, regular file or symlink; a bundle cannot carry it`,
      );
    }
  }
}
