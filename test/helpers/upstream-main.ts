/**
 * An upstream in a child process, for crash tests.
 *
 *   node --import tsx test/helpers/upstream-main.ts '<JSON>'
 *
 * JSON: `{ "config": UpstreamConfigInput (stateDir required), "killAfterStore"?: {relay, firstSeq} }`.
 * The config is merged over test defaults (every listener on 127.0.0.1:0,
 * silent log). With `killAfterStore`, the upstream SIGKILLs itself from its
 * `afterStore` hook when that relay's batch starting at `firstSeq` is durable
 * but not yet acknowledged. Stdout: `READY <uplinkPort> <apiPort> <apiToken>`
 * once listening; `KILLING <relay> <firstSeq> <lastSeq>` just before the kill.
 * Logs go to stderr (level OWL_TEST_LOG).
 */
import { pino } from 'pino';
import { resolveUpstreamConfig, Upstream, type UpstreamConfigInput } from '../../upstream/index.js';

interface UpstreamChildInput {
  config: UpstreamConfigInput;
  killAfterStore?: { relay: string; firstSeq: number };
}

const input = JSON.parse(process.argv[2] ?? '{}') as UpstreamChildInput;
const config = resolveUpstreamConfig({
  uplink: { host: '127.0.0.1', port: 0 },
  agents: [{ host: '127.0.0.1', port: 0 }],
  api: { host: '127.0.0.1', port: 0 },
  logLevel: 'silent',
  ...input.config,
});
const kill = input.killAfterStore;
const up = await Upstream.start(config, {
  logger: pino({ level: process.env['OWL_TEST_LOG'] ?? 'silent' }, pino.destination(2)),
  ...(kill === undefined
    ? {}
    : {
        afterStore: (relay: string, firstSeq: number, lastSeq: number) => {
          if (relay !== kill.relay || firstSeq !== kill.firstSeq) return;
          // Stdout is a pipe: synchronous on Linux, so the line is out before the kill.
          process.stdout.write(`KILLING ${relay} ${firstSeq} ${lastSeq}\n`);
          process.kill(process.pid, 'SIGKILL');
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
