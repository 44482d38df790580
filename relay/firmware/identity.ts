/**
 * What this relay runs: its version (the slot `current` names when it runs from slots, else the
 * build's OWL_VERSION) and its architecture in bundle terms. One answer used by RELAY_STATUS,
 * the build-info metric, firmware reports and the own-update policy.
 */
import type { Arch, SlotSet } from '../../firmware/index.js';
import { OWL_VERSION } from '../../protocol/index.js';

/** process.arch in bundle terms; undefined on an architecture no bundle is built for. */
export function hostArch(arch: string = process.arch): Arch | undefined {
  if (arch === 'x64') return 'amd64';
  if (arch === 'arm64') return 'arm64';
  return undefined;
}

/** The running version: the current slot's when running from `slots` (and it names one). */
export function runningVersion(slots: SlotSet | undefined): string {
  if (slots === undefined) return OWL_VERSION;
  return slots.status().current?.version ?? OWL_VERSION;
}
