/**
 * Who this agent is, as its firmware reports say: its architecture, and its running version,
 * which is the version of the slot `current` names when it runs from slots (`firmware.root`),
 * else the agent's own. Only firmware/slots is loaded here: plain fs code, nothing heavy, so
 * every agent can read its slots at start.
 */
import { SlotSet, type SlotStatus } from '../../firmware/slots/index.js';
import { AGENT_VERSION } from '../version.js';

export type FirmwareArch = 'amd64' | 'arm64';

/** process.arch in the bundles' names; undefined on a machine no bundle is built for. */
export function firmwareArch(arch: string = process.arch): FirmwareArch | undefined {
  if (arch === 'x64') return 'amd64';
  if (arch === 'arm64') return 'arm64';
  return undefined;
}

export interface Runtime {
  /** The slot directory; undefined when not running from slots (updates off). */
  root: string | undefined;
  version: string;
  arch: string;
  /** The slots' status when running from slots. */
  slots: SlotStatus | undefined;
}

/** Reads the slots now (update.json and the `current` link). */
export function readRuntime(root: string | undefined): Runtime {
  const arch = firmwareArch() ?? process.arch;
  if (root === undefined) return { root, version: AGENT_VERSION, arch, slots: undefined };
  const slots = new SlotSet({ root }).status();
  return { root, version: slots.current?.version ?? AGENT_VERSION, arch, slots };
}
