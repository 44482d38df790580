/**
 * The relay's operator log lines, driven on a fake clock with a real pino
 * logger writing into an array: an upstream outage (outage-log.ts), a
 * backlog drain (drain-progress.ts) and agent connections (agent-log.ts).
 * Each line is asserted whole, as an operator would read it with jq.
 */
import test from 'ava';
import { pino } from 'pino';
import { AgentLog, DrainProgress, OutageLog, uplinkFailure, type SpooledFigures } from '../../relay/index.js';
import { FakeTimers } from '../helpers/fake-timers.js';

type Line = Record<string, unknown>;

/** A pino logger at debug whose lines land in `lines`, without pid/hostname/time. */
function capture(): { log: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const log = pino(
    { level: 'debug', base: undefined, timestamp: false },
    {
      write: (s: string) => {
        lines.push(JSON.parse(s) as Line);
      },
    },
  );
  return { log, lines };
}

const REFUSED = {
  url: 'ws://127.0.0.1:9/owl/v1/uplink',
  why: 'connect ECONNREFUSED 127.0.0.1:9',
  code: 'ECONNREFUSED',
};

function outageRig(): { outage: OutageLog; timers: FakeTimers; lines: Line[]; spool: SpooledFigures } {
  const { log, lines } = capture();
  const timers = new FakeTimers();
  const spool: SpooledFigures = { records: 10, bytes: 1000, ageMs: 0 };
  const outage = new OutageLog({ log, timers, summaryMs: 60_000, spooled: () => ({ ...spool }) });
  return { outage, timers, lines, spool };
}

test('an outage is one line when it starts, a summary a minute and one line when it ends, however many attempts fail', (t) => {
  const { outage, timers, lines, spool } = outageRig();
  outage.failed({ ...REFUSED, why: 'closed: GOING_AWAY', code: undefined, closeCode: 1001 }, true);
  t.true(outage.down);
  // 230 attempts in 150 s (far more than the 30 s backoff cap makes): none is logged.
  for (let i = 0; i < 230; i++) {
    timers.advance(650);
    spool.records += 100;
    spool.bytes += 10_000;
    spool.ageMs += 650;
    outage.failed(REFUSED, false);
  }
  timers.advance(500); // 150 s in all
  outage.connected({ url: REFUSED.url, backlog: 23_010 });
  t.false(outage.down);
  timers.advance(600_000);
  t.deepEqual(lines, [
    {
      level: 40,
      url: REFUSED.url,
      why: 'closed: GOING_AWAY',
      closeCode: 1001,
      wasConnected: true,
      spooledRecords: 10,
      spooledBytes: 1000,
      msg: 'uplink down: spooling until the upstream is back',
    },
    {
      level: 40,
      outageMs: 60_000,
      failedAttempts: 92,
      lastWhy: REFUSED.why,
      lastCode: 'ECONNREFUSED',
      spooledRecords: 9210,
      spooledBytes: 921_000,
      oldestAgeMs: 59_800,
      msg: 'uplink still down',
    },
    {
      level: 40,
      outageMs: 120_000,
      failedAttempts: 184,
      lastWhy: REFUSED.why,
      lastCode: 'ECONNREFUSED',
      spooledRecords: 18_410,
      spooledBytes: 1_841_000,
      oldestAgeMs: 119_600,
      msg: 'uplink still down',
    },
    {
      level: 30,
      url: REFUSED.url,
      backlog: 23_010,
      outageMs: 150_000,
      failedAttempts: 230,
      msg: 'uplink up again: outage over',
    },
  ]);
});

test('a relay whose first attempt fails is in an outage from then; a connect without one is a plain line', (t) => {
  const { outage, timers, lines } = outageRig();
  outage.connected({ url: 'a' });
  outage.failed(REFUSED, false);
  timers.advance(1500);
  outage.connected({ url: 'b' });
  outage.stop();
  t.deepEqual(
    lines.map((l) => [l['msg'], l['wasConnected'] ?? l['outageMs'], l['failedAttempts']]),
    [
      ['uplink connected', undefined, undefined],
      ['uplink down: spooling until the upstream is back', false, undefined],
      ['uplink up again: outage over', 1500, 1],
    ],
  );
});

test('stop ends the summaries of an outage in progress without an end line', (t) => {
  const { outage, timers, lines } = outageRig();
  outage.failed(REFUSED, false);
  outage.stop();
  timers.advance(600_000);
  t.is(lines.length, 1);
  t.is(timers.pending, 0);
});

