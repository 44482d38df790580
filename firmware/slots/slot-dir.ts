/**
 * The two slots, `<root>/a` and `<root>/b`. A slot exists only complete: its tree is copied and
 * synced under `.incoming-<slot>`, its marker `.owl-slot.json` (the version) written last, and
 * only then renamed to the slot's name. A slot without a readable marker holds no version.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type SlotName = 'a' | 'b';
export const SLOT_NAMES: readonly SlotName[] = ['a', 'b'];
export const SLOT_MARKER = '.owl-slot.json';

export interface SlotMarker {
  version: string;
  installedAt: number;
}

export function isSlotName(v: unknown): v is SlotName {
  return v === 'a' || v === 'b';
}

export function otherSlot(slot: SlotName): SlotName {
  return slot === 'a' ? 'b' : 'a';
}

export function slotPath(root: string, slot: SlotName): string {
  return join(root, slot);
}

/** Where install() builds a slot before renaming it into place. */
export function incomingPath(root: string, slot: SlotName): string {
  return join(root, `.incoming-${slot}`);
}

/** Where install() moves the old content of a slot before deleting it. */
export function trashPath(root: string, slot: SlotName): string {
  return join(root, `.trash-${slot}`);
}

/** The version a slot holds, or null if it holds no complete one. */
export function slotVersion(root: string, slot: SlotName): string | null {
  const marker = join(slotPath(root, slot), SLOT_MARKER);
  if (!existsSync(marker)) return null;
  try {
    const value = JSON.parse(readFileSync(marker, 'utf8')) as Partial<SlotMarker>;
    return typeof value.version === 'string' ? value.version : null;
  } catch {
    return null;
  }
}

/** Versions name directories and logs: keep them plain. */
export function isValidVersion(version: string): boolean {
  return /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/.test(version);
}
