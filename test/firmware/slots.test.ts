/**
 * The A/B slots with real processes: programs started from `current` after the supervisor's
 * prestart (the real executable), as the unit would. One update history per test.
 */
import test from 'ava';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  check,
  EXIT_ROLLED_BACK,
  prestart,
  SlotError,
  SlotErrorCode,
  SlotFailureCode,
  SlotSet,
  WATCHDOG_GRACE_MS,
} from '../../firmware/slots/index.js';
import { tempDir } from '../helpers/relay-harness.js';
import { runNode, runService, stageProgram, SUPERVISE, supervise, treeHash } from './slots-fixture.js';

function setup(t: { teardown: (fn: () => void) => void }): { root: string; dir: string } {
  const tmp = tempDir('owl-slots-');
  t.teardown(tmp.remove);
  const root = join(tmp.path, 'relay');
  mkdirSync(root);
  return { root, dir: tmp.path };
}

test('v1, v2 healthy and committed; v3 exits at start: rolled back to v2 after its starts, reason kept', async (t) => {
  const { root, dir } = setup(t);
  const slots = new SlotSet({ root, maxStarts: 2 });

  // v1: the first install goes to slot a.
  t.deepEqual(slots.install(stageProgram(dir, '1.0.0', 'good'), '1.0.0'), { slot: 'a', version: '1.0.0' });
  slots.switch();
  const v1 = await runService(root, dir);
  t.teardown(v1.running.stop);
  t.like(v1.running.status, { version: '1.0.0', slot: 'a', healthy: true, data: 'data of 1.0.0' });
  t.true(slots.commit());
  t.like(slots.status(), { state: 'committed', current: { slot: 'a', version: '1.0.0' }, lastFailure: null });

  // v2 installed while v1 runs: into b; v1's tree untouched, v1 still running.
  const v1Tree = treeHash(join(root, 'a'));
  t.deepEqual(slots.install(stageProgram(dir, '2.0.0', 'good'), '2.0.0'), { slot: 'b', version: '2.0.0' });
  t.is(treeHash(join(root, 'a')), v1Tree);
  t.is(readlinkSync(join(root, 'current')), 'a');
  t.is(v1.running.proc.exitCode, null);
  t.like(slots.status(), { state: 'installed', other: { slot: 'b', version: '2.0.0' } });
  slots.switch();
  t.is(slots.status().state, 'trial');
  await v1.running.stop();
  const v2 = await runService(root, dir);
  t.teardown(v2.running.stop);
  t.like(v2.running.status, { version: '2.0.0', slot: 'b', healthy: true });
  t.regex(v2.prestarts[0] ?? '', /starting 2\.0\.0 from slot b \(trial\)/);
  t.true(slots.commit());
  t.like(slots.status(), {
    state: 'committed',
    current: { slot: 'b', version: '2.0.0' },
    other: { slot: 'a', version: '1.0.0' },
  });

  // v3 exits at once: started twice (maxStarts), then prestart goes back to v2.
  slots.install(stageProgram(dir, '3.0.0', 'bad'), '3.0.0');
  t.is(v2.running.proc.exitCode, null, 'v2 keeps running during the install');
  slots.switch();
  await v2.running.stop();
  const back = await runService(root, dir);
  t.teardown(back.running.stop);
  t.deepEqual(back.exits, ['3.0.0', '3.0.0']);
  t.like(back.running.status, { version: '2.0.0', slot: 'b', healthy: true });
  t.regex(back.prestarts[2] ?? '', /rolled back 3\.0\.0: exited at start/);
  const st = slots.status();
  t.like(st, { state: 'rolled-back', current: { slot: 'b', version: '2.0.0' }, pending: null });
  t.like(st.lastFailure, {
    code: SlotFailureCode.EXITED_AT_START,
    version: '3.0.0',
    previousVersion: '2.0.0',
    starts: 2,
  });
  t.regex(st.lastFailure?.reason ?? '', /exited at start/);
  // Running v2 after a rollback: nothing to commit.
  t.false(slots.commit());
});

