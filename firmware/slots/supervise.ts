/**
 * The supervisor's executable entry, run from a copy outside the slots:
 *   node supervise.js prestart <root>   ExecStartPre=: exit 0 and a line saying what starts;
 *                                       exit 1 if no slot holds a version
 *   node supervise.js check <root>      watchdog timer: exit 3 if it rolled back (restart the
 *                                       service), 0 if nothing to do (or the lock stayed busy)
 *   node supervise.js pending <root>    for OnFailure=: exit 0 if an update is on trial (or
 *                                       being switched or rolled back), so restart; else 1
 * Only node: and firmware/slots imports, so that an update cannot break it.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SlotSet } from './slot-set.js';
import { describeHolder } from './slot-lock.js';
import { check, prestart, SUPERVISOR_LOCK_WAIT_MS, type SuperviseOptions } from './supervisor.js';

export const EXIT_ROLLED_BACK = 3;
const USAGE = 'usage: supervise prestart|check|pending <root>';

export function runSupervise(args: readonly string[], out = console.log, err = console.error): number {
  const [command, root] = args;
  if (root === undefined || (command !== 'prestart' && command !== 'check' && command !== 'pending')) {
    err(USAGE);
    return 2;
  }
  const options: SuperviseOptions = {
    onLockWait: (h) =>
      out(`owl-slots: waiting up to ${SUPERVISOR_LOCK_WAIT_MS / 1000} s for ${describeHolder(h)} to finish`),
  };
  try {
    if (command === 'prestart') {
      const r = prestart(root, options);
      for (const line of r.repaired) out(`owl-slots: ${line}`);
      if (r.busy) out(`owl-slots: ${r.busy}; starting current as it is, nothing decided`);
      if (r.failure) out(`owl-slots: rolled back ${r.failure.version}: ${r.failure.reason}`);
      out(`owl-slots: starting ${r.start.version} from slot ${r.start.slot} (${r.action})`);
      return 0;
    }
    if (command === 'pending') {
      const state = new SlotSet({ root }).state().state;
      out(`owl-slots: ${state}`);
      return state === 'switching' || state === 'trial' || state === 'rolling-back' ? 0 : 1;
    }
    const r = check(root, options);
    if (r.busy) out(`owl-slots: check skipped: ${r.busy}`);
    if (!r.rolledBack) return 0;
    out(`owl-slots: rolled back ${r.failure?.version}: ${r.failure?.reason}`);
    return EXIT_ROLLED_BACK;
  } catch (e) {
    err(`owl-slots: ${command} ${root}: ${(e as Error).message}`);
    return 1;
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) process.exitCode = runSupervise(process.argv.slice(2));
