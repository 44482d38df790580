/**
 * The agent's side of firmware delivery (docs/firmware-agent.md), composed: the checker reports
 * and asks (FWCHECK), an offer (FWOFFER) starts the one fetch (FWCHUNKREQ/FWCHUNK, resumable),
 * the complete file is verified with the agent's own pinned keys before anything touches a slot,
 * installed into the inactive slot and switched to; then the agent stops cleanly and exits 75 so
 * its unit restarts it on the new slot, where the health commit keeps it. One log line per state
 * change: offer taken, download finished, refused, installed, switched, committed.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SlotErrorCode } from '../../firmware/slots/index.js';
import type { Timers } from '../../protocol/wire/index.js';
import type { AgentLogger } from '../log.js';
import { FirmwareChecker, checkBody } from './checker.js';
import { ChunkFetcher, CORRUPT_CODE, IO_CODE, type DownloadStatus } from './chunk-fetcher.js';
import { HealthCommit } from './health-commit.js';
import { switchSlots, verifyAndInstall } from './installer.js';
import { Refusals, type Refusal } from './refusals.js';
import { readRuntime, type Runtime } from './runtime.js';
import { FwPacket, type FirmwarePacket, type FwCheck, type FwChunkReq, type OfferedBundle } from './wire.js';

/** FirmwareErrorCode.UNKNOWN_KEY: what verifyBundle says with no key pinned, said before any download. */
const UNKNOWN_KEY_CODE = 'OWL_ERR_FIRMWARE_UNKNOWN_KEY';

/**
 * The exit code after a switch: the unit restarts the agent on the new slot. firmware/index.ts's
 * EXIT_FIRMWARE_RESTART (test/agent/firmware-units.test.ts holds them equal), not imported:
 * firmware/index.ts loads what only verification needs.
 */
export const EXIT_FIRMWARE_RESTART = 75;

export interface FirmwareSettings {
  /** The slot directory; undefined: updates off (the version is still reported). */
  root?: string;
  /** PEM files of the pinned public keys. */
  keys: string[];
  checkIntervalMs: number;
  chunkBytes: number;
}

export interface UpdaterOptions {
  settings: FirmwareSettings;
  stateDir: string;
  timers: Timers;
  logger: AgentLogger;
  /** Send packet 19 or 21; false when no session with a `firmware` relay is up. */
  send(type: number, body: FwCheck | FwChunkReq): boolean;
  /** A new version was switched to: stop cleanly and exit 75. */
  restart(): void;
}

export interface FirmwareStatus extends FwCheck {
  root: string | null;
  keys: number;
  activity: Activity;
}

type Activity = 'idle' | 'fetching' | 'installing' | 'switched' | 'off';

export class FirmwareUpdater {
  private activity: Activity;
  private readonly fetcher: ChunkFetcher;
  private readonly checker: FirmwareChecker;
  private readonly dir: string;
  /** The bundle taken, from its offer until it is switched to, refused or dropped: offered again, ignored. */
  private taken: string | undefined;
  /** Waits for the slots' lock already logged. */
  private readonly busySaid = new Set<string>();
  private stopped = false;

  private constructor(
    private readonly o: UpdaterOptions,
    private runtime: Runtime,
    private readonly refusals: Refusals,
    private readonly health: HealthCommit,
  ) {
    this.dir = join(o.stateDir, 'firmware');
    this.activity = o.settings.root === undefined ? 'off' : 'idle';
    this.fetcher = new ChunkFetcher({
      dir: this.dir,
      chunkBytes: o.settings.chunkBytes,
      timers: o.timers,
      send: (req) => o.send(FwPacket.FWCHUNKREQ, req),
      done: (b, file) => void this.downloaded(b, file),
      failed: (b, code, message) => void this.fetchFailed(b, code, message),
    });
    this.checker = new FirmwareChecker({
      timers: o.timers,
      intervalMs: o.settings.checkIntervalMs,
      body: () => this.report(),
      send: (body) => o.send(FwPacket.FWCHECK, body),
    });
  }

