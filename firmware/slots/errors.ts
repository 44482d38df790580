/**
 * Slot error codes, in the protocol's `OWL_ERR_*` form. SlotError has OwlError's shape (code,
 * retriable, cause) but does not extend it: the supervisor imports nothing outside
 * firmware/slots, so that an update of the rest of the code can never break the piece that
 * rolls it back.
 */
export const SlotErrorCode = {
  /** An update is between its switch and its commit or rollback; finish that one first. */
  PENDING: 'OWL_ERR_SLOTS_PENDING',
  /** The step does not fit the recorded state (switch without an install, commit without a trial). */
  WRONG_STATE: 'OWL_ERR_SLOTS_WRONG_STATE',
  /** commit: the trial's health deadline has passed; the supervisor rolls it back. */
  DEADLINE_PASSED: 'OWL_ERR_SLOTS_DEADLINE_PASSED',
  /** rollback: there is no previous version to go back to (the first install). */
  NO_PREVIOUS: 'OWL_ERR_SLOTS_NO_PREVIOUS',
  /** prestart: no slot holds a complete version. */
  NOTHING_TO_START: 'OWL_ERR_SLOTS_NOTHING_TO_START',
  /** install: the staged tree holds something a slot cannot (device, socket), or is not a directory. */
  BAD_TREE: 'OWL_ERR_SLOTS_BAD_TREE',
  /** A bad version string or option. */
  BAD_ARGUMENT: 'OWL_ERR_SLOTS_BAD_ARGUMENT',
  /** The state file is not what this code writes (hand-edited, or from another program). */
  BAD_STATE: 'OWL_ERR_SLOTS_BAD_STATE',
  /**
   * Another actor (the updater, the supervisor, an operator, a package install) is changing the
   * slots: the message names its operation and pid. Try again when it is done (slot-lock.ts).
   */
  BUSY: 'OWL_ERR_SLOTS_BUSY',
  /** Reading or writing the slots failed (disk full, permissions, I/O error). */
  IO: 'OWL_ERR_SLOTS_IO',
} as const;
export type SlotErrorCode = (typeof SlotErrorCode)[keyof typeof SlotErrorCode];

/** Why a trial was rolled back: recorded in the state file's `lastFailure`, reported upstream. */
export const SlotFailureCode = {
  /** The new version did not report healthy before the deadline. */
  HEALTH_TIMEOUT: 'OWL_ERR_FIRMWARE_HEALTH_TIMEOUT',
  /** The new version was started its allowed number of times and never became healthy. */
  EXITED_AT_START: 'OWL_ERR_FIRMWARE_EXITED_AT_START',
  /** Someone (operator, updater) asked for the rollback. */
  REQUESTED: 'OWL_ERR_FIRMWARE_ROLLBACK_REQUESTED',
} as const;
export type SlotFailureCode = (typeof SlotFailureCode)[keyof typeof SlotFailureCode];

export interface SlotErrorOptions {
  cause?: unknown;
  retriable?: boolean;
}

/** Raised by the slot code: every refusal and failure carries one of the codes above. */
export class SlotError extends Error {
  readonly code: SlotErrorCode;
  readonly retriable: boolean;

  constructor(code: SlotErrorCode, message: string, options: SlotErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    // Only an I/O failure or a busy lock may go away by itself (disk space freed, holder done).
    this.retriable = options.retriable ?? (code === SlotErrorCode.IO || code === SlotErrorCode.BUSY);
  }
}

/** Runs `fn`; a system error (errno) becomes SlotError IO naming `what`. */
export function io<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SlotError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new SlotError(SlotErrorCode.IO, `${what}: ${code}`, { cause: err });
  }
}
