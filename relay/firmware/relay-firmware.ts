/**
 * The relay's firmware part (docs/firmware-delivery.md, "Relay"): the offers from the upstream,
 * the paced fetch of one bundle at a time into the cache, the relay's own update (verify →
 * install → switch → restart), the health commit after a start from slots, and the reports.
 * Agents are served by AgentFirmwareService from the same cache.
 *
 * Logs: one line per state change (download started, finished, refused; installed, switched,
 * committed), never one per chunk.
 */
import { rm } from 'node:fs/promises';
import {
  FirmwareError,
  FirmwareErrorCode,
  SlotErrorCode,
  SlotSet,
  type Arch,
  type PinnedKey,
} from '../../firmware/index.js';
import { isBundleId } from '../../protocol/index.js';
import type {
  FirmwareCheck,
  FirmwareChunkRequest,
  FirmwareOffer,
  FirmwareUnitReport,
  OwlError,
  TimerHandle,
  Timers,
  UplinkFirmwareChunk,
  UplinkFirmwareError,
  UplinkMessage,
} from '../../protocol/index.js';
import { AgentFirmwareService, type AgentLink } from './agent-service.js';
import { BundleCache } from './bundle-cache.js';
import { PacedFetcher, type FetchOutcome } from './fetcher.js';
import { hostArch, runningVersion } from './identity.js';
import { installOwnBundle } from './installer.js';
import { decideOwnOffer, type OwnOfferDecision } from './own-offer.js';
import { Offers } from './offers.js';
import { RefusedBundles } from './refused.js';
import { FirmwareReporter } from './reporter.js';

/** After a failed fetch or install that may go away by itself: the next try waits this long. */
const RETRY_MS = 30_000;
/** A commit that found the slots locked is tried again this soon (the trial's deadline is minutes). */
const COMMIT_RETRY_MS = 1000;

export interface FirmwareLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RelayFirmwareOptions {
  /** `<stateDir>/firmware`: the cache, refused.json, staging. */
  dir: string;
  /** The slot directory when the relay runs from slots. */
  root?: string;
  keys: readonly PinnedKey[];
  share: number;
  chunkBytes: number;
  maxCacheBytes: number;
  healthTimeoutMs?: number;
  timers: Timers;
  log: FirmwareLogger;
  /** Send FIRMWARE_CHUNK_REQ / FIRMWARE_REPORT; false when the uplink is not connected. */
  send(msg: UplinkMessage): boolean;
  /** Installed and switched: stop cleanly and exit with EXIT_FIRMWARE_RESTART. */
  onRestart(): void;
  onFetched?(bytes: number): void;
  onRefused?(code: string): void;
  onServed?(bytes: number): void;
  /** Override of process.arch in bundle terms (tests). */
  arch?: Arch;
}

/** The firmware figures of `owl-relay status`. */
export interface RelayFirmwareStatus {
  version: string;
  arch: string | null;
  /** update.json's state, or `none` when not running from slots. */
  state: string;
  pendingVersion: string | null;
  download: { bundle: string; program: string; version: string; bytes: number; size: number } | null;
  /** Offered bundles complete in the cache. */
  cached: number;
  offered: number;
  refused: { bundle?: string; version?: string; code: string; message: string; at: number } | null;
  /** Agents that sent FWCHECK and are connected. */
  agentsChecking: number;
  /** What the firmware part does now. */
  activity: 'idle' | 'fetching' | 'installing' | 'waiting to retry' | 'switched';
}

export class RelayFirmware {
  /** The running version: the current slot's when running from slots, else OWL_VERSION. */
  readonly version: string;
  readonly arch: Arch | undefined;
  readonly slots: SlotSet | undefined;
  readonly agents: AgentFirmwareService;
  private readonly cache: BundleCache;
  private readonly offers = new Offers();
  private readonly fetcher: PacedFetcher;
  private readonly refused: RefusedBundles;
  private readonly reporter: FirmwareReporter;
  private busy = false;
  private installing = false;
  private linkUp = false;
  private stopped = false;
  /** Switched to a new slot: nothing more is done until the restart. */
  private switched = false;
  /** Bundles whose fetched file failed its hash once: a second failure refuses them. */
  private readonly corruptOnce = new Set<string>();
  private retryTimer: TimerHandle | undefined;
  /** Things logged once per process (a missing root, a commit refused). */
  private readonly said = new Set<string>();