  /**
   * Reads the slots (the running version) and the refused bundles. Slots it cannot read (a
   * damaged update.json, which prestart would have set aside) turn updates off; the agent runs.
   */
  static async open(o: UpdaterOptions): Promise<FirmwareUpdater> {
    let runtime: Runtime;
    let readable = true;
    try {
      runtime = readRuntime(o.settings.root);
    } catch (err) {
      readable = false;
      o.logger.error(
        { root: o.settings.root, reason: (err as Error).message },
        'firmware slots unreadable: updates off',
      );
      runtime = { ...readRuntime(undefined), root: o.settings.root };
    }
    const refusals = await Refusals.open(join(o.stateDir, 'firmware', 'refused.json'));
    const health = new HealthCommit(o.settings.root, runtime.slots?.state === 'trial');
    const u = new FirmwareUpdater(o, runtime, refusals, health);
    if (!readable) u.activity = 'off';
    if (runtime.slots) {
      const s = runtime.slots;
      o.logger.info(
        {
          root: runtime.root,
          version: runtime.version,
          state: s.state,
          ...(s.pending ? { pendingVersion: s.pending.toVersion } : {}),
          ...(s.lastFailure ? { lastFailure: s.lastFailure } : {}),
          keys: o.settings.keys.length,
        },
        'running from firmware slots',
      );
    }
    u.checker.start();
    return u;
  }

  /** The running version: the slot's when running from slots. */
  get version(): string {
    return this.runtime.version;
  }

  status(): FirmwareStatus {
    return {
      ...this.report(),
      root: this.o.settings.root ?? null,
      keys: this.o.settings.keys.length,
      activity: this.activity,
    };
  }

  // ---- from the link ------------------------------------------------------------------

  /** A session with a relay listing `firmware` is up (true) or gone (false). */
  session(up: boolean): void {
    if (this.stopped) return;
    if (!up) return this.fetcher.pause();
    this.checker.check();
    this.fetcher.resume();
  }

  packet(p: FirmwarePacket): void {
    if (this.stopped) return;
    if (p.type === FwPacket.FWCHUNK) return this.fetcher.onChunk(p.body);
    if (p.body.bundle) void this.offer(p.body.bundle);
  }

  /** A batch was acknowledged: the health commit of a version on trial. */
  acked(): void {
    const r = this.health.acked();
    if (!r) return;
    if (!r.committed) {
      if (r.reason === undefined) return;
      if (!this.health.pending) this.o.logger.warn({ reason: r.reason }, 'firmware trial not committed');
      else this.sayBusyOnce('commit', { reason: r.reason }, 'firmware commit waits for the slots lock');
      return;
    }
    this.refresh();
    this.o.logger.info({ version: r.version }, 'firmware committed');
    this.checker.check();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.checker.stop();
    await this.fetcher.cancel();
  }

  // ---- the update ---------------------------------------------------------------------

  private async offer(b: OfferedBundle): Promise<void> {
    if (this.activity !== 'idle' && this.activity !== 'fetching') return;
    if (this.taken === b.id || this.refusals.has(b.id)) return;
    this.refresh();
    const state = this.runtime.slots?.state;
    // Never while an update is being tried: the other slot is then the way back.
    if (state === 'switching' || state === 'trial' || state === 'rolling-back') return;
    if (this.o.settings.keys.length === 0) {
      return this.refuse(
        b,
        UNKNOWN_KEY_CODE,
        'no firmware key is pinned (firmware.keys): every bundle is refused',
      );
    }
    this.activity = 'fetching';
    this.taken = b.id;
    this.o.logger.info({ bundle: b.id, version: b.version, size: b.size }, 'firmware offer taken');
    try {
      await this.fetcher.start(b);
    } catch (err) {
      this.drop();
      this.o.logger.error({ bundle: b.id, reason: (err as Error).message }, 'firmware download not started');
      return;
    }
    this.checker.check();
  }

