/**
 * Installing the relay's own update: verify the cached bundle into `<dir>/staging` (program
 * owl-relay, this arch, newer than the running version, pinned keys) BEFORE anything touches a
 * slot; then SlotSet.install into the inactive slot, remove staging, switch. The caller reports,
 * stops cleanly and exits with EXIT_FIRMWARE_RESTART so the service starts the new slot.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  verifyBundle,
  type Arch,
  type Manifest,
  type PinnedKey,
  type SlotSet,
} from '../../firmware/index.js';

export interface InstallOptions {
  slots: SlotSet;
  keys: readonly PinnedKey[];
  arch: Arch;
  /** The running version (the current slot's). */
  running: string;
  /** Where staging is made: `<dir>/staging` (a leftover of a crash is removed first). */
  dir: string;
}

/** Whether the slots are between a switch and its commit or rollback: no install then. */
export function updatePending(slots: SlotSet): boolean {
  const { state } = slots.state();
  return state === 'switching' || state === 'trial' || state === 'rolling-back';
}

/**
 * Verify `file` and, only if it passes, install and switch. Throws the FirmwareError of a
 * refusal (nothing written to a slot), or a SlotError (BUSY: another actor has the slots' lock;
 * retriable, not the bundle's fault).
 */
export async function installOwnBundle(
  file: string,
  o: InstallOptions,
  onStep: (step: 'verified' | 'installed' | 'switched', manifest: Manifest) => void,
): Promise<Manifest> {
  // Another actor has the slots (an operator, a package upgrade): SlotError BUSY, retried later,
  // before a verify that would be wasted.
  o.slots.throwIfBusy();
  const staging = join(o.dir, 'staging');
  await rm(staging, { recursive: true, force: true });
  try {
    const manifest = await verifyBundle(file, {
      keys: o.keys,
      staging,
      program: 'owl-relay',
      arch: o.arch,
      running: o.running,
    });
    onStep('verified', manifest);
    o.slots.install(staging, manifest.version);
    onStep('installed', manifest);
    await rm(staging, { recursive: true, force: true });
    o.slots.switch();
    onStep('switched', manifest);
    return manifest;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
