/**
 * What a verified manifest must be for this host: its program and architecture, an upgrade path
 * from the running version (at or above the bundle's minimum), and newer than what runs unless a
 * downgrade is asked for explicitly (an operator rolling back on purpose).
 */
import { FirmwareError, FirmwareErrorCode } from './errors.js';
import type { Arch, Manifest, Program } from './manifest.js';
import { compareSemVer } from './semver.js';

export interface Policy {
  /** The program this host runs; absent: any (inspection tools only). */
  program?: Program;
  arch?: Arch;
  /** The running version; absent: no minimum or downgrade check (nothing installed yet). */
  running?: string;
  /** Accept a bundle not newer than `running`. */
  allowDowngrade?: boolean;
}

export function checkPolicy(m: Manifest, p: Policy): void {
  if (p.program !== undefined && m.program !== p.program) {
    throw new FirmwareError(
      FirmwareErrorCode.WRONG_PROGRAM,
      `the bundle is for ${m.program}, this is ${p.program}`,
    );
  }
  if (p.arch !== undefined && m.arch !== p.arch) {
    throw new FirmwareError(
      FirmwareErrorCode.WRONG_ARCH,
      `the bundle is for ${m.arch}, this host is ${p.arch}`,
    );
  }
  if (p.running === undefined) return;
  if (compareSemVer(p.running, m.minVersion) < 0) {
    throw new FirmwareError(
      FirmwareErrorCode.BELOW_MINIMUM,
      `${m.program} ${m.version} installs only over ${m.minVersion} or later; this host runs ${p.running}: ` +
        `install an intermediate version first`,
    );
  }
  if (!p.allowDowngrade && compareSemVer(m.version, p.running) <= 0) {
    throw new FirmwareError(
      FirmwareErrorCode.DOWNGRADE,
      `the bundle's version ${m.version} is not newer than the running ${p.running}`,
    );
  }
}
