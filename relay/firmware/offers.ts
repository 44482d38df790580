/**
 * The bundles the upstream offers this relay (FIRMWARE_OFFER: the whole list, replacing the
 * last), and which of them the relay fetches next: agent bundles first (its agents wait on
 * them), then its own, newer than what runs, of its arch. The upstream, and the relay firmware
 * the upstream serves its direct agents with, fill it the same way.
 */
import { compareSemVer } from '../../firmware/index.js';
import { inRollout, type FirmwareOffer } from '../../protocol/index.js';

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

  /**
   * The agent bundle for agent `uuid` on `arch`: the newest one offered that the agent is in the
   * rollout of (the upstream offers a ladder down to a bundle every agent takes).
   */
  forAgent(arch: string, uuid: string): FirmwareOffer | undefined {
    return this.list
      .filter((o) => o.program === 'owl-agent' && o.arch === arch && inRollout(o.bundle, uuid, o.percent))
      .sort((a, b) => (isNewer(a.version, b.version) ? -1 : isNewer(b.version, a.version) ? 1 : 0))[0];
  }
}