test('a version that runs but never reports healthy is rolled back at the deadline (watchdog and prestart)', async (t) => {
  const { root, dir } = setup(t);
  // Near the real time: the real prestart before the start must see the deadline ahead.
  const base = Date.now();
  let now = base;
  const clock = (): number => now;
  const slots = new SlotSet({ root, healthTimeoutMs: 60_000, now: clock });
  slots.install(stageProgram(dir, '1.0.0', 'good'), '1.0.0');
  slots.switch();
  t.true(slots.commit());

  slots.install(stageProgram(dir, '2.0.0', 'silent'), '2.0.0');
  slots.switch();
  const deadline = slots.state().pending?.deadline ?? 0;
  t.is(deadline, base + 60_000);
  const silent = await runService(root, dir);
  t.teardown(silent.running.stop);
  t.like(silent.running.status, { version: '2.0.0', healthy: false });

  // Up to the deadline and its grace the watchdog leaves it alone; after, it rolls back. From
  // the deadline on, the program's commit is refused.
  now = deadline - 1;
  t.deepEqual(check(root, { now: clock }), { rolledBack: false });
  now = deadline;
  t.throws(() => slots.commit(), { instanceOf: SlotError, code: SlotErrorCode.DEADLINE_PASSED });
  now = deadline + WATCHDOG_GRACE_MS - 1;
  t.deepEqual(check(root, { now: clock }), { rolledBack: false });
  t.is(slots.status().state, 'trial');
  now = deadline + WATCHDOG_GRACE_MS;
  const r = check(root, { now: clock });
  t.true(r.rolledBack);
  t.like(r.failure, { code: SlotFailureCode.HEALTH_TIMEOUT, version: '2.0.0', previousVersion: '1.0.0' });
  t.is(readlinkSync(join(root, 'current')), 'a');
  // The watchdog's caller restarts the service: v1 again.
  await silent.running.stop();
  const back = await runService(root, dir);
  t.teardown(back.running.stop);
  t.like(back.running.status, { version: '1.0.0', slot: 'a', healthy: true });
  t.like(slots.status().lastFailure, { code: SlotFailureCode.HEALTH_TIMEOUT, version: '2.0.0' });

  // The same from prestart: the unit restarted after the deadline (say, the box rebooted).
  slots.install(stageProgram(dir, '3.0.0', 'silent'), '3.0.0');
  slots.switch();
  now += 60_000;
  const pre = prestart(root, { now: clock });
  t.like(pre, { action: 'rolled-back', start: { slot: 'a', version: '1.0.0' } });
  t.like(pre.failure, { code: SlotFailureCode.HEALTH_TIMEOUT, version: '3.0.0' });
  t.regex(pre.failure?.reason ?? '', /^health timeout/);
});

test('supervise check, the executable: exit 3 after rolling back a trial past its deadline', async (t) => {
  const { root, dir } = setup(t);
  const slots = new SlotSet({ root });
  slots.install(stageProgram(dir, '1.0.0', 'good'), '1.0.0');
  slots.switch();
  t.true(slots.commit());
  const ok = await supervise('check', root);
  t.is(ok.code, 0, 'nothing pending: nothing to do');
  t.is((await supervise('pending', root)).code, 1, 'no trial: OnFailure= must not restart');
  // A deadline already past by the grace: the switch's clock is behind (no waiting needed).
  const hasty = new SlotSet({ root, healthTimeoutMs: 1, now: () => Date.now() - WATCHDOG_GRACE_MS });
  hasty.install(stageProgram(dir, '2.0.0', 'silent'), '2.0.0');
  hasty.switch();
  t.is((await supervise('pending', root)).code, 0, 'a trial: OnFailure= restarts');
  const r = await supervise('check', root);
  t.is(r.code, EXIT_ROLLED_BACK, r.stderr);
  t.regex(r.stdout, /rolled back 2\.0\.0: health timeout/);
  t.is(readlinkSync(join(root, 'current')), 'a');
  t.is((await supervise('check', root)).code, 0);
  // prestart with no slot at all: exit 1, and it says why.
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  const none = await supervise('prestart', empty);
  t.is(none.code, 1);
  t.regex(none.stderr, /no slot holds a complete version/);
});

