/**
 * Bundles this relay refused (`<dir>/refused.json`): never fetched again, so a bad bundle costs
 * the uplink once, and its refusal is logged and reported once. Replaced atomically (firmware's
 * writeFileAtomic: temp file, fsync, rename, directory fsync); unreadable content counts as
 * empty (a refused bundle is then fetched and refused again, nothing worse). A refusal for want of a key is forgotten at the next start: the
 * keys are the relay's own config, which an operator may have fixed meanwhile.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FirmwareErrorCode, writeFileAtomic } from '../../firmware/index.js';
import type { FirmwareRefusalReport } from '../../protocol/index.js';

/** Refusals that depend on the pinned keys, not on the bundle. */
const KEY_CODES: ReadonlySet<string> = new Set([FirmwareErrorCode.UNKNOWN_KEY, FirmwareErrorCode.BAD_KEY]);

export const REFUSED_FILE = 'refused.json';
/** Refusals remembered; the oldest are forgotten past it (bundle ids are never reused anyway). */
const MAX_REMEMBERED = 256;

export class RefusedBundles {
  private readonly byId = new Map<string, FirmwareRefusalReport>();
  private readonly file: string;

  constructor(dir: string) {
    this.file = join(dir, REFUSED_FILE);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch {
      return;
    }
    if (!Array.isArray(parsed)) return;
    for (const r of parsed as FirmwareRefusalReport[]) {
      if (typeof r?.bundle === 'string' && typeof r.code === 'string' && !KEY_CODES.has(r.code))
        this.byId.set(r.bundle, r);
    }
  }

  has(bundle: string): boolean {
    return this.byId.has(bundle);
  }

  /** The most recent refusal, for reports. */
  last(): FirmwareRefusalReport | undefined {
    let last: FirmwareRefusalReport | undefined;
    for (const r of this.byId.values()) if (last === undefined || r.at >= last.at) last = r;
    return last;
  }

  get size(): number {
    return this.byId.size;
  }

  add(refusal: FirmwareRefusalReport & { bundle: string }): void {
    this.byId.delete(refusal.bundle);
    this.byId.set(refusal.bundle, refusal);
    while (this.byId.size > MAX_REMEMBERED) this.byId.delete(this.byId.keys().next().value as string);
    writeFileAtomic(this.file, `${JSON.stringify([...this.byId.values()])}\n`);
  }
}
