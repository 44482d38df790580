/**
 * The named steps of the slot operations. A `StepHook` is called at each one; tests make a child
 * process SIGKILL itself there, which is how every "kill -9 at this point" is reproduced. In
 * production no hook is set.
 */

/** Every point between two durable effects, in the order an update passes them. */
export const SLOT_STEPS = [
  // install(): `installing` recorded; inactive slot renamed to trash; first file copied; whole
  // tree copied and synced; marker written and the tree renamed to the slot; `installed` recorded.
  'install:recorded',
  'install:cleared',
  'install:copying',
  'install:copied',
  'install:placed',
  'install:done',
  // switch(): `switching` recorded; temp link made; link renamed over `current`; `trial` recorded.
  'switch:recorded',
  'switch:linked',
  'switch:flipped',
  'switch:done',
  // prestart during a trial: the start counted.
  'prestart:counted',
  // commit(): `committed` recorded.
  'commit:done',
  // rollback(): `rolling-back` recorded; link renamed back; `rolled-back` recorded.
  'rollback:recorded',
  'rollback:linked',
  'rollback:flipped',
  'rollback:done',
  // Inside every state-file write: the temp file is written and synced, not yet renamed.
  'state:temp-written',
] as const;
export type SlotStep = (typeof SLOT_STEPS)[number];

/** Called at each step; `detail` names the state being written for 'state:temp-written'. */
export type StepHook = (step: SlotStep, detail?: string) => void;
