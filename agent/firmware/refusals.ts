/**
 * Bundles this agent refused (`<stateDir>/firmware/refused.json`): their ids, so a refused bundle
 * is never fetched again (not after a restart either), and the last refusal, reported in every
 * FWCHECK until a later one replaces it. Kept short: the newest 64 ids. A refusal for want of a
 * key is kept for this process only: the keys are the agent's own config, which an operator may
 * have fixed by the next start.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../atomic-file.js';
import type { FwCheck } from './wire.js';

export type Refusal = NonNullable<FwCheck['refused']>;

const KEEP = 64;

/** Refusals that depend on the pinned keys, not on the bundle (FirmwareErrorCode's values). */
const KEY_CODES: ReadonlySet<string> = new Set(['OWL_ERR_FIRMWARE_UNKNOWN_KEY', 'OWL_ERR_FIRMWARE_BAD_KEY']);

export class Refusals {
  private constructor(
    private readonly file: string,
    private readonly ids: string[],
    private latest: Refusal | undefined,
  ) {}

  static async open(file: string): Promise<Refusals> {
    try {
      const v = JSON.parse((await readFileIfExists(file)) ?? '{}') as { ids?: unknown; last?: Refusal };
      const ids = Array.isArray(v.ids) ? v.ids.filter((x): x is string => typeof x === 'string') : [];
      return new Refusals(file, ids, v.last && typeof v.last.code === 'string' ? v.last : undefined);
    } catch {
      return new Refusals(file, [], undefined); // damaged: at worst a refused bundle is fetched once more
    }
  }

  /** Refused for want of a key, in this process. */
  private readonly untilRestart = new Set<string>();

  has(bundle: string): boolean {
    return this.ids.includes(bundle) || this.untilRestart.has(bundle);
  }

  get last(): Refusal | undefined {
    return this.latest;
  }

  async add(r: Refusal): Promise<void> {
    this.latest = r;
    if (r.bundle !== undefined && KEY_CODES.has(r.code)) this.untilRestart.add(r.bundle);
    else if (r.bundle !== undefined && !this.ids.includes(r.bundle)) this.ids.push(r.bundle);
    this.ids.splice(0, Math.max(0, this.ids.length - KEEP));
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file, JSON.stringify({ ids: this.ids, last: r }));
  }
}
