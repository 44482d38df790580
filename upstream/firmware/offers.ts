/**
 * The offer list of one relay (FIRMWARE_OFFER): per (program, arch), the newest version among the
 * publications for its zone (a zone is a relay id; '*' is every zone). A relay bundle counts only
 * when the relay is in its rollout, so a relay left out of a 10 % rollout of v3 still gets v2;
 * an agent bundle carries its percent, which the relay applies to each agent.
 */
import { compareSemVer } from '../../firmware/index.js';
import { inRollout, type FirmwareOffer } from '../../protocol/index.js';
import { ALL_ZONES, type Publication } from './publications.js';

export function offersFor(publications: readonly Publication[], relayId: string): FirmwareOffer[] {
  const best = new Map<string, Publication>();
  for (const p of publications) {
    if (!p.zones.includes(ALL_ZONES) && !p.zones.includes(relayId)) continue;
    if (p.program === 'owl-relay' && !inRollout(p.bundle, relayId, p.percent)) continue;
    const key = `${p.program}/${p.arch}`;
    const current = best.get(key);
    if (current === undefined || newer(p, current)) best.set(key, p);
  }
  return [...best.values()]
    .map((p) => ({
      bundle: p.bundle,
      program: p.program,
      arch: p.arch,
      version: p.version,
      size: p.size,
      percent: p.percent,
    }))
    .sort((a, b) => (a.program + a.arch < b.program + b.arch ? -1 : 1));
}

/** Newer version; the same version published twice (re-signed): the later publication. */
function newer(a: Publication, b: Publication): boolean {
  const c = compareSemVer(a.version, b.version);
  return c > 0 || (c === 0 && a.publishedAt > b.publishedAt);
}

/** The same list (offers are sorted): nothing to send. */
export function sameOffers(a: readonly FirmwareOffer[] | undefined, b: readonly FirmwareOffer[]): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}
