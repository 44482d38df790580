/**
 * The operator's log of an outage, in process with short summary periods
 * (Relay.start's `logSummaryMs`, `drainProgressMs`): a relay whose upstream
 * is unreachable (a closed port, TEST_BACKOFF: a retry every 200 ms at most)
 * while an agent spools a backlog, then a slow receiving peer on that port,
 * so the drain takes long enough to report progress. What an operator reads
 * at level info: the outage's start, its summaries (spooled records and
 * bytes, age of the oldest), its end, the drain's progress and end, and the
 * agent summary; no line per failed attempt.
 */
import test from 'ava';
import { pino } from 'pino';
import { Relay, resolveRelayConfig, TEST_BACKOFF } from '../../relay/index.js';
import { eventually } from '../helpers/agent-client.js';
import { LoadAgent } from '../helpers/load-agent.js';
import { RELAY_ID, RELAY_TOKEN, tempDir } from '../helpers/relay-harness.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';
import { closedPort } from '../helpers/upstream-check.js';

type Line = Record<string, unknown>;
const ZONE_TOKEN = 'zone-token-123';
const BATCHES = 60;

test('outage start, summaries, end; drain progress and end; agent summaries; nothing per attempt', async (t) => {
  const port = await closedPort();
  const dir = tempDir('owl-outage-log-');
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  const relay = await Relay.start(
    resolveRelayConfig({
      metrics: { port: 0 },
      relayId: RELAY_ID,
      token: RELAY_TOKEN,
      upstreams: [`ws://127.0.0.1:${port}/owl/v1/uplink`],
      stateDir: dir.path,
      listen: [{ host: '127.0.0.1', port: 0 }],
      zoneToken: ZONE_TOKEN,
      // One record per agent batch, two per uplink batch: a drain of many acks.
      batch: { maxRecords: 2, lingerMs: 0 },
    }),
    { logger, backoff: TEST_BACKOFF, logSummaryMs: 300, drainProgressMs: 100 },
  );
  const agent = new LoadAgent({
    uuid: 'b'.repeat(32),
    session: 's1',
    samples: 100,
    window: 1,
    token: ZONE_TOKEN,
  });
  const receivers: UplinkReceiver[] = [];
  t.teardown(async () => {
    agent.close();
    await relay.stop();
    for (const r of receivers) await r.close();
    dir.remove();
  });
  const msgs = (msg: string): Line[] => lines.filter((l) => l['msg'] === msg);

  await agent.connect(relay.addresses[0]?.port ?? 0);
  agent.sendUpTo(BATCHES);
  await agent.allAcked(20_000);
  // About one record per agent batch (batches that arrive in one event-loop turn share one).
  const spooled = relay.spool.stats().records;
  // The next summary counts them all.
  const summaries = (): Line[] => msgs('uplink still down').filter((l) => l['spooledRecords'] === spooled);
  await eventually(() => summaries().length >= 1, 10_000, 'an outage summary of the whole backlog');
  await eventually(() => msgs('uplink still down').length >= 2, 10_000, 'a second summary');
  await eventually(() => msgs('agent connections').length >= 1, 10_000, 'an agent summary');
  const attempts = relay.uplink.failedAttempts;

  const receiver = await UplinkReceiver.start({
    port,
    relays: { [RELAY_ID]: RELAY_TOKEN },
    window: 1,
    ackDelayMs: 20,
  });
  receivers.push(receiver);
  await eventually(() => msgs('backlog drained').length === 1, 20_000, 'the drain line');
  agent.close();
  await eventually(
    () => msgs('agent connections').some((l) => l['disconnects'] === 1),
    10_000,
    'the disconnect in a summary',
  );

  t.log(
    `${attempts} failed attempts while down; ${spooled} records spooled; ${msgs('backlog draining').length} progress lines`,
  );
  t.true(attempts >= 5, `attempts ${attempts}`);
  t.is(msgs('uplink error').length + msgs('uplink closed').length, 0, 'no line per attempt at info');
  t.is(msgs('uplink down: spooling until the upstream is back').length, 1);
  t.like(msgs('uplink down: spooling until the upstream is back')[0], {
    level: 40,
    wasConnected: false,
    code: 'ECONNREFUSED',
  });
  const last = summaries()[0] as Line;
  t.like(last, { level: 40, lastCode: 'ECONNREFUSED' });
  t.true(msgs('uplink still down').length >= 2, 'a summary per period');
  t.true((last['spooledBytes'] as number) > 0 && (last['oldestAgeMs'] as number) > 0, JSON.stringify(last));
  const up = msgs('uplink up again: outage over');
  t.is(up.length, 1);
  t.like(up[0], { level: 30, backlog: spooled });
  t.true((up[0]?.['outageMs'] as number) >= 600 && (up[0]?.['failedAttempts'] as number) >= attempts);

  const progress = msgs('backlog draining');
  t.true(progress.length >= 1, 'progress while draining');
  const p = progress[progress.length - 1] as Line;
  t.like(p, { level: 30, backlogRecords: spooled });
  t.true((p['drainedRecords'] as number) + (p['leftRecords'] as number) === spooled, JSON.stringify(p));
  t.like(msgs('backlog drained')[0], { level: 30, drainedRecords: spooled });
  t.true(lines.indexOf(msgs('backlog drained')[0] as Line) > lines.indexOf(up[0] as Line));

  const agents = msgs('agent connections');
  t.like(agents[0], { level: 30, agentsConnected: 1, connects: 1, disconnects: 0, refused: 0 });
  t.like(agents[agents.length - 1], { agentsConnected: 0, connects: 0, disconnects: 1 });
});
