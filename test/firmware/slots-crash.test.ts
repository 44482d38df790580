/**
 * kill -9 at every named step of an update (steps.ts): a child process runs the slot operations
 * and SIGKILLs itself at the step; then the unit's start (the real prestart executable, then the
 * program from `current`) must run a working version, the expected one, from the slot `current`
 * names. Before the restart the state file must be readable and `current` must name a complete
 * slot; after it, a further update must go through.
 */
import test from 'ava';
import { mkdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { prestart, readCurrent, SLOT_STEPS, SlotSet, slotVersion } from '../../firmware/slots/index.js';
import { tempDir } from '../helpers/relay-harness.js';
import { runNode, runService, SLOTS_CHILD, stageProgram } from './slots-fixture.js';
import { installCommitted } from '../helpers/firmware-kit.js';

type Ops = 'update' | 'update+commit' | 'update+rollback' | 'update+late-prestart';

interface Case {
  crashAt: string;
  ops: Ops;
  /** The version that must run after the restart. */
  runs: '1.0.0' | '2.0.0';
}

const CASES: Case[] = [
  { crashAt: 'state:temp-written:installing', ops: 'update', runs: '1.0.0' },
  { crashAt: 'install:recorded', ops: 'update', runs: '1.0.0' },
  { crashAt: 'install:cleared', ops: 'update', runs: '1.0.0' },
  { crashAt: 'install:copying', ops: 'update', runs: '1.0.0' },
  { crashAt: 'install:copied', ops: 'update', runs: '1.0.0' },
  { crashAt: 'install:placed', ops: 'update', runs: '1.0.0' },
  { crashAt: 'state:temp-written:installed', ops: 'update', runs: '1.0.0' },
  { crashAt: 'install:done', ops: 'update', runs: '1.0.0' },
  { crashAt: 'state:temp-written:switching', ops: 'update', runs: '1.0.0' },
  // From here the switch is recorded: prestart finishes it and the new version is tried.
  { crashAt: 'switch:recorded', ops: 'update', runs: '2.0.0' },
  { crashAt: 'switch:linked', ops: 'update', runs: '2.0.0' },
  { crashAt: 'switch:flipped', ops: 'update', runs: '2.0.0' },
  { crashAt: 'state:temp-written:trial', ops: 'update', runs: '2.0.0' },
  { crashAt: 'switch:done', ops: 'update', runs: '2.0.0' },
  // The first start counted, then the commit.
  { crashAt: 'state:temp-written:trial#2', ops: 'update+commit', runs: '2.0.0' },
  { crashAt: 'prestart:counted', ops: 'update+commit', runs: '2.0.0' },
  { crashAt: 'state:temp-written:committed', ops: 'update+commit', runs: '2.0.0' },
  { crashAt: 'commit:done', ops: 'update+commit', runs: '2.0.0' },
  // A rollback asked for, then one decided by prestart past the deadline.
  { crashAt: 'state:temp-written:rolling-back', ops: 'update+rollback', runs: '2.0.0' },
  { crashAt: 'rollback:recorded', ops: 'update+rollback', runs: '1.0.0' },
  { crashAt: 'rollback:linked', ops: 'update+rollback', runs: '1.0.0' },
  { crashAt: 'rollback:flipped', ops: 'update+rollback', runs: '1.0.0' },
  { crashAt: 'state:temp-written:rolled-back', ops: 'update+rollback', runs: '1.0.0' },
  { crashAt: 'rollback:done', ops: 'update+rollback', runs: '1.0.0' },
  { crashAt: 'rollback:recorded', ops: 'update+late-prestart', runs: '1.0.0' },
  { crashAt: 'rollback:linked', ops: 'update+late-prestart', runs: '1.0.0' },
  { crashAt: 'rollback:flipped', ops: 'update+late-prestart', runs: '1.0.0' },
];

function opsOf(ops: Ops, staged: string): object[] {
  const update = [{ op: 'install', staged, version: '2.0.0' }, { op: 'switch' }];
  if (ops === 'update') return update;
  if (ops === 'update+commit') return [...update, { op: 'prestart' }, { op: 'commit' }];
  if (ops === 'update+rollback') return [...update, { op: 'rollback', reason: 'operator' }];
  return [...update, { op: 'prestart', now: Date.now() + 24 * 3600_000 }];
}

test('every named step has a crash case', (t) => {
  const covered = new Set(CASES.map((c) => c.crashAt.split(':').slice(0, 2).join(':').split('#')[0]));
  for (const step of SLOT_STEPS) t.true(covered.has(step), `no crash case at ${step}`);
});

for (const c of CASES) {
  test(`kill -9 at ${c.crashAt} (${c.ops}): ${c.runs} starts`, async (t) => {
    const tmp = tempDir('owl-slots-crash-');
    t.teardown(tmp.remove);
    const root = join(tmp.path, 'relay');
    mkdirSync(root);
    const slots = installCommitted(root, stageProgram(tmp.path, '1.0.0', 'good'), '1.0.0');

    const job = { root, crashAt: c.crashAt, ops: opsOf(c.ops, stageProgram(tmp.path, '2.0.0', 'good')) };
    const child = await runNode(['--import', 'tsx', SLOTS_CHILD, JSON.stringify(job)]);
    t.is(child.signal, 'SIGKILL', `the child did not reach ${c.crashAt}: ${child.stderr}`);

    // As the crash left it: a readable state, a link to a complete slot.
    t.notThrows(() => slots.state());
    const cur = readCurrent(root);
    t.not(cur, null, 'current dangles');
    t.not(slotVersion(root, cur ?? 'a'), null, 'current names an incomplete slot');

    const svc = await runService(root, tmp.path);
    t.teardown(svc.running.stop);
    t.deepEqual(svc.exits, []);
    t.like(svc.running.status, { version: c.runs, healthy: true, data: `data of ${c.runs}` });
    t.is(svc.running.status.slot, readlinkSync(join(root, 'current')), 'runs from the slot current names');
    const st = slots.status();
    t.is(st.current?.version, c.runs);
    if (c.runs === '2.0.0') t.true(['trial', 'committed'].includes(st.state), st.state);

    // The program reports healthy (commit if on trial); then the next update goes through.
    await svc.running.stop();
    if (st.state === 'trial') t.true(slots.commit());
    const next = slots.install(stageProgram(tmp.path, '3.0.0', 'good'), '3.0.0');
    t.not(next.slot, st.current?.slot);
    slots.switch();
    t.like(prestart(root), { action: 'trial', start: { version: '3.0.0', slot: next.slot } });
  });
}

test('kill -9 of the new version during its first start: restarted, then rolled back after its starts', async (t) => {
  const tmp = tempDir('owl-slots-crash-');
  t.teardown(tmp.remove);
  const root = join(tmp.path, 'relay');
  mkdirSync(root);
  const slots = new SlotSet({ root, maxStarts: 2 });
  slots.install(stageProgram(tmp.path, '1.0.0', 'good'), '1.0.0');
  slots.switch();
  slots.commit();
  slots.install(stageProgram(tmp.path, '2.0.0', 'good'), '2.0.0');
  slots.switch();

  // Two starts, each killed before it could commit: the third start is the old version.
  for (let i = 1; i <= 2; i++) {
    const svc = await runService(root, tmp.path, 1);
    t.like(svc.running.status, { version: '2.0.0' });
    t.is(slots.state().pending?.starts, i);
    svc.running.proc.kill('SIGKILL');
    await svc.running.stop();
  }
  const back = await runService(root, tmp.path, 1);
  t.teardown(back.running.stop);
  t.like(back.running.status, { version: '1.0.0', slot: 'a', healthy: true });
  t.like(slots.status(), { state: 'rolled-back', lastFailure: { version: '2.0.0', starts: 2 } });
});
