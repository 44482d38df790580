/**
 * What the spool drops under its cap never reaches the upstream as well, so
 * stored + dropped = appended holds exactly. The uplink keeps just-appended
 * records in memory (its live tail) to build live batches without reading
 * the spool back; a record the spool dropped after it was remembered there
 * must not be sent from it.
 */
import test from 'ava';
import { encodeRecord } from '../../protocol/index.js';
import { MemorySpool, recordBytes, UplinkClient, type SpoolEntry } from '../../relay/index.js';
import { eventually } from '../helpers/agent-client.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';
import { sampleRecord } from '../helpers/upstream-uplink-client.js';

const RELAY = 'relay-drops';
const TOKEN = 'relay-drops-token';
const UUID = 'a87ff679a2f3e71d9181a67b7542122c';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

test('records dropped by the spool cap while waiting in the live tail are not sent: stored + dropped = appended', async (t) => {
  const receiver = await UplinkReceiver.start({ relays: { [RELAY]: TOKEN } });
  t.teardown(() => receiver.close());
  const payloads = Array.from({ length: 20 }, (_, i) =>
    encodeRecord(sampleRecord({ uuid: UUID, timestamp: 1_700_000_000 + i, value: 100 + i })),
  );
  // Room for ten records (all of one size): appending the last ten drops the first ten.
  t.true(payloads.every((p) => p.length === payloads[0]!.length));
  const spool = new MemorySpool({ maxBytes: 10 * recordBytes(payloads[0]!.length), policy: 'drop-oldest' });
  const uplink = new UplinkClient({
    relayId: RELAY,
    token: TOKEN,
    urls: [receiver.url],
    spool,
    // Nothing leaves before 20 records wait (or a minute passed): the first ten wait in the tail.
    batch: { maxRecords: 20, maxBytes: 1 << 20, lingerMs: 60_000, compress: false },
    status: () => ({
      version: 'test',
      agents: 0,
      spool: {
        records: 0,
        bytes: 0,
        oldestAgeMs: null,
        firstUnacked: spool.firstSeq(),
        nextSeq: spool.nextSeq(),
      },
      dropped: {},
    }),
    onConfigPush: () => undefined,
    onVersion: () => undefined,
    log: quiet,
  });
  uplink.start();
  t.teardown(() => uplink.stop());
  await eventually(() => uplink.state === 'connected', 10_000, 'uplink connected');

  // As the relay does: each append, once durable, is handed to the uplink with its records.
  for (const [i, payload] of payloads.entries()) {
    const range = await spool.append([{ payload, samples: 1 }]);
    t.is(range.first, i + 1);
    const entry: SpoolEntry = { seq: range.first, payload, samples: 1, receivedAt: Date.now() };
    uplink.notifyAppended(range.last, [entry]);
  }
  const s = spool.stats();
  t.is(s.droppedRecords, 10, 'the spool dropped the ten oldest');
  t.is(s.records, 10);

  // Everything still in the spool gets acknowledged and released.
  await eventually(() => spool.stats().records === 0, 10_000, 'the live records acknowledged');
  const stored = receiver.records.map((r) => r.seq).sort((a, b) => a - b);
  t.deepEqual(stored, [11, 12, 13, 14, 15, 16, 17, 18, 19, 20], 'only the records the spool kept were sent');
  t.is(stored.length + spool.stats().droppedRecords, payloads.length, 'stored + dropped = appended');
});
