/**
 * SlotSet: the A/B slots of one program, the atomic switch, the health commit and the rollback.
 *
 * Layout under `root` (in production `/opt/owl/<program>/`):
 *   a/, b/          the slots; each holds one complete package tree and `.owl-slot.json`
 *                   (its version), or does not exist (slot-dir.ts)
 *   current         relative symlink to `a` or `b`: what the service starts (current-link.ts)
 *   update.json     the update in progress and the last failure (state-file.ts)
 *   .incoming-<s>, .trash-<s>, .current.tmp, .update.json.tmp   work names, stale after a crash
 *   .lock           who is changing the slots now (slot-lock.ts): every change below takes it
 *
 * An update: install(staged, version) → switch() → (service restarts on the new slot) →
 * commit() once healthy, or rollback(reason) (the supervisor's prestart/check, supervisor.ts).
 * States: committed → installing → installed → switching → trial → committed, or trial →
 * rolling-back → rolled-back. Every state change is one atomic write of update.json, and the
 * link flip is one rename; so a crash (kill -9, power loss) leaves one of a few combinations of
 * (state, link), each of which prestart turns into a version that starts:
 *   installing / installed, link on the old slot: the old version starts; the next install
 *     clears the half-built inactive slot.
 *   switching, link on either slot: the new slot is complete (switch() checks its marker before
 *     recording), so prestart finishes the switch: link on the new slot, `trial`.
 *   trial: prestart counts the start; past the deadline or the allowed starts it rolls back.
 *   rolling-back, link on either slot: prestart finishes the rollback.
 *   committed / rolled-back: nothing pending; the link is trusted.
 * A link that is missing or names an incomplete slot (never made by this code, but disks lie)
 * is pointed at the complete slot.
 *
 * Invariants.
 * - The running version is never overwritten: install() writes only the slot `current` does not
 *   name, and is refused while an update is between its switch and its commit or rollback (the
 *   inactive slot is then the rollback target).
 * - `current` names a complete slot from the first switch on: the slot is renamed into place
 *   after its tree and marker are synced, and the link is replaced by rename(2).
 * - A trial ends within its deadline or its allowed starts: the deadline and the starts are
 *   recorded in update.json at the switch, so the supervisor needs no configuration of its own.
 * - commit() at or after the deadline is refused, and the watchdog (supervisor.ts check) acts
 *   only WATCHDOG_GRACE_MS after it: a commit that began in time has landed before the watchdog
 *   looks, so the two never both win. prestart acts at the deadline: the service is not running
 *   then, so nothing can commit.
 * - The first version (no previous slot) has no deadline and no start limit: there is nothing
 *   to go back to, and it must be able to commit whenever it becomes healthy.
 *
 * Clock and crash points: `now` is injected (tests move it past a deadline without waiting);
 * `hook` is called at every named step (steps.ts), where tests SIGKILL the process.
 */
import { existsSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { io, SlotError, SlotErrorCode, SlotFailureCode } from './errors.js';
import { copyTreeDurable, renameDurable, removeTree, writeFileAtomic } from './durable-fs.js';
import { pointCurrent, readCurrent } from './current-link.js';
import {
  incomingPath,
  isValidVersion,
  otherSlot,
  SLOT_MARKER,
  SLOT_NAMES,
  slotPath,
  slotVersion,
  trashPath,
  type SlotName,
} from './slot-dir.js';
import {
  readState,
  writeState,
  type PendingUpdate,
  type SlotFailure,
  type UpdateState,
} from './state-file.js';
import type { SlotStep, StepHook } from './steps.js';
import { acquireSlotLock, busyError, readSlotLock, type LockHolder } from './slot-lock.js';

export interface SlotSetOptions {
  /** The program's directory: slots, link and state file live here. */
  root: string;
  /** How long a new version has to report healthy after the switch (default 3 min). */
  healthTimeoutMs?: number;
  /** How many starts a new version gets to become healthy (default 2). */
  maxStarts?: number;
  /** ms since the epoch (default Date.now). */
  now?: () => number;
  hook?: StepHook;
  /** How long a change waits for another actor's lock before failing with BUSY (default 0). */
  lockWaitMs?: number;
  /** Called when a change begins to wait for another actor's lock. */
  onLockWait?: (holder: LockHolder | null) => void;
}

export interface SlotInfo {
  slot: SlotName;
  version: string | null;
}

export interface SlotStatus {
  root: string;
  /** What `current` names (null before the first switch). */
  current: SlotInfo | null;
  /** The other slot: the previous version, a newly installed one, or nothing. */
  other: SlotInfo | null;
  state: UpdateState['state'];
  pending: PendingUpdate | null;
  lastFailure: SlotFailure | null;
}

export const DEFAULT_HEALTH_TIMEOUT_MS = 180_000;
export const DEFAULT_MAX_STARTS = 2;

export class SlotSet {
  readonly root: string;
  private readonly healthTimeoutMs: number;
  private readonly maxStarts: number;
  private readonly now: () => number;
  private readonly hook: StepHook;
  private readonly lockWaitMs: number;
  private readonly onLockWait: ((holder: LockHolder | null) => void) | undefined;

  constructor(options: SlotSetOptions) {
    this.root = options.root;
    this.healthTimeoutMs = options.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
    this.maxStarts = options.maxStarts ?? DEFAULT_MAX_STARTS;
    this.now = options.now ?? Date.now;
    this.hook = options.hook ?? (() => {});
    this.lockWaitMs = options.lockWaitMs ?? 0;
    this.onLockWait = options.onLockWait;
    if (!(this.healthTimeoutMs > 0) || !Number.isInteger(this.maxStarts) || this.maxStarts < 1) {
      throw new SlotError(SlotErrorCode.BAD_ARGUMENT, 'healthTimeoutMs must be > 0 and maxStarts ≥ 1');
    }
  }

  state(): UpdateState {
    return readState(this.root);
  }

  status(): SlotStatus {
    const st = this.state();
    const cur = readCurrent(this.root);
    const info = (slot: SlotName): SlotInfo => ({ slot, version: slotVersion(this.root, slot) });
    const other = cur === null ? SLOT_NAMES.find((s) => slotVersion(this.root, s) !== null) : otherSlot(cur);
    return {
      root: this.root,
      current: cur === null ? null : info(cur),
      other: other === undefined ? null : info(other),
      state: st.state,
      pending: st.pending,
      lastFailure: st.lastFailure,
    };
  }

  /**
   * Takes the root's lock for `op` (slot-lock.ts) and returns its release. Every change below
   * takes it itself; a caller takes it to make several of them one decision (the supervisor).
   */
  lock(op: string, waitMs = this.lockWaitMs): () => void {
    return acquireSlotLock(this.root, op, {
      waitMs,
      ...(this.onLockWait ? { onWait: this.onLockWait } : {}),
    });
  }

  /** The live holder of the lock, or null if it is free (or stale: the next change takes it over). */
  lockHolder(): LockHolder | null {
    const l = readSlotLock(this.root);
    return l === null || l.stale !== null ? null : l.holder;
  }

  /** Throws SlotError BUSY if another actor holds the lock: a cheap look before long work. */
  throwIfBusy(): void {
    const holder = this.lockHolder();
    if (holder !== null) throw busyError(this.root, holder);
  }

  private locked<T>(op: string, fn: () => T, waitMs = this.lockWaitMs): T {
    const release = this.lock(op, waitMs);
    try {
      return fn();
    } finally {
      release();
    }
  }

  /**
   * Copies the verified, unpacked tree `staged` into the inactive slot as `version`. The staged
   * tree is left as it is (the caller removes it). Refused while an update is being tried.
   */
  install(staged: string, version: string): SlotInfo {
    if (!isValidVersion(version)) throw new SlotError(SlotErrorCode.BAD_ARGUMENT, `bad version '${version}'`);
    if (!existsSync(staged) || !lstatSync(staged).isDirectory()) {
      throw new SlotError(SlotErrorCode.BAD_TREE, `${staged}: not a directory`);
    }
    io(`mkdir ${this.root}`, () => mkdirSync(this.root, { recursive: true }));
    return this.locked('install', () => this.installLocked(staged, version));
  }

  private installLocked(staged: string, version: string): SlotInfo {
    const st = this.state();
    this.refusePending(st, 'install');
    const from = readCurrent(this.root);
    const to = from === null ? 'a' : otherSlot(from);
    const pending: PendingUpdate = {
      fromSlot: from,
      fromVersion: from === null ? null : slotVersion(this.root, from),
      toSlot: to,
      toVersion: version,
      startedAt: this.now(),
      deadline: null,
      starts: 0,
      maxStarts: this.maxStarts,
    };
    this.record({ ...st, state: 'installing', pending });
    this.step('install:recorded');

    // The old content leaves in one rename; a crash during its deletion leaves only trash.
    const slot = slotPath(this.root, to);
    const trash = trashPath(this.root, to);
    const incoming = incomingPath(this.root, to);
    removeTree(trash);
    removeTree(incoming);
    if (existsSync(slot)) renameDurable(slot, trash);
    removeTree(trash);
    this.step('install:cleared');

    let first = true;
    copyTreeDurable(staged, incoming, () => {
      if (first) this.step('install:copying');
      first = false;
    });
    this.step('install:copied');
    writeFileAtomic(join(incoming, SLOT_MARKER), `${JSON.stringify({ version, installedAt: this.now() })}\n`);
    renameDurable(incoming, slot);
    this.step('install:placed');

    this.record({ ...st, state: 'installed', pending });
    this.step('install:done');
    return { slot: to, version };
  }

  /** Points `current` at the installed slot and starts its trial; restart the service after it. */
  switch(): SlotInfo {
    return this.locked('switch', () => this.switchLocked());
  }

  private switchLocked(): SlotInfo {
    const st = this.state();
    if (st.state !== 'installed' || st.pending === null) {
      throw new SlotError(SlotErrorCode.WRONG_STATE, `switch: nothing installed (state ${st.state})`);
    }
    const p = st.pending;
    if (slotVersion(this.root, p.toSlot) !== p.toVersion) {
      throw new SlotError(SlotErrorCode.WRONG_STATE, `switch: slot ${p.toSlot} does not hold ${p.toVersion}`);
    }
    if (readCurrent(this.root) !== p.fromSlot) {
      throw new SlotError(SlotErrorCode.WRONG_STATE, 'switch: current moved since the install');
    }
    // The trial's limits are the switch's: recorded here, read by the supervisor. The first
    // version has nothing to go back to, hence no deadline: it may become healthy any time.
    const deadline = p.fromSlot === null ? null : this.now() + this.healthTimeoutMs;
    const pending: PendingUpdate = { ...p, deadline, starts: 0, maxStarts: this.maxStarts };
    this.record({ ...st, state: 'switching', pending });
    this.step('switch:recorded');
    this.finishSwitch();
    return { slot: p.toSlot, version: p.toVersion };
  }

  /** From `switching`: link on the new slot, `trial` recorded. Idempotent (prestart repeats it). */
  finishSwitch(): void {
    this.locked('switch', () => this.finishSwitchLocked());
  }

  private finishSwitchLocked(): void {
    const st = this.state();
    if (st.state !== 'switching' || st.pending === null) {
      throw new SlotError(SlotErrorCode.WRONG_STATE, `switch: not switching (state ${st.state})`);
    }
    pointCurrent(this.root, st.pending.toSlot, () => this.step('switch:linked'));
    this.step('switch:flipped');
    this.record({ ...st, state: 'trial' });
    this.step('switch:done');
  }

  /**
   * The new version is healthy: keep it. Returns false if no trial is pending (a program may call
   * it on every healthy start). Refused after the deadline.
   */
  commit(): boolean {
    // No wait here: the programs commit on their event loop, and retry a BUSY commit themselves
    // (relay: in 1 s; agent: at its next ACK), well before the trial's deadline.
    return this.locked('commit', () => this.commitLocked());
  }

  private commitLocked(): boolean {
    const st = this.state();
    if (st.state === 'committed' || st.state === 'rolled-back') return false;
    if (st.state !== 'trial' || st.pending === null) {
      throw new SlotError(SlotErrorCode.WRONG_STATE, `commit: no trial (state ${st.state})`);
    }
    if (readCurrent(this.root) !== st.pending.toSlot) {
      throw new SlotError(SlotErrorCode.WRONG_STATE, 'commit: current is not the slot on trial');
    }
    if (st.pending.deadline !== null && this.now() >= st.pending.deadline) {
      throw new SlotError(
        SlotErrorCode.DEADLINE_PASSED,
        `commit: the health deadline of ${st.pending.toVersion} passed`,
      );
    }
    this.record({ state: 'committed', pending: null, lastFailure: st.lastFailure, updatedAt: 0 });
    this.step('commit:done');
    return true;
  }

  /** Counts one start of the version on trial (prestart does it before each start). */
  countStart(): PendingUpdate {
    return this.locked('prestart', () => this.countStartLocked());
  }

  private countStartLocked(): PendingUpdate {
    const st = this.state();
    if (st.state !== 'trial' || st.pending === null) {
      throw new SlotError(SlotErrorCode.WRONG_STATE, `start: no trial (state ${st.state})`);
    }
    const pending = { ...st.pending, starts: st.pending.starts + 1 };
    this.record({ ...st, pending });
    this.step('prestart:counted');
    return pending;
  }

  /**
   * Goes back to the previous version: `rolling-back` with the failure recorded, link flipped
   * back, `rolled-back` with `lastFailure`. Restart the service after it.
   */
  rollback(reason: string, code: SlotFailureCode = SlotFailureCode.REQUESTED): SlotFailure {
    return this.locked('rollback', () => this.rollbackLocked(reason, code));
  }

  private rollbackLocked(reason: string, code: SlotFailureCode): SlotFailure {
    const st = this.state();
    if (st.state !== 'trial' && st.state !== 'switching') {
      throw new SlotError(SlotErrorCode.WRONG_STATE, `rollback: no update to roll back (state ${st.state})`);
    }
    const p = st.pending;
    if (p === null || p.fromSlot === null || slotVersion(this.root, p.fromSlot) === null) {
      throw new SlotError(SlotErrorCode.NO_PREVIOUS, 'rollback: no previous version to go back to');
    }
    const failure: SlotFailure = {
      code,
      reason,
      version: p.toVersion,
      previousVersion: p.fromVersion,
      at: this.now(),
      starts: p.starts,
    };
    this.record({ ...st, state: 'rolling-back', pending: { ...p, failure } });
    this.step('rollback:recorded');
    return this.finishRollback();
  }

  /** From `rolling-back`: link on the previous slot, `rolled-back`. Idempotent. */
  finishRollback(): SlotFailure {
    return this.locked('rollback', () => this.finishRollbackLocked());
  }

  private finishRollbackLocked(): SlotFailure {
    const st = this.state();
    const p = st.pending;
    if (st.state !== 'rolling-back' || p === null || p.failure === undefined || p.fromSlot === null) {
      throw new SlotError(SlotErrorCode.WRONG_STATE, `rollback: not rolling back (state ${st.state})`);
    }
    pointCurrent(this.root, p.fromSlot, () => this.step('rollback:linked'));
    this.step('rollback:flipped');
    this.record({ state: 'rolled-back', pending: null, lastFailure: p.failure, updatedAt: 0 });
    this.step('rollback:done');
    return p.failure;
  }

  /**
   * Makes `current` name a complete slot if it does not (missing link, or a slot without its
   * marker): the other slot if that one is complete. Returns what `current` names afterwards.
   */
  repairLink(): SlotInfo {
    return this.locked('repair', () => this.repairLinkLocked());
  }

  private repairLinkLocked(): SlotInfo {
    const cur = readCurrent(this.root);
    if (cur !== null) {
      const version = slotVersion(this.root, cur);
      if (version !== null) return { slot: cur, version };
    }
    const candidates = cur === null ? SLOT_NAMES : [otherSlot(cur)];
    for (const slot of candidates) {
      const version = slotVersion(this.root, slot);
      if (version === null) continue;
      pointCurrent(this.root, slot);
      return { slot, version };
    }
    throw new SlotError(SlotErrorCode.NOTHING_TO_START, `${this.root}: no slot holds a complete version`);
  }

  private refusePending(st: UpdateState, what: string): void {
    if (st.state === 'switching' || st.state === 'trial' || st.state === 'rolling-back') {
      const v = st.pending?.toVersion ?? '?';
      throw new SlotError(
        SlotErrorCode.PENDING,
        `${what}: the update to ${v} is ${st.state}; commit or roll it back first`,
      );
    }
  }

  private record(st: UpdateState): void {
    writeState(this.root, { ...st, updatedAt: this.now() }, this.hook);
  }

  private step(step: SlotStep): void {
    this.hook(step);
  }
}
