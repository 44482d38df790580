/**
 * A relay in a child process, for crash tests (SIGKILL at any moment).
 *
 *   node --import tsx test/helpers/relay-main.ts '<RelayConfigInput JSON>'
 *
 * The config is merged over test defaults (relay id and token of the relay
 * harness, 127.0.0.1:0, silent log, fast backoff). Stdout protocol, one line
 * each: `READY <agentPort>` once listening; `STATUS <json>` in answer to a
 * `status` line on stdin; `STOPPED` after a `stop` line or SIGTERM (graceful
 * Relay.stop(), then exit 0). Logs go to stderr (level OWL_TEST_LOG).
 *
 * With `--wait` after the config, the child loads its modules, prints
 * `LOADED` and opens nothing until a `start` line arrives: a test starts the
 * next relay's process while the current one still holds the state dir, so a
 * restart costs the relay's own start-up, not Node's and tsx's.
 */
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { Relay, resolveRelayConfig, TEST_BACKOFF, type RelayConfigInput } from '../../relay/index.js';
import { RELAY_ID, RELAY_TOKEN } from './relay-harness.js';

/** What a `status` command prints (after `STATUS `). */
export interface RelayChildStatus {
  spoolId: string;
  records: number;
  firstSeq: number;
  nextSeq: number;
  /** Samples ever appended (persisted across restarts). */
  appendedSamples: number;
  uplink: string;
  inFlight: number;
  uplinkConnects: number;
  agents: number;
}

const lines = createInterface({ input: process.stdin });
if (process.argv[3] === '--wait') {
  process.stdout.write('LOADED\n');
  await new Promise<void>((resolve) => {
    const onLine = (line: string): void => {
      if (line !== 'start') return;
      lines.off('line', onLine);
      resolve();
    };
    lines.on('line', onLine);
  });
}

const input = JSON.parse(process.argv[2] ?? '{}') as RelayConfigInput;
const config = resolveRelayConfig({
  metrics: { port: 0 },
  relayId: RELAY_ID,
  token: RELAY_TOKEN,
  listen: [{ host: '127.0.0.1', port: 0 }],
  logLevel: 'silent',
  ...input,
  batch: { lingerMs: 5, ...input.batch },
});
const relay = await Relay.start(config, {
  logger: pino({ level: process.env['OWL_TEST_LOG'] ?? 'silent' }, pino.destination(2)),
  backoff: TEST_BACKOFF,
  slowRetryMs: 200,
});
process.stdout.write(`READY ${relay.addresses[0]?.port ?? 0}\n`);

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= relay.stop().then(() => {
    process.stdout.write('STOPPED\n');
    process.exit(0);
  });
  return stopping;
}

async function status(): Promise<RelayChildStatus> {
  const s = relay.spool.stats();
  const connects = (await relay.metrics.uplinkConnects.get()).values[0]?.value ?? 0;
  return {
    spoolId: s.spoolId,
    records: s.records,
    firstSeq: s.firstSeq,
    nextSeq: s.nextSeq,
    appendedSamples: s.appendedSamples,
    uplink: relay.uplink.state,
    inFlight: relay.uplink.inFlightBatches,
    uplinkConnects: connects,
    agents: relay.server.connectionCount,
  };
}

process.on('SIGTERM', () => void stop());
lines.on('line', (line) => {
  if (line === 'status') void status().then((s) => process.stdout.write(`STATUS ${JSON.stringify(s)}\n`));
  else if (line === 'stop') void stop();
});
// The parent died: do not linger.
process.stdin.on('end', () => void stop());
