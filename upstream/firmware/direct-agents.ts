/**
 * Firmware for the agents of the `direct` zone (connected to the upstream's own agent listener,
 * no relay between): the relay's agent-side service (FWCHECK → FWOFFER, FWCHUNKREQ → FWCHUNK),
 * fed from the upstream's bundle store instead of a relay's cache. Its offers are what a relay
 * with id `direct` would be offered (offersFor), agent bundles only; a publish or withdraw
 * replaces them and pushes a new bundle to the agents that checked. Their FWCHECKs are unit
 * reports under the relay `direct`.
 */
import { AgentFirmwareService, FirmwareOffers, type AgentFirmwareSink } from '../../relay/index.js';
import { DIRECT_ZONE } from '../zones.js';
import type { FirmwareDelivery } from './delivery.js';
import { offersFor } from './offers.js';

export interface DirectAgentFirmwareOptions {
  /** Bundle bytes served to direct agents (metrics). */
  onServed?(bytes: number): void;
  now(): number;
}

/** The `firmware` part of the direct agent server's sink. */
export function directAgentFirmware(
  delivery: FirmwareDelivery,
  options: DirectAgentFirmwareOptions,
): AgentFirmwareSink {
  const offers = new FirmwareOffers();
  const service = new AgentFirmwareService({
    cache: {
      isComplete: (bundle) => offers.get(bundle) !== undefined,
      read: async (bundle, offset, length) => {
        try {
          return await delivery.store.read(bundle, offset, length);
        } catch (err) {
          // Withdrawn between the offer and this chunk: the agent hears UNKNOWN_BUNDLE.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw err;
        }
      },
    },
    offers,
    report: (unit) => delivery.report(DIRECT_ZONE, [unit]),
    ...(options.onServed === undefined ? {} : { onServed: options.onServed }),
    now: options.now,
  });
  const refresh = (): void => {
    offers.replace(offersFor(delivery.list(), DIRECT_ZONE).filter((o) => o.program === 'owl-agent'));
    service.landed();
  };
  refresh();
  delivery.onPublicationsChanged(refresh);
  return {
    check: (connection, uuid, body) => service.check(connection, uuid, body),
    chunkRequest: (connection, body) => service.chunkRequest(connection, body),
    closed: (connection) => service.closed(connection),
  };
}
