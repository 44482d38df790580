/**
 * A child process running slot operations, so that a test can SIGKILL it at a named step:
 *   node --import tsx test/firmware/slots-child.ts '<json>'
 * json: { root, crashAt?: "<step>[:<state>][#<n>]", now?: ms, ops: [{op, ...}] }
 * ops: install {staged, version}, switch, commit, rollback {reason}, prestart {now?}.
 * At the n-th (default first) time the hook reaches `crashAt`, the process kills itself with
 * SIGKILL: no handler, no flush, as a power loss or the OOM killer would.
 */
import { prestart, SlotSet, type SlotStep } from '../../firmware/slots/index.js';

interface Op {
  op: 'install' | 'switch' | 'commit' | 'rollback' | 'prestart';
  staged?: string;
  version?: string;
  reason?: string;
  /** prestart: the clock it sees (ms), e.g. past the deadline. */
  now?: number;
}
interface Job {
  root: string;
  crashAt?: string;
  now?: number;
  ops: Op[];
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const [name, nth] = (job.crashAt ?? '').split('#');
let seen = 0;
const hook = (step: SlotStep, detail?: string): void => {
  const here = detail === undefined ? step : `${step}:${detail}`;
  if (here !== name) return;
  seen++;
  if (seen === Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
};
const now = job.now === undefined ? Date.now : () => job.now as number;
const slots = new SlotSet({ root: job.root, hook, now });
for (const op of job.ops) {
  if (op.op === 'install') slots.install(op.staged ?? '', op.version ?? '');
  else if (op.op === 'switch') slots.switch();
  else if (op.op === 'commit') slots.commit();
  else if (op.op === 'rollback') slots.rollback(op.reason ?? 'requested');
  else prestart(job.root, { hook, now: op.now === undefined ? now : () => op.now as number });
}
