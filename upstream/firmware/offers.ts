/**
 * The offer list of one relay (FIRMWARE_OFFER), from the publications for its zone (a zone is a
 * relay id, or `direct` for the upstream's own agents; '*' is every zone):
 *
 * - owl-relay, per arch: the newest version the relay is in the rollout of, so a relay left out
 *   of a 10 % rollout of v3 still gets v2;
 * - owl-agent, per arch: a ladder, newest first, down to and including the newest bundle
 *   published to every agent (percent 100). Each bundle carries its percent, which the relay
 *   applies to each agent: an agent takes the newest rung it is in, so an agent left out of a
 *   10 % rollout of v3 still gets v2.
 */
import { compareSemVer } from '../../firmware/index.js';
import { inRollout, type FirmwareOffer } from '../../protocol/index.js';
import { ALL_ZONES, type Publication } from './publications.js';

export function offersFor(publications: readonly Publication[], zone: string): FirmwareOffer[] {
  const relayBest = new Map<string, Publication>();
  const agentByArch = new Map<string, Publication[]>();
  for (const p of publications) {
    if (!p.zones.includes(ALL_ZONES) && !p.zones.includes(zone)) continue;
    if (p.program === 'owl-agent') {
      agentByArch.set(p.arch, [...(agentByArch.get(p.arch) ?? []), p]);
      continue;
    }
    if (!inRollout(p.bundle, zone, p.percent)) continue;
    const current = relayBest.get(p.arch);
    if (current === undefined || newer(p, current)) relayBest.set(p.arch, p);
  }
  const agents = [...agentByArch.values()].flatMap(ladder);
  return [...relayBest.values(), ...agents]
    .map((p) => ({
      bundle: p.bundle,
      program: p.program,
      arch: p.arch,
      version: p.version,
      size: p.size,
      percent: p.percent,
    }))
    .sort(
      (a, b) => (a.program + a.arch).localeCompare(b.program + b.arch) || compareSemVer(b.version, a.version),
    );
}

/**
 * Rungs of one arch's agent ladder at most: with one relay bundle per arch, two arches stay
 * within FIRMWARE_OFFER's 16 entries.
 */
export const MAX_AGENT_RUNGS = 4;

/**
 * Newest first, down to and including the newest one every agent takes; past MAX_AGENT_RUNGS,
 * the newest rungs and the full one (older partial rollouts wait for the next publish).
 */
function ladder(publications: Publication[]): Publication[] {
  const sorted = [...publications].sort((a, b) => (newer(a, b) ? -1 : 1));
  const full = sorted.findIndex((p) => p.percent === 100);
  const rungs = full === -1 ? sorted : sorted.slice(0, full + 1);
  if (rungs.length <= MAX_AGENT_RUNGS) return rungs;
  const last = full === -1 ? [] : rungs.slice(-1);
  return [...rungs.slice(0, MAX_AGENT_RUNGS - last.length), ...last];
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
