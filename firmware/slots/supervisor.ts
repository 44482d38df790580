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
import { slotVersion } from './slot-dir.js';
import { STATE_FILE } from './state-file.js';
import type { SlotFailure } from './state-file.js';
import type { StepHook } from './steps.js';

export interface SuperviseOptions {
  now?: () => number;
  hook?: StepHook;
}

export interface PrestartResult {
  /** What `current` names now: the version the service is about to start. */
  start: SlotInfo;
  /** 'trial': a start of the version on trial (counted); 'rolled-back': just went back. */
  action: 'start' | 'trial' | 'rolled-back';
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
  const now = options.now ?? Date.now;
  const slots = new SlotSet({ root, now, ...(options.hook ? { hook: options.hook } : {}) });
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
}

/**
 * The watchdog, while the service runs: a trial past its deadline (plus WATCHDOG_GRACE_MS) is
 * rolled back (the new version runs but never reported healthy). Nothing else is touched: a switch or rollback in
 * progress belongs to the process doing it.
 */
export function check(root: string, options: SuperviseOptions = {}): CheckResult {
  const now = options.now ?? Date.now;
  const slots = new SlotSet({ root, now, ...(options.hook ? { hook: options.hook } : {}) });
  const st = slots.state();
  const p = st.pending;
  if (st.state !== 'trial' || p === null || p.deadline === null) return { rolledBack: false };
  if (now() < p.deadline + WATCHDOG_GRACE_MS) return { rolledBack: false };
  if (p.fromSlot === null || slotVersion(root, p.fromSlot) === null) return { rolledBack: false };
  const failure = slots.rollback(
    `health timeout: not healthy within the deadline after ${p.starts} start(s)`,
    SlotFailureCode.HEALTH_TIMEOUT,
  );
  return { rolledBack: true, failure };
}