  private async downloaded(b: OfferedBundle, file: string): Promise<void> {
    // Stopping, or a download a newer offer replaced as it completed: one install at a time.
    if (this.stopped || this.taken !== b.id || this.activity !== 'fetching') return;
    this.o.logger.info({ bundle: b.id, version: b.version, size: b.size }, 'firmware download finished');
    this.activity = 'installing';
    this.checker.check();
    const root = this.o.settings.root!;
    let installed;
    try {
      installed = await verifyAndInstall(file, {
        root,
        dir: this.dir,
        keys: this.o.settings.keys,
        arch: this.runtime.arch,
        running: this.runtime.version,
      });
    } catch (err) {
      return this.installFailed(b, file, err as Error & { code?: string; retriable?: boolean });
    }
    await rmQuiet(file);
    this.o.logger.info(
      { bundle: b.id, version: installed.version, slot: installed.slot },
      'firmware installed',
    );
    this.refresh();
    this.checker.check();
    if (this.stopped) return; // installed, not switched: the next start's offer does it again
    try {
      const to = switchSlots(root);
      this.activity = 'switched';
      this.refresh();
      this.o.logger.info({ version: to.version, slot: to.slot }, 'firmware switched: restarting');
    } catch (err) {
      this.drop();
      this.o.logger.error({ reason: (err as Error).message }, 'firmware switch failed');
      return;
    }
    this.checker.check();
    this.o.restart();
  }

  private async installFailed(
    b: OfferedBundle,
    file: string,
    err: Error & { code?: string; retriable?: boolean },
  ): Promise<void> {
    const code = err.code ?? '';
    if (code.startsWith('OWL_ERR_FIRMWARE_') && code !== IO_CODE) {
      await this.refuse(b, code, err.message);
      await rmQuiet(file);
    } else if (code === SlotErrorCode.BUSY) {
      // Another actor holds the slots (an operator, a package upgrade): kept, tried at the next offer.
      this.sayBusyOnce(
        `install:${b.id}`,
        { bundle: b.id, code, reason: err.message },
        'firmware install waits for the slots lock',
      );
      this.checker.check();
    } else {
      // The slots or the disk failed, not the bundle: kept, tried again at the next offer.
      this.o.logger.error({ bundle: b.id, code, reason: err.message }, 'firmware install failed');
      this.checker.check();
    }
    this.drop();
  }

  /** One info line per kind of wait for the slots' lock, not one per try. */
  private sayBusyOnce(key: string, fields: object, msg: string): void {
    if (this.busySaid.has(key)) return;
    this.busySaid.add(key);
    this.o.logger.info(fields, msg);
  }

  private async fetchFailed(b: OfferedBundle, code: string, message: string): Promise<void> {
    if (code === CORRUPT_CODE) await this.refuse(b, code, message);
    else {
      this.o.logger.warn({ bundle: b.id, code, reason: message }, 'firmware download stopped');
      this.checker.check();
    }
    this.drop(b);
  }

  /** Done with the bundle taken (refused, failed): the next offer may start another. */
  private drop(b?: OfferedBundle): void {
    if (b !== undefined && this.taken !== b.id) return; // a replaced download's late news
    this.taken = undefined;
    this.activity = 'idle';
  }

  private async refuse(b: OfferedBundle, code: string, message: string): Promise<void> {
    const r: Refusal = { bundle: b.id, version: b.version, code, message, at: this.o.timers.now() };
    this.o.logger.error(
      { bundle: b.id, version: b.version, code, reason: message },
      'firmware bundle refused',
    );
    try {
      await this.refusals.add(r);
    } catch (err) {
      this.o.logger.warn({ reason: (err as Error).message }, 'firmware refusal not saved');
    }
    this.checker.check();
  }

  private report(): FwCheck {
    return checkBody(this.runtime, this.download(), this.refusals.last);
  }

  private download(): DownloadStatus | undefined {
    return this.fetcher.download;
  }

  /**
   * Re-reads the slots after a change (ours or the supervisor's). The version stays the one this
   * process started as: after a switch `current` names the new slot, but the old code runs on.
   */
  private refresh(): void {
    try {
      this.runtime = { ...readRuntime(this.o.settings.root), version: this.runtime.version };
    } catch (err) {
      this.o.logger.warn({ reason: (err as Error).message }, 'firmware slots unreadable');
    }
  }
}

async function rmQuiet(file: string): Promise<void> {
  await rm(file, { force: true }).catch(() => undefined);
}
