/**
 * Child process for spool-crash.test.ts: appends (and releases) in a loop and
 * prints every completed operation on stdout until it is killed. Stdout to a
 * pipe is synchronous on Linux, so a printed line was written before the kill.
 *
 *   O <nextSeq>              spool opened
 *   A <seq> <id>             append of record <id> resolved with <seq>
 *   r <first> <last>         release of [first, last] started (it may or may not happen)
 *   R <first> <last>         release of [first, last] resolved
 *
 * With `worker` after the directory, the spool is a WorkerSpool: the same
 * RocksSpool in a worker thread, acknowledged back across the threads.
 */
// Straight to the spool's own surface, not ../../relay/index.js: loading the whole relay
// doubles this child's start-up time, paid on every kill round.
import { openRocksSpool, WorkerSpool, type Spool } from '../../relay/spool/index.js';
import { payloadFor, samplesFor } from './spool-crash-records.js';

const [dir, mode] = process.argv.slice(2);
if (!dir || (mode !== undefined && mode !== 'worker'))
  throw new Error('usage: spool-crash-child <dir> [worker]');

// Small segments so that kills also land while segments roll and are deleted.
const options = { dir, maxBytes: 64 << 20, segmentBytes: 64 << 10 };
const spool: Spool = mode === 'worker' ? await WorkerSpool.open(options) : await openRocksSpool(options);
const start = spool.nextSeq();
process.stdout.write(`O ${start}\n`);

const acked = new Set<number>();
let contiguous = start - 1; // every seq in [start, contiguous] is acknowledged
let n = 0;

async function appender(): Promise<never> {
  for (;;) {
    const id = `${process.pid}-${n++}`;
    const r = await spool.append([{ payload: payloadFor(id), samples: samplesFor(id) }]);
    process.stdout.write(`A ${r.first} ${id}\n`);
    acked.add(r.first);
    while (acked.has(contiguous + 1)) acked.delete(++contiguous);
  }
}

async function releaser(): Promise<never> {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 3));
    if (contiguous < start) continue;
    // Random ranges of acknowledged records, in no particular order.
    const a = start + Math.floor(Math.random() * (contiguous - start + 1));
    const b = Math.min(contiguous, a + Math.floor(Math.random() * 40));
    process.stdout.write(`r ${a} ${b}\n`);
    await spool.release(a, b);
    process.stdout.write(`R ${a} ${b}\n`);
  }
}

await Promise.all([...Array.from({ length: 16 }, appender), releaser()]);
