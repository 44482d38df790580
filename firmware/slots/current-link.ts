/**
 * `<root>/current`: a relative symlink to `a` or `b`. Switched atomically: a new link under a
 * temp name, rename(2) over `current`, fsync of the root. rename replaces the name in one step,
 * so `current` always resolves to the old slot or the new one, never to nothing.
 */
import { readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { io } from './errors.js';
import { renameDurable } from './durable-fs.js';
import { isSlotName, type SlotName } from './slot-dir.js';

export const CURRENT_LINK = 'current';
const TEMP_LINK = '.current.tmp';

/** The slot `current` names, or null if it is missing or names something else. */
export function readCurrent(root: string): SlotName | null {
  try {
    const target = readlinkSync(join(root, CURRENT_LINK));
    return isSlotName(target) ? target : null;
  } catch {
    return null;
  }
}

/** Points `current` at `slot`; `linked()` runs between making the temp link and the rename. */
export function pointCurrent(root: string, slot: SlotName, linked?: () => void): void {
  const temp = join(root, TEMP_LINK);
  // A temp link left by a crash is stale: replace it.
  io(`remove ${temp}`, () => rmSync(temp, { force: true }));
  io(`symlink ${temp}`, () => symlinkSync(slot, temp));
  linked?.();
  renameDurable(temp, join(root, CURRENT_LINK));
}
