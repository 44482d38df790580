/**
 * A downloaded bundle into the inactive slot: verified first (signature with the pinned keys,
 * program owl-agent, this arch, newer than the running version, every file's hash) into
 * `<stateDir>/firmware/staging`, so nothing touches a slot before the bundle is proven good;
 * then SlotSet.install, and switch as a step of its own. The caller restarts the agent (exit 75) after it.
 * firmware/index.ts is loaded here, on the first bundle only: with the protocol's schemas and
 * zstd it costs ~16 MiB of RSS, which an agent that never receives a bundle does not pay.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Arch } from '../../firmware/index.js';
import { SlotSet } from '../../firmware/slots/index.js';

export interface InstallOptions {
  /** The slot directory (firmware.root). */
  root: string;
  /** `<stateDir>/firmware`: the staging directory goes here. */
  dir: string;
  /** PEM files of the pinned public keys; none: every bundle is refused (UNKNOWN_KEY). */
  keys: readonly string[];
  arch: string;
  running: string;
}

export interface Installed {
  version: string;
  slot: string;
}

/**
 * Verifies `file` and installs it into the inactive slot; throws the FirmwareError of a refusal
 * (before any slot is written) or the SlotError of a failed install. Staging is removed either way.
 */
export async function verifyAndInstall(file: string, o: InstallOptions): Promise<Installed> {
  // Another actor has the slots (an operator, a package upgrade): SlotError BUSY (retriable, not
  // the bundle's fault; the bundle is kept for the next try), before a verify that would be wasted.
  const slots = new SlotSet({ root: o.root });
  slots.throwIfBusy();
  const fw = await import('../../firmware/index.js');
  const staging = join(o.dir, 'staging');
  await rm(staging, { recursive: true, force: true }); // left by a crash
  try {
    const manifest = await fw.verifyBundle(file, {
      keys: fw.loadPublicKeys(o.keys),
      staging,
      program: 'owl-agent',
      arch: o.arch as Arch,
      running: o.running,
    });
    return slots.install(staging, manifest.version) as Installed;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Points `current` at the installed slot: its trial starts; the agent must restart now. */
export function switchSlots(root: string): Installed {
  return new SlotSet({ root }).switch() as Installed;
}
