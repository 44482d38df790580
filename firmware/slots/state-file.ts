/**
 * `<root>/update.json`: the update in progress and the last failure. Replaced atomically (temp
 * file, fsync, rename, fsync of the root), so after any crash it is the old or the new content,
 * never a mix.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { io, SlotError, SlotErrorCode, type SlotFailureCode } from './errors.js';
import { writeFileAtomic } from './durable-fs.js';
import type { StepHook } from './steps.js';
import { isSlotName, type SlotName } from './slot-dir.js';

export const STATE_FILE = 'update.json';

/** See the table in docs/firmware-slots.md. */
export const UPDATE_STATES = [
  'committed',
  'installing',
  'installed',
  'switching',
  'trial',
  'rolling-back',
  'rolled-back',
] as const;
export type UpdateStateName = (typeof UPDATE_STATES)[number];

/** The update being installed, tried or rolled back. */
export interface PendingUpdate {
  fromSlot: SlotName | null;
  fromVersion: string | null;
  toSlot: SlotName;
  toVersion: string;
  /** ms since the epoch: when install() began. */
  startedAt: number;
  /** ms since the epoch: set by switch(); the trial must be committed before it. */
  deadline: number | null;
  /** Starts of the new version counted by prestart during the trial, and how many it may have. */
  starts: number;
  maxStarts: number;
  /** While rolling back: why. */
  failure?: SlotFailure;
}

/** A rolled-back update, kept until a later failure replaces it, so it can be reported upstream. */
export interface SlotFailure {
  code: SlotFailureCode;
  reason: string;
  /** The version that failed, and the one running again. */
  version: string;
  previousVersion: string | null;
  at: number;
  starts: number;
}

export interface UpdateState {
  state: UpdateStateName;
  pending: PendingUpdate | null;
  lastFailure: SlotFailure | null;
  updatedAt: number;
}

export const INITIAL_STATE: UpdateState = {
  state: 'committed',
  pending: null,
  lastFailure: null,
  updatedAt: 0,
};

/** Reads the state; a missing file is the initial state (nothing pending). */
export function readState(root: string): UpdateState {
  const path = join(root, STATE_FILE);
  if (!existsSync(path)) return INITIAL_STATE;
  const text = io(`read ${path}`, () => readFileSync(path, 'utf8'));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SlotError(SlotErrorCode.BAD_STATE, `${path}: not JSON`, { cause: err });
  }
  if (!isUpdateState(value)) throw new SlotError(SlotErrorCode.BAD_STATE, `${path}: not an update state`);
  return value;
}

export function writeState(root: string, state: UpdateState, hook?: StepHook): void {
  writeFileAtomic(join(root, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`, () =>
    hook?.('state:temp-written', state.state),
  );
}

function isUpdateState(v: unknown): v is UpdateState {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  if (!(UPDATE_STATES as readonly unknown[]).includes(s.state)) return false;
  if (typeof s.updatedAt !== 'number') return false;
  if (s.pending !== null && !isPending(s.pending)) return false;
  if (s.lastFailure !== null && typeof s.lastFailure !== 'object') return false;
  // Every state but the steady ones names its update.
  return (s.state === 'committed' || s.state === 'rolled-back') === (s.pending === null);
}

function isPending(v: unknown): v is PendingUpdate {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return (
    isSlotName(p.toSlot) &&
    typeof p.toVersion === 'string' &&
    (p.fromSlot === null || isSlotName(p.fromSlot)) &&
    typeof p.starts === 'number' &&
    typeof p.maxStarts === 'number' &&
    (p.deadline === null || typeof p.deadline === 'number')
  );
}
