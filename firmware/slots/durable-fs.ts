/**
 * File operations that survive power loss: every write is fsynced before it counts, and every
 * rename or removal is followed by an fsync of the directory that holds the name.
 */
import {
  closeSync,
  copyFileSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  chmodSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { io, SlotError, SlotErrorCode } from './errors.js';

/** fsync a file or directory by path. */
export function fsyncPath(path: string): void {
  io(`fsync ${path}`, () => {
    const fd = openSync(path, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  });
}

/** Replaces `path` with `data` atomically: temp file, fsync, `beforeRename()`, rename, fsync dir. */
export function writeFileAtomic(path: string, data: string, beforeRename?: () => void): void {
  const temp = join(dirname(path), `.${basename(path)}.tmp`);
  io(`write ${temp}`, () => {
    const fd = openSync(temp, 'w', 0o644);
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  });
  beforeRename?.();
  io(`rename ${temp}`, () => renameSync(temp, path));
  fsyncPath(dirname(path));
}

/** Renames and syncs the directory holding both names (they share one). */
export function renameDurable(from: string, to: string): void {
  io(`rename ${from} to ${to}`, () => renameSync(from, to));
  fsyncPath(dirname(to));
}

/** Removes a tree if present (no sync: a removal half done is finished by the next call). */
export function removeTree(path: string): void {
  io(`remove ${path}`, () => rmSync(path, { recursive: true, force: true }));
}

/**
 * Copies a tree (files, directories, symlinks; modes kept), fsyncing every file and directory,
 * and calls `onFile` after each file. Anything else (device, socket, fifo) is refused.
 */
export function copyTreeDurable(from: string, to: string, onFile?: () => void): void {
  const stat = io(`stat ${from}`, () => lstatSync(from));
  // Made writable to fill it; its own mode is set once it is full.
  io(`mkdir ${to}`, () => mkdirSync(to, { mode: 0o700 }));
  for (const entry of io(`read ${from}`, () => readdirSync(from, { withFileTypes: true }))) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) {
      copyTreeDurable(src, dst, onFile);
    } else if (entry.isSymbolicLink()) {
      io(`symlink ${dst}`, () => symlinkSync(readlinkSync(src), dst));
    } else if (entry.isFile()) {
      io(`copy ${src}`, () => {
        copyFileSync(src, dst);
        chmodSync(dst, lstatSync(src).mode & 0o7777);
      });
      fsyncPath(dst);
      onFile?.();
    } else {
      throw new SlotError(SlotErrorCode.BAD_TREE, `${src}: not a file, directory or symlink`);
    }
  }
  io(`chmod ${to}`, () => chmodSync(to, stat.mode & 0o7777));
  fsyncPath(to);
}