test('why an outage started, as its line says it: a silent upstream, a refused upgrade, an error, a close', (t) => {
  const base = { url: 'u', closeCode: 1006, reason: '', wasConnected: true };
  t.deepEqual(uplinkFailure({ ...base, silentMs: 15_000 }), {
    url: 'u',
    why: 'heartbeat timeout: nothing heard from the upstream for 15000 ms',
    code: 'OWL_ERR_UPLINK_HEARTBEAT_TIMEOUT',
  });
  t.deepEqual(
    uplinkFailure({
      ...base,
      err: new Error('Unexpected server response: 401'),
      refusal: { status: 401, closeCode: 4401, closeName: 'UNAUTHENTICATED' },
    }),
    {
      url: 'u',
      why: 'refused: HTTP 401 (UNAUTHENTICATED)',
      status: 401,
      closeCode: 4401,
      closeName: 'UNAUTHENTICATED',
    },
  );
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
  t.deepEqual(uplinkFailure({ ...base, err: refused }), {
    url: 'u',
    why: refused.message,
    code: 'ECONNREFUSED',
  });
  t.deepEqual(uplinkFailure({ ...base, closeCode: 1001, reason: 'upstream stopping' }), {
    url: 'u',
    why: 'closed: GOING_AWAY (upstream stopping)',
    closeCode: 1001,
    closeName: 'GOING_AWAY',
  });
  t.is(uplinkFailure(base).why, 'connection lost without a close frame');
});

test('a backlog drain logs progress with rate and time left, then one line when drained', (t) => {
  const { log, lines } = capture();
  const timers = new FakeTimers();
  const drain = new DrainProgress({ log, timers, progressMs: 10_000 });
  drain.start(3000, 3_000_000);
  timers.advance(10_000); // nothing acknowledged yet: no estimate
  for (let i = 0; i < 10; i++) {
    drain.acked(100, 100_000);
    timers.advance(1000);
  }
  timers.advance(5000);
  drain.acked(2000, 2_000_000);
  drain.done();
  timers.advance(60_000);
  t.false(drain.draining);
  t.deepEqual(lines, [
    {
      level: 30,
      drainedRecords: 0,
      drainedBytes: 0,
      leftRecords: 3000,
      backlogRecords: 3000,
      backlogBytes: 3_000_000,
      elapsedMs: 10_000,
      recordsPerSec: 0,
      bytesPerSec: 0,
      etaMs: null,
      msg: 'backlog draining',
    },
    {
      level: 30,
      drainedRecords: 1000,
      drainedBytes: 1_000_000,
      leftRecords: 2000,
      backlogRecords: 3000,
      backlogBytes: 3_000_000,
      elapsedMs: 20_000,
      recordsPerSec: 50,
      bytesPerSec: 50_000,
      etaMs: 40_000,
      msg: 'backlog draining',
    },
    {
      level: 30,
      drainedRecords: 3000,
      drainedBytes: 3_000_000,
      drainMs: 25_000,
      recordsPerSec: 120,
      bytesPerSec: 120_000,
      msg: 'backlog drained',
    },
  ]);
});

test('a drain cut short by a disconnect ends silently; no backlog, no drain', (t) => {
  const { log, lines } = capture();
  const timers = new FakeTimers();
  const drain = new DrainProgress({ log, timers });
  drain.start(0, 0);
  t.false(drain.draining);
  drain.start(10, 100);
  drain.acked(5, 50);
  drain.stop();
  drain.done();
  timers.advance(60_000);
  t.deepEqual(lines, []);
  t.is(timers.pending, 0);
});

test('agent connects, disconnects and refusals go to debug; a summary at info when something changed, at warn with refusals', (t) => {
  const { log, lines } = capture();
  const timers = new FakeTimers();
  let open = 2;
  const agents = new AgentLog({ log, timers, connectedNow: () => open, summaryMs: 60_000 });
  agents.start();
  timers.advance(60_000); // nothing changed: no line
  for (let i = 0; i < 5; i++) agents.connected(`10.0.0.${i}`);
  open += 5;
  agents.disconnected('10.0.0.1');
  open -= 3; // two more left without a report
  agents.refused('10.0.0.9', 'OWL_ERR_TOO_MANY_CONNECTIONS');
  timers.advance(60_000);
  agents.connected('10.0.0.7');
  open += 1;
  timers.advance(60_000);
  timers.advance(60_000);
  agents.stop();
  t.is(timers.pending, 0);
  const debug = lines.filter((l) => l['level'] === 20);
  t.deepEqual(
    debug.map((l) => l['msg']),
    [
      ...Array<string>(5).fill('agent connected'),
      'agent disconnected',
      'agent connection refused',
      'agent connected',
    ],
  );
  t.deepEqual(
    lines.filter((l) => l['level'] !== 20),
    [
      {
        level: 40,
        agentsConnected: 4,
        connects: 5,
        disconnects: 3,
        refused: 1,
        refusedByCode: { OWL_ERR_TOO_MANY_CONNECTIONS: 1 },
        msg: 'agent connections',
      },
      { level: 30, agentsConnected: 5, connects: 1, disconnects: 0, refused: 0, msg: 'agent connections' },
    ],
  );
});
