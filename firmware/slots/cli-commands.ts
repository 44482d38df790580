/**
 * `owl-firmware slots status|install|switch|commit|rollback|prestart|check --root DIR`: the slot
 * steps by hand (an operator on the box, or a script). Results are JSON on stdout; a failure is
 * one line on stderr (`owl-firmware slots: <why> [<code>]`) and exit code 2, as owl-firmware's
 * other commands. The unit itself runs supervise.js, not this. A change (install, switch, commit,
 * rollback) takes the slots' lock and fails at once with OWL_ERR_SLOTS_BUSY, naming the holder,
 * if another actor has it; prestart and check wait for it as the supervisor does.
 */
import type { Command } from 'commander';
import { SlotError } from './errors.js';
import { DEFAULT_HEALTH_TIMEOUT_MS, DEFAULT_MAX_STARTS, SlotSet } from './slot-set.js';
import { readSlotLock } from './slot-lock.js';
import { check, prestart } from './supervisor.js';

interface RootFlags {
  root: string;
}
interface TrialFlags extends RootFlags {
  healthTimeout: number;
  maxStarts: number;
}

function run<A extends unknown[]>(action: (...args: A) => unknown): (...args: A) => void {
  return (...args) => {
    try {
      process.stdout.write(`${JSON.stringify(action(...args), null, 2)}\n`);
    } catch (err) {
      const code = err instanceof SlotError ? ` [${err.code}]` : '';
      process.stderr.write(`owl-firmware slots: ${(err as Error).message}${code}\n`);
      process.exit(2);
    }
  };
}

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`not a positive integer: ${v}`);
  return n;
};

export function slotCommands(program: Command): Command {
  const slots = program
    .command('slots')
    .description('A/B slots of an installed program (docs/firmware-slots.md)');
  const withRoot = (c: Command): Command =>
    c.requiredOption('--root <dir>', 'the program directory, e.g. /opt/owl/relay');

  withRoot(
    slots.command('status').description('current and other slot, update state, last failure, lock holder'),
  ).action(
    run((f: RootFlags) => ({ ...new SlotSet({ root: f.root }).status(), lock: readSlotLock(f.root) })),
  );
  withRoot(slots.command('install').description('copy a verified, unpacked tree into the inactive slot'))
    .argument('<staged>', 'the staged tree (left in place)')
    .argument('<version>', 'its version')
    .action(
      run((staged: string, version: string, f: RootFlags) =>
        new SlotSet({ root: f.root }).install(staged, version),
      ),
    );
  withRoot(
    slots
      .command('switch')
      .description('point current at the installed slot and start its trial; restart the service after'),
  )
    .option(
      '--health-timeout <s>',
      'seconds the new version has to report healthy',
      positive,
      DEFAULT_HEALTH_TIMEOUT_MS / 1000,
    )
    .option('--max-starts <n>', 'starts it gets to become healthy', positive, DEFAULT_MAX_STARTS)
    .action(
      run((f: TrialFlags) =>
        new SlotSet({
          root: f.root,
          healthTimeoutMs: f.healthTimeout * 1000,
          maxStarts: f.maxStarts,
        }).switch(),
      ),
    );
  withRoot(slots.command('commit').description('keep the version on trial (it is healthy)')).action(
    run((f: RootFlags) => ({ committed: new SlotSet({ root: f.root }).commit() })),
  );
  withRoot(
    slots.command('rollback').description('go back to the previous version; restart the service after'),
  )
    .argument('[reason]', 'recorded as the last failure', 'requested by an operator')
    .action(run((reason: string, f: RootFlags) => new SlotSet({ root: f.root }).rollback(reason)));
  withRoot(
    slots.command('prestart').description("the unit's ExecStartPre= step (as supervise.js prestart)"),
  ).action(run((f: RootFlags) => prestart(f.root)));
  withRoot(slots.command('check').description('the watchdog step (as supervise.js check)')).action(
    run((f: RootFlags) => check(f.root)),
  );
  return slots;
}
