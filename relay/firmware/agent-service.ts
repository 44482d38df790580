/**
 * The firmware side of agent connections (packets 19–22, v4 agents whose relay listed the
 * `firmware` feature): FWCHECK is answered with FWOFFER (the newest complete cached bundle for
 * the agent's arch that the agent is in the rollout of, when newer than what it runs) and
 * forwarded upstream as the agent's unit report; FWCHUNKREQ is served from the cached file; a
 * bundle landing in the cache is offered at once to the connected agents that checked. The
 * upstream serves its direct agents with this same service over its bundle store.
 */
import {
  AGENT_FIRMWARE_MAX_CHUNK_BYTES,
  encodePacket,
  FirmwareChunkError,
  PacketType,
  type FirmwareCheck,
  type FirmwareChunkRequest,
  type FirmwareOffer,
  type FirmwareUnitReport,
} from '../../protocol/index.js';
import { isNewer, type Offers } from './offers.js';

/** The chunk request names a bundle the relay does not hold (not offered, or not fetched yet). */
export const UNKNOWN_BUNDLE = FirmwareChunkError.UNKNOWN_BUNDLE;
/** The chunk request's range is outside the bundle. */
export const BAD_RANGE = FirmwareChunkError.BAD_RANGE;

/** What the service needs of an agent connection. */
export interface AgentLink {
  sendFirmware(frame: Buffer): void;
  readonly closed: boolean;
}

interface Checked {
  uuid: string;
  arch: string;
  version: string;
  /** The bundle last offered, so a push is not repeated. */
  offered: string | null;
}

/** Where bundle bytes come from: the relay's cache, or the upstream's bundle store. */
export interface BundleSource {
  /** The whole bundle is held and can be served. */
  isComplete(bundle: string): boolean;
  /** `length` bytes from `offset`; undefined when the bundle is gone. */
  read(bundle: string, offset: number, length: number): Promise<Buffer | undefined>;
}

export interface AgentServiceOptions {
  cache: BundleSource;
  offers: Offers;
  /** An agent's FWCHECK, as a unit report to forward upstream. */
  report(unit: FirmwareUnitReport & { uuid: string }): void;
  onServed?(bytes: number): void;
  now(): number;
}

export class AgentFirmwareService {
  private readonly checked = new Map<AgentLink, Checked>();

  constructor(private readonly options: AgentServiceOptions) {}

  check(link: AgentLink, uuid: string, body: FirmwareCheck): void {
    // No uuid (a HELLO without one): nothing to report under, nor to roll out by.
    if (uuid === '') return link.sendFirmware(encodePacket(PacketType.FWOFFER, { bundle: null }));
    const { program, arch, version, state, pendingVersion, lastFailure, refused, download } = body;
    this.options.report({
      program,
      uuid,
      version,
      arch,
      state,
      ...(pendingVersion === undefined ? {} : { pendingVersion }),
      ...(download === undefined ? {} : { download }),
      ...(lastFailure === undefined ? {} : { lastFailure }),
      ...(refused === undefined ? {} : { refused }),
      t: this.options.now(),
    });
    const entry: Checked = { uuid, arch, version, offered: null };
    this.checked.set(link, entry);
    const offer = this.offerFor(entry);
    entry.offered = offer?.bundle ?? null;
    link.sendFirmware(
      encodePacket(PacketType.FWOFFER, { bundle: offer === undefined ? null : toBody(offer) }),
    );
  }

  /** A bundle became complete in the cache: offer it to the agents that checked and take it. */
  landed(): void {
    for (const [link, entry] of this.checked) {
      if (link.closed) {
        this.checked.delete(link);
        continue;
      }
      const offer = this.offerFor(entry);
      if (offer === undefined || offer.bundle === entry.offered) continue;
      entry.offered = offer.bundle;
      link.sendFirmware(encodePacket(PacketType.FWOFFER, { bundle: toBody(offer) }));
    }
  }

  chunkRequest(link: AgentLink, body: FirmwareChunkRequest): void {
    const { id, bundle, offset } = body;
    const reply = (extra: { data: string } | { code: string; message: string }): void => {
      if (!link.closed) link.sendFirmware(encodePacket(PacketType.FWCHUNK, { id, bundle, offset, ...extra }));
    };
    const offer = this.options.offers.get(bundle);
    if (offer === undefined || offer.program !== 'owl-agent' || !this.options.cache.isComplete(bundle)) {
      return reply({ code: UNKNOWN_BUNDLE, message: 'this relay holds no such bundle' });
    }
    if (offset >= offer.size || body.length < 1) {
      return reply({
        code: BAD_RANGE,
        message: `offset ${offset} is outside the bundle (${offer.size} bytes)`,
      });
    }
    const length = Math.min(body.length, AGENT_FIRMWARE_MAX_CHUNK_BYTES, offer.size - offset);
    this.options.cache.read(bundle, offset, length).then(
      (data) => {
        if (data === undefined)
          return reply({ code: UNKNOWN_BUNDLE, message: 'this relay holds no such bundle' });
        this.options.onServed?.(data.length);
        reply({ data: data.toString('base64') });
      },
      (err: unknown) =>
        reply({ code: UNKNOWN_BUNDLE, message: `cannot read the bundle: ${(err as Error).message}` }),
    );
  }

  closed(link: AgentLink): void {
    this.checked.delete(link);
  }

  get checkedAgents(): number {
    return this.checked.size;
  }

  /** The complete cached bundle for this agent, if it takes one. */
  private offerFor(entry: Checked): FirmwareOffer | undefined {
    // The newest rung this agent is in; not cached yet: wait for it rather than offer an older
    // one now and this one after (two updates).
    const offer = this.options.offers.forAgent(entry.arch, entry.uuid);
    if (offer === undefined || !this.options.cache.isComplete(offer.bundle)) return undefined;
    if (!isNewer(offer.version, entry.version)) return undefined;
    return offer;
  }
}

function toBody(offer: FirmwareOffer): { id: string; version: string; size: number } {
  return { id: offer.bundle, version: offer.version, size: offer.size };
}
