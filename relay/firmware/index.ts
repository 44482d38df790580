/**
 * The relay's firmware delivery (docs/firmware-delivery.md, "Relay"): bundles fetched over the
 * uplink at a set share of its time, cached for the zone's agents, the relay's own update
 * installed into its A/B slots, the health commit, and the reports upstream.
 */
export {
  RelayFirmware,
  type RelayFirmwareOptions,
  type RelayFirmwareStatus,
  type FirmwareLogger,
} from './relay-firmware.js';
export {
  AgentFirmwareService,
  type AgentLink,
  type AgentServiceOptions,
  type BundleSource,
  UNKNOWN_BUNDLE,
  BAD_RANGE,
} from './agent-service.js';
export { Offers } from './offers.js';
export { BundleCache } from './bundle-cache.js';
export { PacedFetcher, type FetchOutcome, type FetchTarget } from './fetcher.js';
export { hostArch, runningVersion } from './identity.js';
export { REFUSED_FILE } from './refused.js';