test('refusals: install during a trial, switch with nothing installed, bad versions and trees', async (t) => {
  const { root, dir } = setup(t);
  const slots = new SlotSet({ root });
  const code = (c: string) => ({ instanceOf: SlotError, code: c });
  t.throws(() => slots.switch(), code(SlotErrorCode.WRONG_STATE));
  t.throws(() => slots.install(stageProgram(dir, '1.0.0', 'good'), '../x'), code(SlotErrorCode.BAD_ARGUMENT));
  t.throws(() => slots.install(join(dir, 'missing'), '1.0.0'), code(SlotErrorCode.BAD_TREE));
  t.throws(() => slots.rollback('no'), code(SlotErrorCode.WRONG_STATE));
  t.false(slots.commit());
  slots.install(stageProgram(dir, '1.0.0', 'good'), '1.0.0');
  slots.switch();
  // The first version has nothing to roll back to: no deadline, no start limit, no rollback.
  t.like(slots.state().pending, { fromSlot: null, deadline: null });
  t.throws(() => slots.rollback('no'), code(SlotErrorCode.NO_PREVIOUS));
  for (let i = 1; i <= 3; i++)
    t.like(prestart(root, { now: () => Date.now() + 86_400_000 }), { action: 'trial' });
  t.true(slots.commit());
  slots.install(stageProgram(dir, '2.0.0', 'good'), '2.0.0');
  slots.switch();
  // During the trial the inactive slot is the way back: never overwritten.
  const v1Tree = treeHash(join(root, 'a'));
  t.throws(() => slots.install(stageProgram(dir, '3.0.0', 'good'), '3.0.0'), code(SlotErrorCode.PENDING));
  t.is(treeHash(join(root, 'a')), v1Tree);
  t.false(existsSync(join(root, '.incoming-a')));
  const f = slots.rollback('operator said so');
  t.like(f, { code: SlotFailureCode.REQUESTED, reason: 'operator said so', version: '2.0.0' });
  t.is(readlinkSync(join(root, 'current')), 'a');
});

test('owl-firmware slots: install, switch, commit, status as JSON; a refusal is one line with its code, exit 2', async (t) => {
  const { root, dir } = setup(t);
  const cli = fileURLToPath(new URL('slots-cli.ts', import.meta.url));
  const slots = (...args: string[]) => runNode(['--import', 'tsx', cli, 'slots', ...args, '--root', root]);
  const staged = stageProgram(dir, '1.0.0', 'good');
  t.deepEqual(JSON.parse((await slots('install', staged, '1.0.0')).stdout), { slot: 'a', version: '1.0.0' });
  const sw = await slots('switch', '--health-timeout', '30', '--max-starts', '3');
  t.is(sw.code, 0, sw.stderr);
  t.like(new SlotSet({ root }).state().pending, { maxStarts: 3, starts: 0 });
  t.deepEqual(JSON.parse((await slots('commit')).stdout), { committed: true });
  t.like(JSON.parse((await slots('status')).stdout), {
    state: 'committed',
    current: { slot: 'a', version: '1.0.0' },
  });
  const refused = await slots('rollback', 'why not');
  t.is(refused.code, 2);
  t.is(refused.stdout, '');
  t.regex(
    refused.stderr,
    /^owl-firmware slots: rollback: no update to roll back \(state committed\) \[OWL_ERR_SLOTS_WRONG_STATE\]\n$/,
  );
});

test('the supervisor needs nothing but its own files: a copy of them alone runs prestart', async (t) => {
  const { root, dir } = setup(t);
  // Its import closure: node: modules and files of firmware/slots only.
  const copy = join(dir, 'supervisor');
  mkdirSync(copy);
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    copyFileSync(join(dirname(SUPERVISE), file), join(copy, file));
    for (const [, spec] of readFileSync(join(dirname(SUPERVISE), file), 'utf8').matchAll(/from '([^']+)'/g)) {
      if (spec?.startsWith('node:')) continue;
      t.regex(spec ?? '', /^\.\/[\w-]+\.js$/, `${file} imports ${spec}`);
      visit((spec ?? '').slice(2).replace(/\.js$/, '.ts'));
    }
  };
  visit('supervise.ts');
  t.false(seen.has('cli-commands.ts'));
  t.false(seen.has('index.ts'));
  const slots = new SlotSet({ root });
  slots.install(stageProgram(dir, '1.0.0', 'good'), '1.0.0');
  slots.switch();
  const r = await runNode(['--import', 'tsx', join(copy, 'supervise.ts'), 'prestart', root]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /starting 1\.0\.0 from slot a \(trial\)/);
  t.is(slots.state().pending?.starts, 1);
});

test('prestart puts right what this code never writes: an unreadable update.json, a link to nothing', async (t) => {
  const { root, dir } = setup(t);
  const slots = new SlotSet({ root });
  slots.install(stageProgram(dir, '1.0.0', 'good'), '1.0.0');
  slots.switch();
  t.true(slots.commit());
  writeFileSync(join(root, 'update.json'), '{"state": "trial", "pen');
  rmSync(join(root, 'current'));
  symlinkSync('b', join(root, 'current'));
  const r = prestart(root, { now: () => 42 });
  t.like(r, { action: 'start', start: { slot: 'a', version: '1.0.0' } });
  t.deepEqual(r.repaired, ['unreadable update.json moved to update.json.bad-42', 'current pointed at a']);
  t.is(readlinkSync(join(root, 'current')), 'a');
  t.is(slots.status().state, 'committed');
  t.true(existsSync(join(root, 'update.json.bad-42')));
});
