/**
 * The relay under test, in its own process: `Relay.start()` with the
 * production defaults (backoff included) except what the bench passes, in a
 * process with the config's memory settings, as `owl-relay run` starts it.
 *
 *   node [--cpu-prof] --import tsx bench/lib/relay-main.ts '<RelayConfigInput JSON>'
 *
 * Stdout: `READY <agentPort>`; `STATUS <json>` for `status`; `GC` for `gc`
 * (needs --expose-gc); `stop` stops the relay gracefully and exits 0, so a
 * --cpu-prof profile gets written. Logs (level warn) go to stderr.
 */
import { pino } from 'pino';
import {
  applyRelayProcessSettings,
  Relay,
  resolveRelayConfig,
  type RelayConfigInput,
} from '../../relay/index.js';
import { serveCommands } from './child.js';
import { BENCH_RELAY_ID, BENCH_RELAY_TOKEN } from './shared.js';

/** What `status` prints. */
export interface RelayBenchStatus {
  agents: number;
  uplink: string;
  inFlight: number;
  spool: {
    records: number;
    samples: number;
    bytes: number;
    appendedSamples: number;
    droppedSamples: number;
    firstSeq: number;
    nextSeq: number;
  };
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const input = JSON.parse(process.argv[2] ?? '{}') as RelayConfigInput;
const config = resolveRelayConfig({
  metrics: { port: 0 },
  relayId: BENCH_RELAY_ID,
  token: BENCH_RELAY_TOKEN,
  listen: [{ host: '127.0.0.1', port: 0 }],
  logLevel: 'warn',
  ...input,
});
// As `owl-relay run` does: the process is replaced by one with the config's memory settings.
applyRelayProcessSettings(config);
const relay = await Relay.start(config, { logger: pino({ level: config.logLevel }, pino.destination(2)) });
process.stdout.write(`READY ${relay.addresses[0]?.port ?? 0}\n`);

serveCommands(
  {
    status: () => {
      const s = relay.spool.stats();
      const m = process.memoryUsage();
      const status: RelayBenchStatus = {
        agents: relay.server.connectionCount,
        uplink: relay.uplink.state,
        inFlight: relay.uplink.inFlightBatches,
        spool: {
          records: s.records,
          samples: s.samples,
          bytes: s.bytes,
          appendedSamples: s.appendedSamples,
          droppedSamples: s.droppedSamples,
          firstSeq: s.firstSeq,
          nextSeq: s.nextSeq,
        },
        rss: m.rss,
        heapUsed: m.heapUsed,
        external: m.external,
        arrayBuffers: m.arrayBuffers,
      };
      process.stdout.write(`STATUS ${JSON.stringify(status)}\n`);
    },
    gc: () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      process.stdout.write(`GC ${gc === undefined ? 'unavailable' : 'done'}\n`);
    },
  },
  () => relay.stop(),
);