  constructor(private readonly options: RelayFirmwareOptions) {
    this.slots =
      options.root === undefined
        ? undefined
        : new SlotSet({
            root: options.root,
            now: () => options.timers.now(),
            ...(options.healthTimeoutMs === undefined ? {} : { healthTimeoutMs: options.healthTimeoutMs }),
          });
    this.version = runningVersion(this.slots);
    this.arch = options.arch ?? hostArch();
    this.cache = new BundleCache(options.dir);
    this.refused = new RefusedBundles(options.dir);
    this.fetcher = new PacedFetcher({
      cache: this.cache,
      timers: options.timers,
      share: options.share,
      chunkBytes: options.chunkBytes,
      send: (body) => options.send({ type: 'FIRMWARE_CHUNK_REQ', body }),
      onBytes: (n) => options.onFetched?.(n),
    });
    this.reporter = new FirmwareReporter({
      self: () => this.selfReport(),
      send: (units) => this.linkUp && options.send({ type: 'FIRMWARE_REPORT', body: { units } }),
      now: () => options.timers.now(),
    });
    this.agents = new AgentFirmwareService({
      cache: this.cache,
      offers: this.offers,
      report: (unit) => this.reporter.agent(unit),
      ...(options.onServed === undefined ? {} : { onServed: options.onServed }),
      now: () => options.timers.now(),
    });
    const failure = this.updateState()?.lastFailure;
    if (this.updateState()?.state === 'rolled-back' && failure) {
      options.log.warn(
        { code: failure.code, reason: failure.reason, failedVersion: failure.version, version: this.version },
        'firmware update was rolled back',
      );
    }
  }

  /** Bytes requested upstream since start (the pacing's spend). */
  get requestedBytes(): number {
    return this.fetcher.requestedBytes;
  }

  // Uplink events.

  /** WELCOME: the uplink is up. A start from slots that is healthy now commits its trial. */
  connected(): void {
    this.linkUp = true;
    this.commitIfTrial();
    this.reporter.connected();
    this.fetcher.setConnected(true);
    this.pump();
  }

  disconnected(): void {
    this.linkUp = false;
    this.fetcher.setConnected(false);
  }

  offer(bundles: FirmwareOffer[]): void {
    this.offers.replace(bundles.filter((o) => isBundleId(o.bundle) && o.size > 0));
    // A new list ends a wait for a retry: what failed may be withdrawn, or back.
    this.options.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const kept = this.offers.ids();
    const fetching = this.fetcher.progress?.target.bundle;
    if (fetching !== undefined && !kept.has(fetching)) void this.fetcher.cancel();
    // Only offered bundles stay on disk.
    void this.cache.prune(kept).then(
      () => undefined,
      (err: unknown) => this.options.log.warn({ err: (err as Error).message }, 'firmware cache prune failed'),
    );
    this.pump();
  }

  chunk(body: UplinkFirmwareChunk): void {
    this.fetcher.chunk(body);
  }

  error(body: UplinkFirmwareError): void {
    this.fetcher.error(body);
  }

  // Agent connections.

  agentCheck(link: AgentLink, uuid: string, body: FirmwareCheck): void {
    this.agents.check(link, uuid, body);
  }

  agentChunkRequest(link: AgentLink, body: FirmwareChunkRequest): void {
    this.agents.chunkRequest(link, body);
  }

  agentClosed(link: AgentLink): void {
    this.agents.closed(link);
  }

  status(): RelayFirmwareStatus {
    const st = this.updateState();
    const p = this.fetcher.progress;
    const offered = this.offers.all;
    return {
      version: this.version,
      arch: this.arch ?? null,
      state: st?.state ?? 'none',
      pendingVersion: st?.pending?.toVersion ?? null,
      download:
        p === undefined
          ? null
          : {
              bundle: p.target.bundle,
              program: p.target.program,
              version: p.target.version,
              bytes: p.bytes,
              size: p.target.size,
            },
      cached: offered.filter((o) => this.cache.isComplete(o.bundle)).length,
      offered: offered.length,
      refused: this.refused.last() ?? null,
      agentsChecking: this.agents.checkedAgents,
      activity: this.activity(),
    };
  }

  private activity(): RelayFirmwareStatus['activity'] {
    if (this.switched) return 'switched';
    if (this.installing) return 'installing';
    if (this.retryTimer !== undefined) return 'waiting to retry';
    return this.busy ? 'fetching' : 'idle';
  }

