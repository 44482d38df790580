/**
 * Relay throughput, v4 agents: SERIESBATCH frames of 100 fresh samples from
 * 100 agent connections (HELLO first; up to 8 batches per agent awaiting
 * the relay's ACK, which it sends once the batch is durable), through the
 * relay to acknowledgement by a receiver. Separate processes on 127.0.0.1.
 *
 *   npx tsx bench/relay-batch.ts [--seconds=10] [--warmup=3] [--agents=100] [--profile[=dir]] [--no-baseline]
 *
 * Goals: >= 400,000 samples/s end to end, <= 1.5 relay CPU-seconds per
 * million samples. Baseline in the same run: the same generator against a
 * bare TCP sink that answers HELLO and ACKs without parsing JSON.
 *
 * Diagnostic knobs (not used for the reference figures): --relay-config=<JSON
 * RelayConfigInput merged over the defaults>, --relay-node-args="<node
 * flags>", --relay-import=<module run in the relay process before it starts,
 * e.g. an experimental patch>.
 */
import { throughputBench } from './lib/throughput-main.js';

await throughputBench({
  title: 'Relay throughput, v4 SERIESBATCH (100 samples per frame)',
  load: { mode: 'v4', window: 8, samplesPerBatch: 100 },
  goalSamplesPerSec: 400_000,
  goalCpuPerMillion: 1.5,
});
