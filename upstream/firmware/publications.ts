/**
 * What the operator published: one publication per bundle id, with the zones it goes to and the
 * rollout percentage. Kept in `<stateDir>/firmware/publications.json`, rewritten whole and
 * atomically on each change (publishing is rare; the file is small).
 */
import { join } from 'node:path';
import { readJsonFile, writeFileAtomic } from './atomic-file.js';

/** Programs the upstream delivers through relays (owl-upstream is installed by hand). */
export type DeliveredProgram = 'owl-relay' | 'owl-agent';
export const DELIVERED_PROGRAMS: readonly DeliveredProgram[] = ['owl-relay', 'owl-agent'];

/** Every zone, in `zones`. */
export const ALL_ZONES = '*';

export interface Publication {
  /** sha256 of the bundle file, 64 lowercase hex. */
  bundle: string;
  program: DeliveredProgram;
  arch: 'amd64' | 'arm64';
  version: string;
  /** Bytes of the bundle file. */
  size: number;
  minVersion: string;
  /** Relay ids (zones), or ['*'] for all. */
  zones: string[];
  /** 1..100: the share of relays (or of each relay's agents) offered the bundle. */
  percent: number;
  /** ms, the upstream's clock: first published. */
  publishedAt: number;
  /** ms: last published again (zones or percent changed). */
  updatedAt: number;
}

const FILE = 'publications.json';

export class Publications {
  private readonly byId = new Map<string, Publication>();

  private constructor(private readonly file: string) {}

  /** Load `<dir>/publications.json` (none yet: empty). */
  static async open(dir: string): Promise<Publications> {
    const p = new Publications(join(dir, FILE));
    const saved = (await readJsonFile(p.file)) as { publications?: Publication[] } | undefined;
    for (const pub of saved?.publications ?? []) p.byId.set(pub.bundle, pub);
    return p;
  }

  list(): Publication[] {
    return [...this.byId.values()].sort((a, b) => a.publishedAt - b.publishedAt);
  }

  get(id: string): Publication | undefined {
    return this.byId.get(id);
  }

  /** Add or replace a publication, durably. */
  async put(pub: Publication): Promise<void> {
    const before = this.byId.get(pub.bundle);
    this.byId.set(pub.bundle, pub);
    try {
      await this.save();
    } catch (err) {
      if (before === undefined) this.byId.delete(pub.bundle);
      else this.byId.set(pub.bundle, before);
      throw err;
    }
  }

  /** Remove a publication, durably; false if there was none. */
  async remove(id: string): Promise<boolean> {
    const before = this.byId.get(id);
    if (before === undefined) return false;
    this.byId.delete(id);
    try {
      await this.save();
    } catch (err) {
      this.byId.set(id, before);
      throw err;
    }
    return true;
  }

  private save(): Promise<void> {
    return writeFileAtomic(this.file, JSON.stringify({ publications: this.list() }, null, 2) + '\n');
  }
}
