/**
 * An UplinkReceiver in a child process, so it can be SIGKILLed mid-stream and
 * restarted on the same port with what it had stored (`persistFile`).
 *
 *   node --import tsx test/helpers/uplink-receiver-main.ts '<ReceiverOptions JSON>'
 *
 * `relays` defaults to the relay harness's id and token. Stdout protocol, one
 * line each: `READY <port>` once listening; `STATUS <json>` in answer to a
 * `status` line on stdin; `STOPPED` after a `stop` line. With `--wait` after
 * the options it prints `LOADED` and binds nothing until a `start` line
 * arrives (so a restart does not wait for Node and tsx to load).
 */
import { createInterface } from 'node:readline';
import { RELAY_ID, RELAY_TOKEN } from './relay-harness.js';
import { UplinkReceiver, type ReceiverOptions } from './uplink-receiver.js';

/** What a `status` command prints (after `STATUS `). */
export interface ReceiverChildStatus {
  /** Records held (loaded from persistFile plus stored since start). */
  records: number;
  duplicateRecords: number;
  connectsTotal: number;
  /** Most connections of one relay open at the same time since start. */
  maxConcurrent: number;
  /** Connections open now, all relays. */
  open: number;
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

const input = JSON.parse(process.argv[2] ?? '{}') as Partial<ReceiverOptions>;
const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN }, ...input });
process.stdout.write(`READY ${receiver.port}\n`);

function status(): ReceiverChildStatus {
  let open = 0;
  for (const set of receiver.open.values()) open += set.size;
  return {
    records: receiver.records.length,
    duplicateRecords: receiver.duplicateRecords,
    connectsTotal: receiver.connectsTotal,
    maxConcurrent: receiver.maxConcurrent,
    open,
  };
}

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  void receiver.close().then(() => {
    process.stdout.write('STOPPED\n');
    process.exit(0);
  });
}

lines.on('line', (line) => {
  if (line === 'status') process.stdout.write(`STATUS ${JSON.stringify(status())}\n`);
  else if (line === 'stop') stop();
});
// The parent died: do not linger.
process.stdin.on('end', stop);
