/**
 * Firmware delivery at the upstream (docs/firmware-delivery.md, "Upstream"): published bundles,
 * the offers and chunks each relay gets over its uplink, and the state every relay and agent
 * reports.
 */
export { FirmwareDelivery, type FirmwareDeliveryOptions, type Target } from './delivery.js';
export {
  RelayFirmware,
  MAX_CHUNK_REQUESTS_IN_FLIGHT,
  SEND_HIGH_WATER_BYTES,
  type FirmwareLink,
} from './relay-channel.js';
export { ALL_ZONES, DELIVERED_PROGRAMS, type Publication, type DeliveredProgram } from './publications.js';
export { offersFor, MAX_AGENT_RUNGS } from './offers.js';
export { directAgentFirmware, type DirectAgentFirmwareOptions } from './direct-agents.js';
export type { UnitStatus } from './unit-reports.js';
export { firmwareRoutes, type FirmwareApiDeps } from './api-routes.js';
