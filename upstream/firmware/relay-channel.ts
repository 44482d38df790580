/**
 * The FIRMWARE channel of each relay connection (docs/uplink.md, docs/firmware-delivery.md):
 *
 * - FIRMWARE_OFFER right after WELCOME, and again whenever the publications change this relay's
 *   list (offers.ts); the relay always gets the whole list;
 * - FIRMWARE_CHUNK_REQ answered in order with FIRMWARE_CHUNK, or FIRMWARE_ERROR when the bundle is
 *   not offered to this relay (UNKNOWN_BUNDLE) or the range is wrong (BAD_RANGE). A chunk waits
 *   while the socket holds more than SEND_HIGH_WATER_BYTES unsent, so bundle bytes never pile up
 *   ahead of acks and config answers. A relay with more than MAX_CHUNK_REQUESTS_IN_FLIGHT
 *   unanswered requests breaks the protocol (it paces itself to one) and is closed;
 * - FIRMWARE_REPORT handed to the unit reports.
 */
import type { WebSocket } from 'ws';
import {
  FIRMWARE_MAX_CHUNK_BYTES,
  SYSTEM_TIMERS,
  type FirmwareOffer,
  type Timers,
  type UplinkFirmwareChunkReq,
  type UplinkMessage,
} from '../../protocol/index.js';
import { UpstreamErrorCode } from '../errors.js';
import type { FirmwareDelivery } from './delivery.js';
import { offersFor, sameOffers } from './offers.js';

/** Unanswered chunk requests a relay may have (it sends one at a time; a few allow for a retry). */
export const MAX_CHUNK_REQUESTS_IN_FLIGHT = 4;
/** Unsent bytes on a relay's socket above which the next chunk waits. */
export const SEND_HIGH_WATER_BYTES = 1024 * 1024;
/** How often a chunk waiting for the socket to drain looks again (ws has no drain event). */
const DRAIN_POLL_MS = 10;

/** What the channel needs of a relay connection. */
export interface FirmwareLink {
  relay: string;
  ws: WebSocket;
  send(msg: UplinkMessage): void;
  /** Close the connection for a protocol violation (ERROR, then close 4400). */
  protocolError(message: string): void;
}

interface LinkState {
  link: FirmwareLink;
  /** The list last sent (undefined: none yet). */
  offers: FirmwareOffer[] | undefined;
  inFlight: number;
  /** Chunk requests are answered one after the other. */
  queue: Promise<void>;
}

/** Counters (metrics, tests). */
export interface FirmwareChannelTotals {
  chunks: number;
  chunkBytes: number;
  errors: number;
}

/** Where chunks sent and refused are counted (UpstreamMetrics). */
export interface FirmwareChannelMetrics {
  sent(relay: string, bytes: number): void;
  refused(code: string): void;
}

export class RelayFirmware {
  private readonly links = new Map<WebSocket, LinkState>();
  readonly totals: FirmwareChannelTotals = { chunks: 0, chunkBytes: 0, errors: 0 };

  constructor(
    private readonly delivery: FirmwareDelivery,
    private readonly metrics?: FirmwareChannelMetrics,
    private readonly timers: Timers = SYSTEM_TIMERS,
  ) {
    delivery.onPublicationsChanged(() => this.refresh());
  }

  /** The relay was sent WELCOME: its offers follow. */
  welcome(link: FirmwareLink): void {
    const state: LinkState = { link, offers: undefined, inFlight: 0, queue: Promise.resolve() };
    this.links.set(link.ws, state);
    this.offer(state);
  }

  /** The connection closed. */
  leave(ws: WebSocket): void {
    this.links.delete(ws);
  }

  /** A FIRMWARE_* message from a relay past WELCOME. */
  message(ws: WebSocket, msg: UplinkMessage): void {
    const state = this.links.get(ws);
    if (state === undefined) return;
    if (msg.type === 'FIRMWARE_REPORT') return this.delivery.report(state.link.relay, msg.body.units);
    if (msg.type !== 'FIRMWARE_CHUNK_REQ') return;
    if (++state.inFlight > MAX_CHUNK_REQUESTS_IN_FLIGHT) {
      return state.link.protocolError(
        `FIRMWARE_CHUNK_REQ ${msg.body.id}: more than ${MAX_CHUNK_REQUESTS_IN_FLIGHT} chunk requests unanswered`,
      );
    }
    const req = msg.body;
    state.queue = state.queue
      .then(() => this.serve(state, req))
      .catch(() => undefined)
      .finally(() => state.inFlight--);
  }

  /** The offers of every connected relay, recomputed: sent to those whose list changed. */
  refresh(): void {
    for (const state of this.links.values()) this.offer(state);
  }

  /** The list a relay was last sent (tests, status). */
  offered(relay: string): FirmwareOffer[] | undefined {
    for (const s of this.links.values()) if (s.link.relay === relay) return s.offers;
    return undefined;
  }

  private offer(state: LinkState): void {
    const offers = offersFor(this.delivery.list(), state.link.relay);
    if (sameOffers(state.offers, offers)) return;
    state.offers = offers;
    state.link.send({ type: 'FIRMWARE_OFFER', body: { bundles: offers } });
  }

  private async serve(state: LinkState, req: UplinkFirmwareChunkReq): Promise<void> {
    const { link } = state;
    const fail = (code: string, message: string): void => {
      this.totals.errors++;
      this.metrics?.refused(code);
      link.send({ type: 'FIRMWARE_ERROR', body: { id: req.id, bundle: req.bundle, code, message } });
    };
    const offer = state.offers?.find((o) => o.bundle === req.bundle);
    if (offer === undefined)
      return fail(
        UpstreamErrorCode.FIRMWARE_UNKNOWN_BUNDLE,
        `bundle ${req.bundle} is not offered to ${link.relay}`,
      );
    const { offset, length } = req;
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      offset > offer.size ||
      length < 1 ||
      length > FIRMWARE_MAX_CHUNK_BYTES
    ) {
      return fail(
        UpstreamErrorCode.FIRMWARE_BAD_RANGE,
        `offset ${offset} length ${length}: the bundle has ${offer.size} bytes; a chunk is 1..${FIRMWARE_MAX_CHUNK_BYTES} bytes`,
      );
    }
    if (!(await this.drained(link.ws))) return;
    let data: Buffer;
    try {
      data = await this.delivery.store.read(req.bundle, offset, Math.min(length, offer.size - offset));
    } catch (err) {
      // Withdrawn between the offer and this request.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return fail(UpstreamErrorCode.FIRMWARE_UNKNOWN_BUNDLE, `bundle ${req.bundle} was withdrawn`);
      return fail(UpstreamErrorCode.INTERNAL, `reading bundle ${req.bundle}: ${(err as Error).message}`);
    }
    this.totals.chunks++;
    this.totals.chunkBytes += data.length;
    this.metrics?.sent(link.relay, data.length);
    link.send({ type: 'FIRMWARE_CHUNK', body: { id: req.id, offset, data } });
  }

  /** Resolves true once the socket's unsent bytes are at most SEND_HIGH_WATER_BYTES, false if it closed. */
  private drained(ws: WebSocket): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (ws.readyState !== ws.OPEN || !this.links.has(ws)) return resolve(false);
        if (ws.bufferedAmount <= SEND_HIGH_WATER_BYTES) return resolve(true);
        this.timers.setTimeout(check, DRAIN_POLL_MS);
      };
      check();
    });
  }
}
