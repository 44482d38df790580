/** firmware/slots: A/B slots, the atomic switch, health commit and rollback (docs/firmware-slots.md). */
export { SlotError, SlotErrorCode, SlotFailureCode } from './errors.js';
export {
  SlotSet,
  DEFAULT_HEALTH_TIMEOUT_MS,
  DEFAULT_MAX_STARTS,
  type SlotSetOptions,
  type SlotInfo,
  type SlotStatus,
} from './slot-set.js';
export {
  prestart,
  check,
  WATCHDOG_GRACE_MS,
  SUPERVISOR_LOCK_WAIT_MS,
  type PrestartResult,
  type CheckResult,
  type SuperviseOptions,
} from './supervisor.js';
export { runSupervise, EXIT_ROLLED_BACK } from './supervise.js';
export { SLOT_STEPS, type SlotStep, type StepHook } from './steps.js';
export {
  STATE_FILE,
  UPDATE_STATES,
  type UpdateState,
  type UpdateStateName,
  type PendingUpdate,
  type SlotFailure,
} from './state-file.js';
export { CURRENT_LINK, readCurrent } from './current-link.js';
export { SLOT_MARKER, slotVersion, type SlotName } from './slot-dir.js';
export { slotCommands } from './cli-commands.js';
export {
  LOCK_FILE,
  acquireSlotLock,
  readSlotLock,
  describeHolder,
  type LockHolder,
  type LockState,
  type LockOptions,
} from './slot-lock.js';
export { currentBootId, processStart, pidExists } from './process-identity.js';
export { writeFileAtomic } from './durable-fs.js';
