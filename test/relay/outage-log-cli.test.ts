/**
 * An upstream outage in the relay's log, end to end: `owl-upstream run` and
 * `owl-relay run` from their CLIs (the relay at log level debug, its
 * reconnect cap 1 s as in every CLI test), an agent sending throughout, the
 * upstream killed with SIGKILL and started again on the same port. The
 * relay must log one line when the outage starts, no warning per failed
 * reconnect (those lines are at debug), one line when it ends (with its
 * duration) and one when the backlog spooled meanwhile is drained.
 */
import { join } from 'node:path';
import test from 'ava';
import { UPLINK_PATH } from '../../protocol/index.js';
import { NoisyAgent, Pacer } from '../helpers/noisy-agent.js';
import {
  addRelay,
  startRelayCli,
  startUpstreamCli,
  upstreamStats,
  type LogLine,
  type OwlProcess,
} from '../helpers/owl-cli.js';
import { eventually } from '../helpers/agent-client.js';
import { tempDir } from '../helpers/relay-harness.js';

const ZONE = 'zone-a';
const ZONE_TOKEN = 'zone-token-0123456789';
const DOWN = 'uplink down: spooling until the upstream is back';
const UP_AGAIN = 'uplink up again: outage over';
const DRAINED = 'backlog drained';
/** Long enough for several failed attempts at the test's 1 s cap. */
const OUTAGE_MS = 4000;

const lines = (p: OwlProcess, msg: string): LogLine[] => p.log.filter((l) => l.msg === msg);

test('an upstream outage: one line when it starts, none per retry, one when it ends, one when the backlog is drained', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('owl-outage-log-');
  const procs: OwlProcess[] = [];
  const agent = new NoisyAgent({ uuid: 'a'.repeat(32), session: 's-outage-log', token: ZONE_TOKEN, seed: 7 });
  const pacer = new Pacer([agent], 2000, 1000);
  t.teardown(async () => {
    pacer.stop();
    agent.close();
    for (const p of procs) await p.kill();
    dir.remove();
  });

  let up = await startUpstreamCli(join(dir.path, 'upstream'));
  procs.push(up.proc);
  const token = await addRelay(up.api, ZONE);
  const relay = await startRelayCli({
    stateDir: join(dir.path, 'relay'),
    relayId: ZONE,
    token,
    upstreamUrl: `ws://127.0.0.1:${up.uplinkPort}${UPLINK_PATH}`,
    zoneToken: ZONE_TOKEN,
    config: { logLevel: 'debug' },
  });
  procs.push(relay.proc);
  const log = relay.proc;
  await log.waitLog((l) => l.msg === 'uplink connected', 'uplink connected', 15_000);
  await agent.connect(relay.agentPort);
  pacer.start();
  await eventually(async () => (await upstreamStats(up.api)).samples >= 1000, 15_000, 'samples stored', 100);

  // The outage: the upstream dies; the agent goes on, the relay spools and retries.
  await up.proc.kill();
  const downAt = Date.now();
  await log.waitLog((l) => l.msg === DOWN, 'the outage line', 10_000);
  const attemptsBefore = log.log.filter((l) => l.msg === 'uplink error').length;
  await eventually(() => Date.now() - downAt >= OUTAGE_MS, OUTAGE_MS + 1000, 'outage', 100);
  const failedInOutage = log.log.filter((l) => l.msg === 'uplink error').length;

  up = await startUpstreamCli(up.stateDir, up.uplinkPort);
  procs.push(up.proc);
  const end = await log.waitLog((l) => l.msg === UP_AGAIN, 'the end-of-outage line', 10_000);
  const drained = await log.waitLog((l) => l.msg === DRAINED, 'the drained line', 20_000);
  t.log(
    `${failedInOutage - attemptsBefore} failed attempts after the first; down ${JSON.stringify(lines(log, DOWN)[0])}; end ${JSON.stringify(end)}; drained ${JSON.stringify(drained)}`,
  );

  const down = lines(log, DOWN);
  t.is(down.length, 1, 'one line when the outage starts');
  t.like(down[0], { level: 40, part: 'uplink', wasConnected: true });
  t.true(typeof down[0]?.['why'] === 'string' && down[0]['why'] !== '', 'it says why');
  t.true(failedInOutage >= 3, `several attempts failed meanwhile (${failedInOutage})`);
  for (const l of log.log.filter((x) => x.msg === 'uplink error' || x.msg === 'uplink closed'))
    t.is(l.level, 20, `per-attempt lines at debug: ${JSON.stringify(l)}`);
  const warnings = log.log.filter((l) => (l.level ?? 0) >= 40 && l['part'] === 'uplink');
  t.deepEqual(
    warnings.map((l) => l.msg),
    [DOWN],
    `the uplink's only warning is the outage line: ${log.problems().join(' | ')}`,
  );
  t.is(lines(log, UP_AGAIN).length, 1, 'one line when it ends');
  t.like(end, { level: 30, part: 'uplink' });
  const outageMs = end['outageMs'] as number;
  t.true(outageMs >= OUTAGE_MS && outageMs < OUTAGE_MS + 15_000, `outageMs ${outageMs}`);
  t.true((end['failedAttempts'] as number) >= failedInOutage, 'its failed attempts');
  t.true((end['backlog'] as number) > 0, 'a backlog spooled during the outage');
  t.is(lines(log, DRAINED).length, 1, 'one line when drained');
  t.like(drained, { level: 30, part: 'uplink' });
  t.true((drained['drainedRecords'] as number) > 0 && (drained['drainedBytes'] as number) > 0);
  t.true(log.log.indexOf(drained) > log.log.indexOf(end), 'drained after the reconnect');

  // Everything the agent sent arrives: the drain was real.
  pacer.stop();
  await agent.allAcked(20_000);
  await eventually(
    async () => (await relay.status()).spool.records === 0,
    20_000,
    'relay spool empty after the drain',
    100,
  );
});