  /** Stop fetching; the .part file is synced and kept for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.options.timers.clearTimeout(this.retryTimer);
    await this.fetcher.cancel();
  }

  // The work: one fetch or install at a time.

  private pump(): void {
    if (this.busy || this.retryTimer !== undefined || this.stopped || this.switched) return;
    for (const offer of this.offers.inFetchOrder(this.arch)) {
      if (this.refused.has(offer.bundle)) continue;
      if (offer.program === 'owl-relay' && !this.ownTakes(offer)) continue;
      if (this.cache.isComplete(offer.bundle)) {
        if (offer.program === 'owl-relay') return void this.install(offer);
        continue;
      }
      if (!this.linkUp) return;
      if (!this.fits(offer)) continue;
      return void this.fetch(offer);
    }
  }

  /** Whether `offer` fits the cache cap beside the files kept; refused when it does not. */
  private fits(offer: FirmwareOffer): boolean {
    const kept = this.cache.diskBytes() - this.cache.partSize(offer.bundle);
    if (kept + offer.size <= this.options.maxCacheBytes) return true;
    this.refuse(
      offer,
      new FirmwareError(
        FirmwareErrorCode.TOO_LARGE,
        `${offer.size} bytes do not fit the firmware cache (${kept} of ${this.options.maxCacheBytes} bytes used)`,
      ),
    );
    return false;
  }

  /** Whether the relay's own bundle is to be fetched and installed now (refusing it when it never will be). */
  private ownTakes(offer: FirmwareOffer): boolean {
    let d: OwnOfferDecision;
    try {
      d = decideOwnOffer(offer, { slots: this.slots, version: this.version, keys: this.options.keys.length });
    } catch {
      // update.json unreadable: logged once by updateState(); nothing is installed meanwhile.
      this.updateState();
      return false;
    }
    if (d.refuse !== undefined) this.refuse(offer, d.refuse);
    const note = d.note;
    if (note !== undefined) this.once(note.key, () => this.options.log.warn(note.fields, note.msg));
    return d.take;
  }

  private async fetch(offer: FirmwareOffer): Promise<void> {
    this.busy = true;
    const target = { bundle: offer.bundle, size: offer.size, version: offer.version, program: offer.program };
    const from = this.cache.partSize(offer.bundle);
    this.options.log.info({ ...target, from }, 'firmware download started');
    let outcome: FetchOutcome;
    try {
      const running = this.fetcher.fetch(target);
      this.reporter.selfChanged();
      outcome = await running;
    } catch (err) {
      outcome = { kind: 'failed', error: new FirmwareError(FirmwareErrorCode.IO, (err as Error).message) };
    }
    this.busy = false;
    this.fetched(offer, outcome);
  }

  private fetched(offer: FirmwareOffer, outcome: FetchOutcome): void {
    const fields = { bundle: offer.bundle, program: offer.program, version: offer.version, size: offer.size };
    if (outcome.kind === 'complete') {
      this.options.log.info(fields, 'firmware download finished');
      this.reporter.selfChanged();
      if (offer.program === 'owl-agent') this.agents.landed();
    } else if (outcome.kind === 'failed') {
      const { code, message } = outcome.error;
      if (code === FirmwareErrorCode.CORRUPT && !this.corruptOnce.has(offer.bundle)) {
        // A torn tail after a crash, or bad bytes on the way: deleted, fetched once more.
        this.corruptOnce.add(offer.bundle);
        this.options.log.warn(
          { ...fields, code, why: message },
          'firmware download failed its check; fetching again',
        );
        void rm(this.cache.partPath(offer.bundle), { force: true }).then(() => this.pump());
        return;
      }
      if (code === FirmwareErrorCode.CORRUPT) this.refuse(offer, outcome.error);
      else return this.retryLater(fields, outcome.error);
    }
    this.pump();
  }

  private async install(offer: FirmwareOffer): Promise<void> {
    const slots = this.slots;
    const arch = this.arch;
    if (slots === undefined || arch === undefined) return;
    this.busy = true;
    this.installing = true;
    const log = this.options.log;
    try {
      await installOwnBundle(
        this.cache.path(offer.bundle),
        { slots, keys: this.options.keys, arch, running: this.version, dir: this.options.dir },
        (step, manifest) => {
          const fields = { bundle: offer.bundle, version: manifest.version, from: this.version };
          if (step === 'installed') log.info({ ...fields, root: slots.root }, 'firmware installed');
          if (step === 'switched') log.info(fields, 'firmware switched; restarting');
        },
      );
      this.switched = true;
      this.reporter.selfChanged();
      this.options.onRestart();
    } catch (err) {
      this.busy = false;
      this.installing = false;
      const fields = { bundle: offer.bundle, program: offer.program, version: offer.version };
      // A refusal stays one; a disk or slot failure may go away.
      if (err instanceof FirmwareError && err.code !== FirmwareErrorCode.IO) this.refuse(offer, err);
      else if (isBusy(err)) return this.retryLater(fields, err, 'firmware install waits for the slots lock');
      else return this.retryLater(fields, err as Error, 'firmware install failed; retrying later');
      this.pump();
    }
  }

