import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { openRocksSpool, type SpoolEntry } from '../../relay/index.js';
import { payloadFor, samplesFor } from './spool-crash-records.js';

const CHILD = fileURLToPath(new URL('./spool-crash-child.ts', import.meta.url));
/** Kills per run; raise (SPOOL_CRASH_ROUNDS=100) for a soak test. */
const ROUNDS = Number(process.env.SPOOL_CRASH_ROUNDS ?? 6);
/** Kills of a child whose spool runs in a worker thread (it starts slower: fewer rounds). */
const WORKER_ROUNDS = Number(process.env.SPOOL_CRASH_ROUNDS ?? 2);

interface RoundResult {
  opened: number | undefined;
  appends: Array<[number, string]>;
  releases: Array<[number, number]>;
  /** Releases started: their records may be gone even if the release was not reported done. */
  started: Array<[number, number]>;
}

/** Run the child on `dir`, SIGKILL it `killAfterMs` after it opened the spool, and collect its complete lines. */
function runAndKill(dir: string, killAfterMs: number, worker: boolean): Promise<RoundResult> {
  return new Promise((resolve, reject) => {
    const args = ['--import', 'tsx', CHILD, dir, ...(worker ? ['worker'] : [])];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const result: RoundResult = { opened: undefined, appends: [], releases: [], started: [] };
    let buf = '';
    let stderr = '';
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child never opened the spool; stderr: ${stderr}`));
    }, 30_000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    child.stdout.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const [kind, a, b] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        if (kind === 'O') {
          result.opened = Number(a);
          clearTimeout(deadline);
          setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        } else if (kind === 'A') {
          result.appends.push([Number(a), b!]);
        } else if (kind === 'R') {
          result.releases.push([Number(a), Number(b)]);
        } else if (kind === 'r') {
          result.started.push([Number(a), Number(b)]);
        }
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(deadline);
      // A partial last line (cut by the kill) is ignored: it was not fully reported.
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code}; stderr: ${stderr}`));
      else resolve(result);
    });
  });
}

async function readAll(dir: string) {
  const spool = await openRocksSpool({ dir, maxBytes: 64 << 20, segmentBytes: 64 << 10 });
  try {
    const entries: SpoolEntry[] = [];
    for (let from = 0; ;) {
      const batch = await spool.read(from, { maxRecords: 2000 });
      if (batch.length === 0) break;
      entries.push(...batch);
      from = batch[batch.length - 1]!.seq + 1;
    }
    return { entries, stats: spool.stats() };
  } finally {
    await spool.close();
  }
}

async function killRounds(t: ExecutionContext, rounds: number, worker: boolean): Promise<void> {
  const minAcks = 17 * rounds;
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'owl-spool-crash-'));
  const dir = path.join(root, 'spool');
  const acked = new Map<number, string>(); // seq -> id, acknowledged and not released
  const released = new Set<number>();
  const maybeReleased = new Set<number>();
  let maxAcked = 0;
  let totalAcks = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      const killAfter = 100 + Math.floor(Math.random() * 900);
      const r = await runAndKill(dir, killAfter, worker);
      t.true(
        r.opened !== undefined && r.opened > maxAcked,
        `round ${round}: next seq ${r.opened} > ${maxAcked}`,
      );
      for (const [seq, id] of r.appends) {
        t.false(acked.has(seq) || released.has(seq), `seq ${seq} handed out twice`);
        acked.set(seq, id);
        maxAcked = Math.max(maxAcked, seq);
      }
      totalAcks += r.appends.length;
      for (const [a, b] of r.releases) {
        for (let s = a; s <= b; s++) {
          acked.delete(s);
          released.add(s);
        }
      }
      // A release cut short by the kill may or may not have happened.
      for (const [a, b] of r.started) for (let s = a; s <= b; s++) maybeReleased.add(s);
      const { entries, stats } = await readAll(dir);
      const bySeq = new Map(entries.map((e) => [e.seq, e]));
      let missing = 0;
      const missingSeqs: number[] = [];
      for (const [seq, id] of acked) {
        const e = bySeq.get(seq);
        if (!e) {
          if (!maybeReleased.has(seq)) {
            missing++;
            if (missingSeqs.length < 20) missingSeqs.push(seq);
          }
          continue;
        }
        if (!e.payload.equals(payloadFor(id)) || e.samples !== samplesFor(id)) {
          t.fail(`seq ${seq} damaged`);
        }
      }
      if (missing > 0) {
        // Seen once in CI under a heavy load, never reproduced since: say all that may tell why.
        t.log(
          `missing seqs ${missingSeqs.join(',')}; this round opened at ${r.opened}, acked ${r.appends.length}, ` +
            `released ${r.releases.length} ranges (${r.started.length} started); entries ${entries[0]?.seq}..` +
            `${entries[entries.length - 1]?.seq} (${entries.length}); stats ${JSON.stringify(stats)}; ` +
            `dir ${JSON.stringify(fs.readdirSync(root, { recursive: true }))}`,
        );
      }
      t.is(missing, 0, `round ${round}: acknowledged records missing after kill -9 at ${killAfter} ms`);
      t.false(
        entries.some((e) => released.has(e.seq)),
        'a released range came back',
      );
      // The counters were written in the same batches as the data.
      t.is(stats.records, entries.length);
      t.is(
        stats.samples,
        entries.reduce((a, e) => a + e.samples, 0),
      );
      t.true(stats.nextSeq > (entries[entries.length - 1]?.seq ?? 0));
      t.true(stats.appendedRecords >= totalAcks);
      t.is(stats.droppedRecords, 0);
      for (let i = 1; i < entries.length; i++) t.true(entries[i]!.seq > entries[i - 1]!.seq);
    }
    t.log(`${totalAcks} acknowledged appends over ${rounds} kills; ${released.size} released`);
    t.true(totalAcks > minAcks, 'the child got work done between kills');
    t.deepEqual(
      fs.readdirSync(root).filter((n) => n.includes('damaged')),
      [],
      'a kill never leaves damage behind',
    );
  } finally {
    await fs.promises.rm(root, { recursive: true, force: true });
  }
}

test('kill -9 at random moments loses no acknowledged record and never reuses a seq', (t) =>
  killRounds(t, ROUNDS, false));

test('kill -9 of a process whose spool runs in a worker thread loses no acknowledged record', (t) =>
  killRounds(t, WORKER_ROUNDS, true));
