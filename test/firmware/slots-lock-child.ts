/**
 * A child process that takes the slots' lock, so that a test can race it or SIGKILL it:
 *   node --import tsx test/firmware/slots-lock-child.ts '<json>'
 * json: { mode: 'hold', root, op? }: takes the lock, prints `held <pid>`, and keeps it until killed.
 *       { mode: 'install', root, staged, version, goFile? }: SlotSet.install; with goFile, it
 *       prints `recorded <pid>` at install:recorded (the lock held) and waits there until the
 *       file exists. Prints `result <json>`: {slot, version} or {code, message}.
 */
import { existsSync } from 'node:fs';
import { acquireSlotLock, SlotError, SlotSet, type SlotStep } from '../../firmware/slots/index.js';

interface Job {
  mode: 'hold' | 'install';
  root: string;
  op?: string;
  staged?: string;
  version?: string;
  goFile?: string;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const say = (line: string): boolean => process.stdout.write(`${line}\n`);

function waitFor(file: string): void {
  const deadline = Date.now() + 30_000;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${file} never appeared`);
    Atomics.wait(cell, 0, 0, 20);
  }
}

if (job.mode === 'hold') {
  acquireSlotLock(job.root, job.op ?? 'hold');
  say(`held ${process.pid}`);
  setInterval(() => {}, 1 << 30);
} else {
  const goFile = job.goFile;
  const hook = (step: SlotStep): void => {
    if (step !== 'install:recorded' || goFile === undefined) return;
    say(`recorded ${process.pid}`);
    waitFor(goFile);
  };
  try {
    say(
      `result ${JSON.stringify(new SlotSet({ root: job.root, hook }).install(job.staged ?? '', job.version ?? ''))}`,
    );
  } catch (err) {
    if (!(err instanceof SlotError)) throw err;
    say(`result ${JSON.stringify({ code: err.code, message: err.message })}`);
  }
}
