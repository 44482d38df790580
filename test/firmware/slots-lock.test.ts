/**
 * The slots' lock (firmware/slots/slot-lock.ts) between real processes: two installs racing on
 * one root, a holder killed with SIGKILL, a lock from another boot or a reused pid, and what a
 * live holder means for each actor (updater, operator's CLI, supervisor).
 */
import test from 'ava';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  check,
  LOCK_FILE,
  prestart,
  readCurrent,
  readSlotLock,
  SlotError,
  SlotErrorCode,
  SlotSet,
  slotVersion,
  WATCHDOG_GRACE_MS,
} from '../../firmware/slots/index.js';
import { verifyAndInstall } from '../../agent/firmware/index.js';
import { runNode, supervise, SUPERVISE } from './slots-fixture.js';
import { bystander, committedRoot, holder, lockChild, spawnChild, writeLock } from './slots-lock-fixture.js';

const SLOTS_CLI = fileURLToPath(new URL('slots-cli.ts', import.meta.url));

/** Nothing of the lock is left: no `.lock`, no temp names. */
function noLockLeft(root: string): boolean {
  return readdirSync(root).every((name) => !name.startsWith(LOCK_FILE));
}

function busy(
  t: { throws: (fn: () => unknown, e: object) => unknown },
  fn: () => unknown,
  pid: number,
  op: string,
): void {
  t.throws(fn, {
    instanceOf: SlotError,
    code: SlotErrorCode.BUSY,
    message: new RegExp(`busy: ${op} by pid ${pid} since `),
  });
}

test('two processes race an install on one root: one installs, the other is BUSY naming it; the tree stays whole', async (t) => {
  const { root, dir, staged } = committedRoot(t);
  const goFile = join(dir, 'go');
  const job = { mode: 'install', root, staged, version: '2.0.0', goFile };
  const racers = [lockChild(job), lockChild(job)];
  t.teardown(() => Promise.all(racers.map((r) => r.kill())).then(() => undefined));

  // Each waits at install:recorded (lock held) until go exists: the other tries meanwhile.
  const first = await Promise.any(racers.map((r) => r.line('recorded ').then(() => r)));
  const other = racers.find((r) => r !== first)!;
  const lost = JSON.parse(await other.line('result ')) as { code: string; message: string };
  t.is(lost.code, SlotErrorCode.BUSY);
  t.regex(lost.message, new RegExp(`busy: install by pid ${first.pid} since `));
  t.like(readSlotLock(root), { holder: { pid: first.pid, op: 'install' }, stale: null });

  writeFileSync(goFile, '');
  t.deepEqual(JSON.parse(await first.line('result ')), { slot: 'b', version: '2.0.0' });
  t.deepEqual(await first.ended, { code: 0, signal: null });
  t.deepEqual(await other.ended, { code: 0, signal: null });

  // Whole: update.json valid and `installed`, current on a, b complete, no work names left.
  const st = new SlotSet({ root }).status();
  t.like(st, {
    state: 'installed',
    current: { slot: 'a', version: '1.0.0' },
    other: { slot: 'b', version: '2.0.0' },
  });
  t.deepEqual(
    readdirSync(root)
      .filter((n) => n.startsWith('.'))
      .sort(),
    [],
  );
  t.true(noLockLeft(root));
});

test('a holder killed with SIGKILL leaves a stale lock: the next actor takes it over and goes on', async (t) => {
  const { root, staged } = committedRoot(t);
  const h = await holder(root, 'install');
  t.teardown(h.kill);
  t.like(readSlotLock(root), { holder: { pid: h.pid, op: 'install' }, stale: null });
  await h.kill();
  t.like(readSlotLock(root), { holder: { pid: h.pid }, stale: `pid ${h.pid} is gone` });

  t.deepEqual(new SlotSet({ root }).install(staged, '2.0.0'), { slot: 'b', version: '2.0.0' });
  t.true(noLockLeft(root), 'released after the install');
});

test('a lock from another boot is taken over; the same lock from this boot is not', async (t) => {
  const { root, staged } = committedRoot(t);
  const live = bystander();
  t.teardown(live.kill);
  const slots = new SlotSet({ root });

  writeLock(root, { pid: live.pid });
  busy(t, () => slots.install(staged, '2.0.0'), live.pid, 'install');

  writeLock(root, { pid: live.pid, bootId: '0123456789abcdef0123456789abcdef' });
  t.is(readSlotLock(root)?.stale, 'taken in an earlier boot');
  t.deepEqual(slots.install(staged, '2.0.0'), { slot: 'b', version: '2.0.0' });
  t.true(noLockLeft(root));
});

test('a lock naming a pid that is another process now (other start time) is taken over', async (t) => {
  const { root, staged } = committedRoot(t);
  const live = bystander();
  t.teardown(live.kill);
  const slots = new SlotSet({ root });
  slots.install(staged, '2.0.0');

  writeLock(root, { pid: live.pid, start: 1, op: 'switch' });
  t.is(readSlotLock(root)?.stale, `pid ${live.pid} is another process now`);
  t.like(slots.switch(), { slot: 'b', version: '2.0.0' });
  t.is(readCurrent(root), 'b');
  t.true(noLockLeft(root));
});

