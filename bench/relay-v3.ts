/**
 * Relay throughput, v3 agents: one-sample SERIESDATA frames (~176 bytes, as
 * a v3 agent sends them) from 100 agent connections, through the relay
 * (validated, spooled in RocksDB with fdatasync, batched over the uplink),
 * to acknowledgement by a receiver. Load generator, relay and receiver are
 * separate processes on 127.0.0.1.
 *
 *   npx tsx bench/relay-v3.ts [--seconds=10] [--warmup=3] [--agents=100] [--profile[=dir]] [--no-baseline]
 *
 * Goals: >= 250,000 samples/s end to end, <= 4 relay CPU-seconds per
 * million samples. Baseline in the same run: the same generator writing to a
 * bare TCP sink process (the generator's own ceiling).
 *
 * Diagnostic knobs (not used for the reference figures): --relay-config=<JSON
 * RelayConfigInput merged over the defaults>, --relay-node-args="<node
 * flags>", --relay-import=<module run in the relay process before it starts,
 * e.g. an experimental patch>.
 */
import { throughputBench } from './lib/throughput-main.js';

await throughputBench({
  title: 'Relay throughput, v3 SERIESDATA (1 sample per frame)',
  load: { mode: 'v3', framesPerWrite: 32 },
  goalSamplesPerSec: 250_000,
  goalCpuPerMillion: 4,
});
