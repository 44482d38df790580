/**
 * The maintainer scripts' side of the slots' lock (packaging/debian/slot-lock.sh, in dash) against
 * the program's (slot-lock.ts), with real processes: the same file and rules both ways, and the
 * packaged preinst (as maint-script.sh makes it) refusing to move a slot while an actor works.
 * The holder of a shell lock is dpkg in a package; here a live bystander process stands in for it.
 */
import test from 'ava';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  currentBootId,
  LOCK_FILE,
  processStart,
  readSlotLock,
  SlotErrorCode,
  SlotSet,
} from '../../firmware/slots/index.js';
import { bystander, committedRoot, holder, spawnChild, writeLock, type Child } from './slots-lock-fixture.js';

const DEBIAN = fileURLToPath(new URL('../../packaging/debian/', import.meta.url));
const SLOT_LOCK_SH = join(DEBIAN, 'slot-lock.sh');

/** Runs `script` in dash with slot-lock.sh loaded and SLOT_LOCK_HOLDER set to `holderPid`. */
function shell(script: string, holderPid: number): Child {
  return spawnChild('dash', ['-c', `. '${SLOT_LOCK_SH}'; ${script}`], {
    ...process.env,
    SLOT_LOCK_HOLDER: String(holderPid),
  });
}

async function done(c: Child): Promise<number | null> {
  return (await c.ended).code;
}

test('a lock taken in shell: JSON as slot-lock.ts writes it, BUSY for the program while its holder lives', async (t) => {
  const { root, staged } = committedRoot(t);
  const dpkg = bystander();
  t.teardown(dpkg.kill);
  t.is(await done(shell(`slot_lock '${root}' 'dpkg preinst upgrade' 0`, dpkg.pid)), 0);
  t.deepEqual(readSlotLock(root)?.stale, null);
  t.like(readSlotLock(root)?.holder, {
    bootId: currentBootId(),
    pid: dpkg.pid,
    start: processStart(dpkg.pid),
    op: 'dpkg preinst upgrade',
  });
  const slots = new SlotSet({ root });
  t.throws(() => slots.install(staged, '2.0.0'), {
    code: SlotErrorCode.BUSY,
    message: new RegExp(`busy: dpkg preinst upgrade by pid ${dpkg.pid} `),
  });

  // The same holder finds it its own (postinst after preinst in one dpkg), then releases it.
  t.is(
    await done(shell(`slot_lock '${root}' 'dpkg postinst configure' 0 && slot_unlock '${root}'`, dpkg.pid)),
    0,
  );
  t.false(existsSync(join(root, LOCK_FILE)));

  // Held again, then dpkg ends: stale for the program, which takes it over.
  t.is(await done(shell(`slot_lock '${root}' 'dpkg preinst upgrade' 0`, dpkg.pid)), 0);
  await dpkg.kill();
  t.like(slots.install(staged, '2.0.0'), { slot: 'b', version: '2.0.0' });
  t.deepEqual(
    readdirSync(root).filter((n) => n.startsWith(LOCK_FILE)),
    [],
  );
});