  /**
   * Refused: remembered (never fetched again), its files deleted, logged and reported once. The
   * caller goes on with the next offer.
   */
  private refuse(offer: FirmwareOffer, err: OwlError): void {
    const refusal = { bundle: offer.bundle, version: offer.version, code: err.code, message: err.message };
    this.refused.add({ ...refusal, at: this.options.timers.now() });
    this.options.log.warn({ ...refusal, program: offer.program }, 'firmware bundle refused');
    this.options.onRefused?.(err.code);
    // Reported once its files are gone (a report means: refused and cleaned up).
    void Promise.all([
      rm(this.cache.path(offer.bundle), { force: true }),
      rm(this.cache.partPath(offer.bundle), { force: true }),
    ]).finally(() => this.reporter.selfChanged());
  }

  /** A failure that may go away (disk, the upstream's answer): logged, the next try in RETRY_MS or at the next offer. */
  private retryLater(
    fields: object,
    err: Error,
    msg = 'firmware download interrupted; retrying later',
  ): void {
    const line = { ...fields, code: (err as { code?: string }).code, why: err.message };
    // Another actor holds the slots (an operator, a package upgrade): said once, not every retry.
    if (isBusy(err)) this.once(`busy:${JSON.stringify(fields)}`, () => this.options.log.info(line, msg));
    else this.options.log.warn(line, msg);
    this.options.timers.clearTimeout(this.retryTimer);
    this.retryTimer = this.options.timers.setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, RETRY_MS);
  }

  /** Healthy (the spool is open, a WELCOME came): keep the version on trial. */
  private commitIfTrial(): void {
    const slots = this.slots;
    if (slots === undefined || this.updateState()?.state !== 'trial') return;
    try {
      if (slots.commit()) {
        this.options.log.info({ version: this.version }, 'firmware committed');
        this.reporter.selfChanged();
      }
    } catch (err) {
      // The slots are locked for a moment (an operator's command): try again shortly, before the
      // deadline makes the supervisor roll a healthy version back.
      if (isBusy(err)) {
        this.once('commit-busy', () =>
          this.options.log.info({ why: (err as Error).message }, 'firmware commit waits for the slots lock'),
        );
        this.options.timers.setTimeout(() => this.commitIfTrial(), COMMIT_RETRY_MS);
        return;
      }
      this.once('commit', () =>
        this.options.log.error(
          { code: (err as { code?: string }).code, why: (err as Error).message },
          'firmware commit refused',
        ),
      );
    }
  }

  private selfReport(): Omit<FirmwareUnitReport, 't'> {
    const st = this.updateState();
    const p = this.fetcher.progress;
    const failure = st?.lastFailure ?? null;
    const refused = this.refused.last();
    return {
      program: 'owl-relay',
      version: this.version,
      ...(this.arch === undefined ? {} : { arch: this.arch }),
      state: st?.state ?? 'none',
      ...(st?.pending ? { pendingVersion: st.pending.toVersion } : {}),
      ...(p === undefined
        ? {}
        : {
            download: {
              bundle: p.target.bundle,
              version: p.target.version,
              bytes: p.bytes,
              size: p.target.size,
            },
          }),
      ...(failure === null
        ? {}
        : {
            lastFailure: {
              code: failure.code,
              reason: failure.reason,
              version: failure.version,
              at: failure.at,
            },
          }),
      ...(refused === undefined ? {} : { refused }),
    };
  }

  /** update.json, when running from slots (an unreadable one is logged once and counts as none). */
  private updateState(): ReturnType<SlotSet['state']> | undefined {
    try {
      return this.slots?.state();
    } catch (err) {
      this.once('state', () =>
        this.options.log.error({ why: (err as Error).message }, 'firmware: cannot read the update state'),
      );
      return undefined;
    }
  }

  private once(key: string, say: () => void): void {
    if (this.said.has(key)) return;
    this.said.add(key);
    say();
  }
}

/** The slots' lock is held by another actor (SlotError BUSY): try again later, nobody's fault. */
function isBusy(err: unknown): err is Error {
  return err instanceof Error && (err as { code?: string }).code === SlotErrorCode.BUSY;
}
