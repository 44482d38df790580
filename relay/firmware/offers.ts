/**
 * The bundles the upstream offers this relay (FIRMWARE_OFFER: the whole list, replacing the
 * last), and which of them the relay fetches next: agent bundles first (its agents wait on
 * them), then its own, newer than what runs, of its arch.
 */
import { compareSemVer } from '../../firmware/index.js';
import type { FirmwareOffer } from '../../protocol/index.js';

/** True when `a` is a newer version than `b`; false when either is not a semantic version. */
export function isNewer(a: string, b: string): boolean {
  try {
    return compareSemVer(a, b) > 0;
  } catch {
    return false;
  }
}

export class Offers {
  private list: FirmwareOffer[] = [];

  get all(): readonly FirmwareOffer[] {
    return this.list;
  }

  replace(bundles: FirmwareOffer[]): void {
    this.list = [...bundles];
  }

  get(bundle: string): FirmwareOffer | undefined {
    return this.list.find((o) => o.bundle === bundle);
  }

  ids(): Set<string> {
    return new Set(this.list.map((o) => o.bundle));
  }

  /** The agent bundles, then the relay's own for `arch`: the order to fetch them in. */
  inFetchOrder(arch: string | undefined): FirmwareOffer[] {
    const agents = this.list.filter((o) => o.program === 'owl-agent');
    const own = this.list.filter((o) => o.program === 'owl-relay' && o.arch === arch);
    return [...agents, ...own];
  }

  /** The agent bundle for `arch` (at most one per program and arch). */
  forAgent(arch: string): FirmwareOffer | undefined {
    return this.list.find((o) => o.program === 'owl-agent' && o.arch === arch);
  }
}