test('a live holder: every change is BUSY naming it (API and CLI), reads still work, nothing is written', async (t) => {
  const { root, staged } = committedRoot(t);
  const h = await holder(root, 'rollback');
  t.teardown(h.kill);
  const slots = new SlotSet({ root });
  const before = JSON.stringify(slots.status());

  busy(t, () => slots.install(staged, '2.0.0'), h.pid, 'rollback');
  busy(t, () => slots.rollback('operator'), h.pid, 'rollback');
  t.is(slots.lockHolder()?.pid, h.pid);
  t.throws(() => slots.throwIfBusy(), { code: SlotErrorCode.BUSY });
  t.is(JSON.stringify(slots.status()), before, 'nothing changed');
  t.false(existsSync(join(root, 'b')));

  const cli = await runNode([
    '--import',
    'tsx',
    SLOTS_CLI,
    'slots',
    'install',
    staged,
    '2.0.0',
    '--root',
    root,
  ]);
  t.is(cli.code, 2);
  t.regex(
    cli.stderr,
    new RegExp(
      `^owl-firmware slots: .* is busy: rollback by pid ${h.pid} since .*\\[OWL_ERR_SLOTS_BUSY\\]\\n$`,
    ),
  );
  const status = await runNode(['--import', 'tsx', SLOTS_CLI, 'slots', 'status', '--root', root]);
  t.is(status.code, 0);
  t.like(JSON.parse(status.stdout), {
    state: 'committed',
    lock: { holder: { pid: h.pid, op: 'rollback' }, stale: null },
  });

  // Released: the same change goes through.
  await h.kill();
  t.like(slots.install(staged, '2.0.0'), { slot: 'b' });
});

test('the supervisor waits for a holder that finishes, and past its wait starts current as it is', async (t) => {
  const { root } = committedRoot(t);

  // A holder that ends while prestart waits: prestart then decides as usual.
  const brief = await holder(root, 'install');
  t.teardown(brief.kill);
  const pre = spawnChild(process.execPath, ['--import', 'tsx', SUPERVISE, 'prestart', root]);
  t.teardown(pre.kill);
  t.regex(await pre.line('owl-slots: waiting up to 5 s for '), new RegExp(`^install by pid ${brief.pid} `));
  await brief.kill();
  t.deepEqual(await pre.ended, { code: 0, signal: null }, pre.out());
  t.regex(pre.out(), /starting 1\.0\.0 from slot a \(start\)/);

  // A holder that stays: after the wait, current (complete) starts, nothing decided.
  const h = await holder(root, 'switch');
  t.teardown(h.kill);
  const r = prestart(root, { lockWaitMs: 200 });
  t.like(r, { action: 'busy', start: { slot: 'a', version: '1.0.0' }, repaired: [] });
  t.regex(r.busy ?? '', new RegExp(`switch by pid ${h.pid}`));
  const exe = await supervise('prestart', root);
  t.is(exe.code, 0);
  t.regex(exe.stdout, new RegExp(`busy: switch by pid ${h.pid}.*starting current as it is`));
  t.regex(exe.stdout, /starting 1\.0\.0 from slot a \(busy\)/);
});

test('check: a rollback due while the lock is busy is skipped, and done once it is free', async (t) => {
  const { root, staged } = committedRoot(t);
  const slots = new SlotSet({ root, healthTimeoutMs: 1_000 });
  slots.install(staged, '2.0.0');
  slots.switch();
  const late = () => Date.now() + 1_000 + WATCHDOG_GRACE_MS + 60_000;

  const h = await holder(root, 'install');
  t.teardown(h.kill);
  const skipped = check(root, { now: late, lockWaitMs: 100 });
  t.like(skipped, { rolledBack: false });
  t.regex(skipped.busy ?? '', new RegExp(`install by pid ${h.pid}`));
  t.is(slots.state().state, 'trial');

  await h.kill();
  t.like(check(root, { now: late, lockWaitMs: 100 }), { rolledBack: true, failure: { version: '2.0.0' } });
  t.is(readCurrent(root), 'a');
  t.is(slotVersion(root, 'a'), '1.0.0');
  t.true(noLockLeft(root));
});

test('the agent updater on a busy root: SlotError BUSY (retriable, no OWL_ERR_FIRMWARE_ refusal) before any verify', async (t) => {
  const { root, dir } = committedRoot(t);
  const h = await holder(root, 'dpkg preinst upgrade');
  t.teardown(h.kill);
  // Not a bundle at all: a verify would refuse it as CORRUPT; BUSY comes first.
  const file = join(dir, 'next.owlfw');
  writeFileSync(file, 'not a bundle');
  const fwDir = join(dir, 'firmware');
  const err = await t.throwsAsync(
    verifyAndInstall(file, { root, dir: fwDir, keys: [], arch: 'amd64', running: '1.0.0' }),
    { code: SlotErrorCode.BUSY, message: new RegExp(`dpkg preinst upgrade by pid ${h.pid}`) },
  );
  t.true((err as SlotError | undefined)?.retriable);
  t.false(existsSync(join(fwDir, 'staging')), 'nothing staged');
  t.true(existsSync(file), 'the bundle is kept for the next try');
});
