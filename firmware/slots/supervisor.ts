/**
 * The supervisor: the decisions taken outside the new code, before each start of the service
 * (`prestart`, the unit's ExecStartPre=) and by a watchdog while it runs (`check`, a timer).
 * It changes with no update: it imports nothing outside firmware/slots, reads its limits from
 * update.json (recorded at the switch), and is installed outside the slots.
 */
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { SlotError, SlotErrorCode, SlotFailureCode } from './errors.js';
import { SlotSet, type SlotInfo } from './slot-set.js';
import { readCurrent } from './current-link.js';
import { slotVersion } from './slot-dir.js';
import { STATE_FILE } from './state-file.js';
import type { PendingUpdate, SlotFailure } from './state-file.js';
import type { StepHook } from './steps.js';
import type { LockHolder } from './slot-lock.js';

export interface SuperviseOptions {
  now?: () => number;
  hook?: StepHook;
  /** How long to wait for another actor's lock (default SUPERVISOR_LOCK_WAIT_MS). */
  lockWaitMs?: number;
  /** Called when it begins to wait for another actor's lock. */
  onLockWait?: (holder: LockHolder | null) => void;
}

/**
 * The supervisor waits this long for another actor's lock (an install copying a tree, an
 * operator's command) rather than fail the unit's start or skip a check at once.
 */
export const SUPERVISOR_LOCK_WAIT_MS = 5_000;

function slotSet(root: string, options: SuperviseOptions): SlotSet {
  return new SlotSet({
    root,
    now: options.now ?? Date.now,
    lockWaitMs: options.lockWaitMs ?? SUPERVISOR_LOCK_WAIT_MS,
    ...(options.hook ? { hook: options.hook } : {}),
    ...(options.onLockWait ? { onLockWait: options.onLockWait } : {}),
  });
}

function isBusy(err: unknown): err is SlotError {
  return err instanceof SlotError && err.code === SlotErrorCode.BUSY;
}

export interface PrestartResult {
  /** What `current` names now: the version the service is about to start. */
  start: SlotInfo;
  /**
   * 'trial': a start of the version on trial (counted); 'rolled-back': just went back; 'busy':
   * another actor held the lock past the wait, so `current` starts as it is, nothing decided.
   */
  action: 'start' | 'trial' | 'rolled-back' | 'busy';
  /** action 'busy': who holds the lock. */
  busy?: string;
  failure?: SlotFailure;
  /** Things put right on the way (an interrupted switch or rollback, a bad link or state file). */
  repaired: string[];
}

/**
 * Before each start: finish an interrupted switch or rollback; during a trial, roll back if the
 * deadline passed or the allowed starts are used up, else count this start; make sure `current`
 * names a complete slot. Throws SlotError NOTHING_TO_START only if no slot holds a version.
 */
export function prestart(root: string, options: SuperviseOptions = {}): PrestartResult {
  const slots = slotSet(root, options);
  let release: () => void;
  try {
    release = slots.lock('prestart');
  } catch (err) {
    if (!isBusy(err)) throw err;
    return startAsItIs(slots, err);
  }
  try {
    return decideStart(slots, options.now ?? Date.now);
  } finally {
    release();
  }
}

/**
 * The lock stayed busy: a unit that could not start until another actor finishes would leave
 * the host dark if that actor hangs, so `current` starts as it is if it names a complete slot.
 * The decisions wait for the next start (the watchdog's check still ends a trial).
 */
function startAsItIs(slots: SlotSet, busy: SlotError): PrestartResult {
  // The link and the marker only: update.json may be what the holder is writing.
  const slot = readCurrent(slots.root);
  const version = slot === null ? null : slotVersion(slots.root, slot);
  if (slot === null || version === null) throw busy;
  return { start: { slot, version }, action: 'busy', busy: busy.message, repaired: [] };
}

