/**
 * An upstream in a child process, for crash tests.
 *
 *   node --import tsx test/helpers/upstream-main.ts '<JSON>'
 *
 * JSON: `{ "config": UpstreamConfigInput (stateDir required), "killAfterStore"?: {relay, firstSeq},
 * "killAfterWrite"?: {relay, lastSeq}, "maxWritePoints"?: number }`.
 * The config is merged over test defaults (every listener on 127.0.0.1:0,
 * silent log). With `killAfterStore`, the upstream SIGKILLs itself from its
 * `afterStore` hook when that relay's batch starting at `firstSeq` is durable
 * but not yet acknowledged; with `killAfterWrite`, when a store write holding records up to
 * `lastSeq` is durable (a batch may take several writes). Stdout: `READY <uplinkPort> <apiPort> <apiToken>`
 * once listening; `KILLING <relay> <firstSeq> <lastSeq>` just before the kill.
 * Logs go to stderr (level OWL_TEST_LOG).
 */
import { pino } from 'pino';
import { resolveUpstreamConfig, Upstream, type UpstreamConfigInput } from '../../upstream/index.js';

interface UpstreamChildInput {
  config: UpstreamConfigInput;
  killAfterStore?: { relay: string; firstSeq: number };
  killAfterWrite?: { relay: string; lastSeq: number };
  maxWritePoints?: number;
}

const input = JSON.parse(process.argv[2] ?? '{}') as UpstreamChildInput;
const config = resolveUpstreamConfig({
  metrics: { enabled: true, host: '127.0.0.1', port: 0 },
  uplink: { host: '127.0.0.1', port: 0 },
  agents: [{ host: '127.0.0.1', port: 0 }],
  api: { host: '127.0.0.1', port: 0 },
  logLevel: 'silent',
  ...input.config,
});
const kill = input.killAfterStore;
const killWrite = input.killAfterWrite;
const die = (what: string): void => {
  // Stdout is a pipe: synchronous on Linux, so the line is out before the kill.
  process.stdout.write(`${what}\n`);
  process.kill(process.pid, 'SIGKILL');
};
const up = await Upstream.start(config, {
  logger: pino({ level: process.env['OWL_TEST_LOG'] ?? 'silent' }, pino.destination(2)),
  ...(input.maxWritePoints === undefined ? {} : { maxWritePoints: input.maxWritePoints }),
  ...(killWrite === undefined
    ? {}
    : {
        afterWrite: (relay: string, firstSeq: number, lastSeq: number) => {
          if (relay === killWrite.relay && lastSeq === killWrite.lastSeq)
            die(`KILLING-WRITE ${relay} ${firstSeq} ${lastSeq}`);
        },
      }),
  ...(kill === undefined
    ? {}
    : {
        afterStore: (relay: string, firstSeq: number, lastSeq: number) => {
          if (relay === kill.relay && firstSeq === kill.firstSeq)
            die(`KILLING ${relay} ${firstSeq} ${lastSeq}`);
        },
      }),
});
process.stdout.write(`READY ${up.uplinkAddress.port} ${up.apiAddress.port} ${up.apiToken}\n`);

const stop = (): void => {
  void up.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
// The parent died: do not linger.
process.stdin.on('end', stop);
process.stdin.resume();