test('the shell against the program: BUSY naming a live holder, a wait that ends with it, takeover of a dead one or another boot', async (t) => {
  const { root } = committedRoot(t);
  const dpkg = bystander();
  t.teardown(dpkg.kill);

  const h = await holder(root, 'install');
  t.teardown(h.kill);
  const refused = shell(`slot_lock '${root}' 'dpkg preinst upgrade' 0`, dpkg.pid);
  t.is(await done(refused), 1);
  t.regex(refused.out(), new RegExp(`is busy: install by pid ${h.pid} .*\\[OWL_ERR_SLOTS_BUSY\\]`));
  t.is(await done(shell(`slot_unlock '${root}'`, dpkg.pid)), 0);
  t.is(readSlotLock(root)?.holder?.pid, h.pid, 'slot_unlock leaves a lock that is not its own');

  // A wait: the holder ends while the shell waits, and the shell gets it.
  const waiting = shell(`slot_lock '${root}' 'dpkg postinst configure' 30`, dpkg.pid);
  t.teardown(waiting.kill);
  t.regex(await waiting.line('owl-slots: waiting up to 30 s for '), new RegExp(`^install by pid ${h.pid} `));
  await h.kill();
  t.is(await done(waiting), 0, waiting.out());
  t.like(readSlotLock(root), { holder: { pid: dpkg.pid, op: 'dpkg postinst configure' }, stale: null });

  // A lock of a holder killed with SIGKILL, then one from another boot: both taken over.
  t.is(await done(shell(`slot_unlock '${root}'`, dpkg.pid)), 0);
  t.false(existsSync(join(root, LOCK_FILE)));
  const dead = await holder(root, 'commit');
  t.teardown(dead.kill);
  await dead.kill();
  t.is(await done(shell(`slot_lock '${root}' 'dpkg postrm remove' 0`, dpkg.pid)), 0);
  t.like(readSlotLock(root)?.holder, { pid: dpkg.pid, op: 'dpkg postrm remove' });

  const other = bystander();
  t.teardown(other.kill);
  writeLock(root, { pid: other.pid, bootId: 'ffffffffffffffffffffffffffffffff' });
  t.is(await done(shell(`slot_lock '${root}' 'dpkg preinst install' 0`, dpkg.pid)), 0);
  t.like(readSlotLock(root)?.holder, { pid: dpkg.pid, op: 'dpkg preinst install' });
  t.deepEqual(
    readdirSync(root)
      .filter((n) => n.startsWith(LOCK_FILE))
      .sort(),
    [LOCK_FILE],
  );
});

test('the packaged preinst: refuses (exit 1) while the updater installs; else moves slot a aside under the lock, which dpkg keeps', async (t) => {
  const { root, dir, staged } = committedRoot(t);
  const make = spawnChild(join(DEBIAN, 'maint-script.sh'), ['preinst', 'relay', 'yes']);
  t.is(await done(make), 0);
  const preinst = join(dir, 'preinst');
  writeFileSync(preinst, make.out().replace(/^ROOT=\/opt\/owl\/relay$/m, `ROOT='${root}'`));
  const dpkg = bystander();
  t.teardown(dpkg.kill);
  const run = (): Child =>
    spawnChild('dash', [preinst, 'upgrade', '0.9.0'], {
      ...process.env,
      SLOT_LOCK_HOLDER: String(dpkg.pid),
      OWL_SLOT_LOCK_WAIT: '1',
    });

  // Slot a holds 1.0.0, not the 0.9.0 being replaced: preinst would move it, but an install runs.
  const h = await holder(root, 'install');
  t.teardown(h.kill);
  const refused = run();
  t.is(await done(refused), 1, refused.out());
  t.regex(refused.out(), new RegExp(`waiting up to 1 s for install by pid ${h.pid} `));
  t.regex(refused.out(), new RegExp(`busy: install by pid ${h.pid} .*OWL_ERR_SLOTS_BUSY`));
  t.true(existsSync(join(root, 'a', '.owl-slot.json')), 'slot a untouched');
  await h.kill();

  const moved = run();
  t.is(await done(moved), 0, moved.out());
  t.false(existsSync(join(root, 'a')));
  t.true(existsSync(join(root, '.trash-a', '.owl-slot.json')));
  // Held by dpkg through the unpack: the updater waits.
  t.like(readSlotLock(root), { holder: { pid: dpkg.pid, op: 'dpkg preinst upgrade' }, stale: null });
  t.throws(() => new SlotSet({ root }).install(staged, '2.0.0'), { code: SlotErrorCode.BUSY });
});

test('every maintainer script of every package, as deb.sh makes it, parses in dash with nothing left to fill in', async (t) => {
  for (const [prog, slots] of [
    ['relay', 'yes'],
    ['agent', 'yes'],
    ['upstream', 'no'],
  ] as const) {
    for (const script of ['preinst', 'postinst', 'prerm', 'postrm']) {
      const made = spawnChild(join(DEBIAN, 'maint-script.sh'), [script, prog, slots]);
      t.is(await done(made), 0);
      const text = made.out();
      t.notRegex(text, /@(PROG|SLOTS|SLOT_LOCK)@/, `${prog} ${script}: a placeholder left`);
      if (script !== 'prerm') t.regex(text, /^slot_lock\(\) \{$/m, `${prog} ${script}: the lock functions`);
      const parse = spawnChild('dash', ['-n', '-c', text]);
      t.is(await done(parse), 0, `${prog} ${script}: ${parse.out()}`);
    }
  }
});