function decideStart(slots: SlotSet, now: () => number): PrestartResult {
  const root = slots.root;
  const repaired: string[] = [];
  let st;
  try {
    st = slots.state();
  } catch (err) {
    if (!(err instanceof SlotError) || err.code !== SlotErrorCode.BAD_STATE) throw err;
    // Never written by this code; set it aside (for a person) and trust the link.
    const aside = `${STATE_FILE}.bad-${now()}`;
    renameSync(join(root, STATE_FILE), join(root, aside));
    repaired.push(`unreadable ${STATE_FILE} moved to ${aside}`);
    st = slots.state();
  }

  if (st.state === 'switching') {
    slots.finishSwitch();
    repaired.push('finished an interrupted switch');
    st = slots.state();
  } else if (st.state === 'rolling-back') {
    const failure = slots.finishRollback();
    repaired.push('finished an interrupted rollback');
    return { start: slots.repairLink(), action: 'rolled-back', failure, repaired };
  }

  if (st.state === 'trial' && st.pending !== null) {
    const p = st.pending;
    let verdict: { code: SlotFailureCode; reason: string } | null = null;
    if (p.deadline !== null && now() >= p.deadline) {
      verdict = {
        code: SlotFailureCode.HEALTH_TIMEOUT,
        reason: `health timeout: not healthy by the deadline after ${p.starts} start(s)`,
      };
    } else if (p.starts >= p.maxStarts) {
      verdict = {
        code: SlotFailureCode.EXITED_AT_START,
        reason: `exited at start: ${p.starts} start(s), never healthy`,
      };
    }
    if (verdict !== null && p.fromSlot !== null && slotVersion(root, p.fromSlot) !== null) {
      const failure = slots.rollback(verdict.reason, verdict.code);
      return { start: slots.repairLink(), action: 'rolled-back', failure, repaired };
    }
    // The first install has nothing to go back to: keep starting it (and counting).
    slots.countStart();
    return { start: slots.repairLink(), action: 'trial', repaired };
  }

  const before = slots.status().current;
  const start = slots.repairLink();
  if (before?.slot !== start.slot || before.version === null)
    repaired.push(`current pointed at ${start.slot}`);
  return { start, action: 'start', repaired };
}

/** The watchdog waits this long past the deadline: a commit begun in time has landed by then. */
export const WATCHDOG_GRACE_MS = 5_000;

export interface CheckResult {
  /** True if the trial was rolled back: restart the service. */
  rolledBack: boolean;
  failure?: SlotFailure;
  /** Not looked at: another actor held the lock past the wait (the next check tries again). */
  busy?: string;
}

/**
 * The watchdog, while the service runs: a trial past its deadline (plus WATCHDOG_GRACE_MS) is
 * rolled back (the new version runs but never reported healthy). Nothing else is touched: a switch or rollback in
 * progress belongs to the process doing it. A lock busy past the wait skips this check.
 */
export function check(root: string, options: SuperviseOptions = {}): CheckResult {
  const now = options.now ?? Date.now;
  const slots = slotSet(root, options);
  // Decided without the lock first: most checks find nothing to do and touch nothing.
  if (rollbackDue(slots, now) === null) return { rolledBack: false };
  let release: () => void;
  try {
    release = slots.lock('check');
  } catch (err) {
    if (!isBusy(err)) throw err;
    return { rolledBack: false, busy: err.message };
  }
  try {
    const p = rollbackDue(slots, now);
    if (p === null) return { rolledBack: false };
    const failure = slots.rollback(
      `health timeout: not healthy within the deadline after ${p.starts} start(s)`,
      SlotFailureCode.HEALTH_TIMEOUT,
    );
    return { rolledBack: true, failure };
  } finally {
    release();
  }
}

/** The trial to roll back: past its deadline and the grace, with a previous version to go to. */
function rollbackDue(slots: SlotSet, now: () => number): PendingUpdate | null {
  const st = slots.state();
  const p = st.pending;
  if (st.state !== 'trial' || p === null || p.deadline === null) return null;
  if (now() < p.deadline + WATCHDOG_GRACE_MS) return null;
  return p.fromSlot !== null && slotVersion(slots.root, p.fromSlot) !== null ? p : null;
}
