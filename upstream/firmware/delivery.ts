/**
 * Firmware delivery at the upstream (docs/firmware-delivery.md, "Upstream"): the bundles the
 * operator publishes, stored once, and the firmware state every relay and agent reports. The
 * uplink side (offers, chunks, reports per relay connection) is relay-channel.ts.
 *
 * A publish streams the upload to a temporary file (size-capped), reads its manifest, verifies
 * its signature when keys are pinned (`firmware.keys`), then keeps it under its sha256 and
 * records the publication; a withdraw forgets the publication first, then deletes the file, so
 * a crash in between leaves only a file nothing refers to, removed at the next start.
 */
import {
  FirmwareError,
  FirmwareErrorCode,
  readManifest,
  verifyBundle,
  type PinnedKey,
} from '../../firmware/index.js';
import type { FirmwareUnitReport } from '../../protocol/index.js';
import { BundleStore, type Upload } from './bundle-store.js';
import { DELIVERED_PROGRAMS, Publications, type DeliveredProgram, type Publication } from './publications.js';
import { UnitReports, type UnitLog, type UnitStatus } from './unit-reports.js';

export interface FirmwareDeliveryOptions {
  /** `<stateDir>/firmware`. */
  dir: string;
  /** Largest bundle accepted at publish. */
  maxBundleBytes: number;
  /** Pinned public keys: a bundle must verify with one of them to be published (empty: not checked). */
  keys: readonly PinnedKey[];
  log: UnitLog;
  now: () => number;
  /** How long unit reports wait before they are written (default 2 s). */
  reportDebounceMs?: number;
}

/** Where a bundle goes: zones (relay ids, or '*') and the rollout percentage. */
export interface Target {
  zones: string[];
  percent: number;
}

export class FirmwareDelivery {
  /** Called after every change of the publications (relays' offers, the direct agents' offers). */
  private readonly changeListeners: (() => void)[] = [];
  /** Publish and withdraw, one at a time. */
  private changes: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly store: BundleStore,
    readonly publications: Publications,
    readonly units: UnitReports,
    private readonly o: FirmwareDeliveryOptions,
  ) {}

  static async open(o: FirmwareDeliveryOptions): Promise<FirmwareDelivery> {
    const store = await BundleStore.open(o.dir);
    const publications = await Publications.open(o.dir);
    const units = await UnitReports.open(o.dir, {
      log: o.log,
      now: o.now,
      ...(o.reportDebounceMs === undefined ? {} : { debounceMs: o.reportDebounceMs }),
    });
    const d = new FirmwareDelivery(store, publications, units, o);
    // A crash between storing a bundle and recording it, or between a withdraw's two steps.
    for (const id of await store.ids()) if (publications.get(id) === undefined) await store.remove(id);
    return d;
  }

  /**
   * Publish the bundle read from `source` to `target`; publishing a stored bundle again sets its
   * zones and percent. Refusals are FirmwareErrors (TOO_LARGE, CORRUPT, WRONG_PROGRAM, a
   * signature's codes).
   */
  async publish(
    source: AsyncIterable<Buffer>,
    target: Target,
  ): Promise<{ publication: Publication; created: boolean }> {
    const upload = await this.store.receive(source, this.o.maxBundleBytes);
    try {
      const { manifest } = await readManifest(upload.file, { maxBytes: this.o.maxBundleBytes });
      if (!DELIVERED_PROGRAMS.includes(manifest.program as DeliveredProgram))
        throw new FirmwareError(
          FirmwareErrorCode.WRONG_PROGRAM,
          `the bundle is for ${manifest.program}: only ${DELIVERED_PROGRAMS.join(' and ')} bundles travel through relays`,
        );
      if (this.o.keys.length > 0) await this.verify(upload);
      return await this.serial(async () => {
        const now = this.o.now();
        const before = this.publications.get(upload.sha256);
        const publication: Publication = {
          bundle: upload.sha256,
          program: manifest.program as DeliveredProgram,
          arch: manifest.arch,
          version: manifest.version,
          size: upload.size,
          minVersion: manifest.minVersion,
          zones: target.zones,
          percent: target.percent,
          publishedAt: before?.publishedAt ?? now,
          updatedAt: now,
        };
        await this.store.keep(upload);
        await this.publications.put(publication);
        this.changed(
          before === undefined ? 'firmware published' : 'firmware publication updated',
          publication,
        );
        return { publication, created: before === undefined };
      });
    } finally {
      await this.store.discard(upload.file);
    }
  }

  /** Stop offering a bundle and delete it; undefined if it was not published. */
  async withdraw(id: string): Promise<Publication | undefined> {
    return this.serial(async () => {
      const publication = this.publications.get(id);
      if (publication === undefined) return undefined;
      await this.publications.remove(id);
      await this.store.remove(id);
      this.changed('firmware withdrawn', publication);
      return publication;
    });
  }

  /** Call `listener` after every publish and withdraw. */
  onPublicationsChanged(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  get maxBundleBytes(): number {
    return this.o.maxBundleBytes;
  }

  list(): Publication[] {
    return this.publications.list();
  }

  /** Every relay's and agent's latest report. */
  status(): UnitStatus[] {
    return this.units.list();
  }

  /** A FIRMWARE_REPORT from relay `relay`. */
  report(relay: string, units: readonly FirmwareUnitReport[]): void {
    this.units.take(relay, units);
  }

  async close(): Promise<void> {
    await this.changes.catch(() => undefined);
    await this.units.flush();
  }

  /** Signature, manifest and payload, checked by unpacking into a scratch dir removed after. */
  private async verify(upload: Upload): Promise<void> {
    const staging = this.store.scratch('verify');
    try {
      await verifyBundle(upload.file, {
        keys: this.o.keys,
        staging,
        sync: false,
        maxBytes: this.o.maxBundleBytes,
      });
    } finally {
      await this.store.discard(staging);
    }
  }

  private changed(what: string, p: Publication): void {
    this.o.log.info(
      {
        bundle: p.bundle,
        program: p.program,
        arch: p.arch,
        version: p.version,
        zones: p.zones,
        percent: p.percent,
      },
      what,
    );
    for (const listener of this.changeListeners) listener();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.changes.then(fn, fn);
    this.changes = next.catch(() => undefined);
    return next;
  }
}
