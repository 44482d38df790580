/**
 * Whether the relay takes an offered bundle of its own program now: the decision alone, pure
 * apart from reading update.json, so relay-firmware.ts only acts on it (refuse, log once, fetch).
 */
import { FirmwareError, FirmwareErrorCode, type SlotSet } from '../../firmware/index.js';
import type { FirmwareOffer } from '../../protocol/index.js';
import { updatePending } from './installer.js';
import { isNewer } from './offers.js';

export interface OwnOfferDecision {
  take: boolean;
  /** Refused for good: remembered, reported. */
  refuse?: FirmwareError;
  /** Said once per process (keyed), at warn. */
  note?: { key: string; msg: string; fields: Record<string, unknown> };
}

export function decideOwnOffer(
  offer: FirmwareOffer,
  o: { slots: SlotSet | undefined; version: string; keys: number },
): OwnOfferDecision {
  const fields = { bundle: offer.bundle, version: offer.version };
  if (o.slots === undefined) {
    const msg =
      'firmware: an update for this relay is offered, but it does not run from slots (firmware.root)';
    return { take: false, note: { key: 'no-root', msg, fields } };
  }
  if (!isNewer(offer.version, o.version)) {
    // The same version is what runs after an update: nothing to say. An older one is refused.
    if (!isNewer(o.version, offer.version)) return { take: false };
    const why = `the offered version ${offer.version} is older than the running ${o.version}`;
    return { take: false, refuse: new FirmwareError(FirmwareErrorCode.DOWNGRADE, why) };
  }
  // A version rolled back here is not tried again: it would fail the same way. A fix comes as a
  // new version.
  const failed = o.slots.state().lastFailure;
  if (failed?.version === offer.version) {
    const msg = 'firmware: this version was rolled back here before; not installed again';
    return {
      take: false,
      note: { key: `failed:${offer.bundle}`, msg, fields: { ...fields, code: failed.code } },
    };
  }
  if (o.keys === 0) {
    const why = 'no public key is pinned (firmware.keys)';
    return { take: false, refuse: new FirmwareError(FirmwareErrorCode.UNKNOWN_KEY, why) };
  }
  // The inactive slot is the rollback target until the trial ends.
  return { take: !updatePending(o.slots) };
}
