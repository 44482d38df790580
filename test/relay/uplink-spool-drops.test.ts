/**
 * The relay's dropped figures are exact: what the spool drops under its cap
 * either never reaches the upstream, or is not counted as dropped.
 *
 * - The uplink keeps just-appended records in memory (its live tail) to build
 *   live batches without reading the spool back; a record the spool dropped
 *   after it was remembered there must not be sent from it.
 * - A record the spool drops while its batch is in flight reaches the upstream
 *   all the same once that batch is acknowledged: the release finds less than
 *   the batch held, the uplink reports the difference, and the relay's figure
 *   (DropCount, as relay.ts computes it) leaves it out. Also through a real
 *   relay (RocksDB spool in its worker, whole segments dropped): its status.
 */
import { randomBytes } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { BatchAckStatus, encodeRecord, PacketType } from '../../protocol/index.js';
import {
  DropCount,
  MemorySpool,
  recordBytes,
  TEST_BACKOFF,
  UplinkClient,
  type ReadLimits,
  type Released,
  type SeqRange,
  type Spool,
  type SpoolEntry,
  type SpoolRecord,
  type SpoolStats,
  type UplinkClientOptions,
} from '../../relay/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { RELAY_ID, RELAY_TOKEN, startRelay, tempDir } from '../helpers/relay-harness.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';
import { sampleRecord } from '../helpers/upstream-uplink-client.js';

const RELAY = 'relay-drops';
const TOKEN = 'relay-drops-token';
const UUID = 'a87ff679a2f3e71d9181a67b7542122c';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Twenty records of one size (so a byte cap holds a known number of them). */
function payloads(): Buffer[] {
  const out = Array.from({ length: 20 }, (_, i) =>
    encodeRecord(sampleRecord({ uuid: UUID, timestamp: 1_700_000_000 + i, value: 100 + i })),
  );
  if (!out.every((p) => p.length === out[0]!.length)) throw new Error('records of different sizes');
  return out;
}

function startUplink(
  t: ExecutionContext,
  receiver: UplinkReceiver,
  spool: Spool,
  options: Partial<UplinkClientOptions>,
): UplinkClient {
  const uplink = new UplinkClient({
    relayId: RELAY,
    token: TOKEN,
    urls: [receiver.url],
    spool,
    batch: { maxRecords: 5, maxBytes: 1 << 20, lingerMs: 0, compress: false },
    backoff: TEST_BACKOFF,
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
    ...options,
  });
  uplink.start();
  t.teardown(() => uplink.stop());
  return uplink;
}

/** As the relay does: append, and once durable hand the records to the uplink. */
async function appendAndNotify(
  spool: Spool,
  uplink: UplinkClient,
  records: SpoolRecord[],
): Promise<SeqRange> {
  const range = await spool.append(records);
  const entries: SpoolEntry[] = records.map((r, i) => ({
    seq: range.first + i,
    ...r,
    receivedAt: Date.now(),
  }));
  uplink.notifyAppended(range.last, entries);
  return range;
}

test('records dropped by the spool cap while waiting in the live tail are not sent: stored + dropped = appended', async (t) => {
  const receiver = await UplinkReceiver.start({ relays: { [RELAY]: TOKEN } });
  t.teardown(() => receiver.close());
  const records = payloads();
  // Room for ten records: appending the last ten drops the first ten.
  const spool = new MemorySpool({ maxBytes: 10 * recordBytes(records[0]!.length), policy: 'drop-oldest' });
  // Nothing leaves before 20 records wait (or a minute passed): the first ten wait in the tail.
  const uplink = startUplink(t, receiver, spool, {
    batch: { maxRecords: 20, maxBytes: 1 << 20, lingerMs: 60_000, compress: false },
  });
  await eventually(() => uplink.state === 'connected', 10_000, 'uplink connected');

  for (const [i, payload] of records.entries()) {
    const range = await appendAndNotify(spool, uplink, [{ payload, samples: 1 }]);
    t.is(range.first, i + 1);
  }
  const s = spool.stats();
  t.is(s.droppedRecords, 10, 'the spool dropped the ten oldest');
  t.is(s.records, 10);

  // Everything still in the spool gets acknowledged and released.
  await eventually(() => spool.stats().records === 0, 10_000, 'the live records acknowledged');
  const stored = receiver.records.map((r) => r.seq).sort((a, b) => a - b);
  t.deepEqual(stored, [11, 12, 13, 14, 15, 16, 17, 18, 19, 20], 'only the records the spool kept were sent');
  t.is(stored.length + spool.stats().droppedRecords, records.length, 'stored + dropped = appended');
});

test('records dropped while their batch is in flight, then acknowledged, are not counted dropped: dropped + stored = appended', async (t) => {
  const receiver = await UplinkReceiver.start({ relays: { [RELAY]: TOKEN }, window: 1 });
  t.teardown(() => receiver.close());
  receiver.deferAcks = true;
  const records = payloads();
  const samplesOf = (seq: number): number => (seq % 4) + 1;
  const sum = (first: number, last: number): number => {
    let n = 0;
    for (let seq = first; seq <= last; seq++) n += samplesOf(seq);
    return n;
  };
  const spool = new MemorySpool({ maxBytes: 10 * recordBytes(records[0]!.length), policy: 'drop-oldest' });
  const drops = new DropCount(); // wired as relay.ts wires it
  const stored = { records: 0, samples: 0 };
  const uplink = startUplink(t, receiver, spool, {
    onBatchAck: (status, n, samples) => {
      t.is(status, BatchAckStatus.STORED);
      stored.records += n;
      stored.samples += samples;
    },
    onDeliveredAfterDrop: (n, samples) => drops.deliveredAfterDrop(n, samples),
  });
  const figure = (): Released => drops.dropped(spool.stats(), uplink.droppedInFlight);
  await eventually(() => uplink.state === 'connected', 10_000, 'uplink connected');
  const appendFive = async (first: number): Promise<void> => {
    const five = records
      .slice(first - 1, first + 4)
      .map((payload, i) => ({ payload, samples: samplesOf(first + i) }));
    t.like(await appendAndNotify(spool, uplink, five), { first, last: first + 4 });
  };

  await appendFive(1);
  await eventually(
    () => receiver.batchesStored === 1,
    10_000,
    'the batch of 1..5 stored upstream, its ack held',
  );
  await appendFive(6); // the window (one batch) is full: these wait
  await appendFive(11); // the cap drops 1..5, whose batch is in flight
  t.is(spool.stats().droppedRecords, 5);
  t.deepEqual(uplink.droppedInFlight, { records: 5, samples: sum(1, 5) });
  t.deepEqual(figure(), { records: 0, samples: 0 }, 'in flight: not known to be lost');
  await appendFive(16); // the cap drops 6..10, never sent: lost
  t.is(spool.stats().droppedRecords, 10);
  t.deepEqual(figure(), { records: 5, samples: sum(6, 10) });

  receiver.deferAcks = false;
  t.is(receiver.sendHeldAcks(), 1);
  await eventually(
    () => stored.records === 15 && spool.stats().records === 0 && uplink.droppedInFlight.records === 0,
    10_000,
    'everything left acknowledged and released',
  );
  t.deepEqual(
    receiver.records.map((r) => r.seq).sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
  );
  t.is(spool.stats().droppedRecords, 10, "the spool's own count: every record its cap removed");
  const dropped = figure();
  t.deepEqual(dropped, { records: 5, samples: sum(6, 10) }, 'dropped: only what never reached the upstream');
  t.is(dropped.records + stored.records, 20, 'dropped + stored = appended (records)');
  t.is(dropped.samples + stored.samples, sum(1, 20), 'dropped + stored = appended (samples)');
});

/** A MemorySpool whose next release waits for letGo(), as behind a slow disk. */
class SlowReleaseSpool implements Spool {
  readonly inner = new MemorySpool();
  holdNext = false;
  held: Array<() => void> = [];
  /** Releases not settled yet. */
  unsettled = 0;

  get spoolId(): string {
    return this.inner.spoolId;
  }
  append(records: readonly SpoolRecord[]): Promise<SeqRange> {
    return this.inner.append(records);
  }
  read(fromSeq: number, limits?: ReadLimits): Promise<SpoolEntry[]> {
    return this.inner.read(fromSeq, limits);
  }
  async release(first: number, last: number): Promise<Released> {
    this.unsettled++;
    try {
      if (this.holdNext) {
        this.holdNext = false;
        await new Promise<void>((resolve) => this.held.push(resolve));
      }
      return await this.inner.release(first, last);
    } finally {
      this.unsettled--;
    }
  }
  letGo(): void {
    for (const go of this.held.splice(0)) go();
  }
  sweep(): Promise<void> {
    return this.inner.sweep();
  }
  firstSeq(): number {
    return this.inner.firstSeq();
  }
  nextSeq(): number {
    return this.inner.nextSeq();
  }
  stats(): SpoolStats {
    return this.inner.stats();
  }
  diskBytes(): Promise<number> {
    return this.inner.diskBytes();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

test('a new connection sends nothing before the releases asked on the last one settled: acknowledged records are not resent, nor miscounted', async (t) => {
  const receiver = await UplinkReceiver.start({ relays: { [RELAY]: TOKEN } });
  t.teardown(() => receiver.close());
  const records = payloads();
  const spool = new SlowReleaseSpool();
  const delivered = { records: 0, samples: 0 };
  const uplink = startUplink(t, receiver, spool, {
    onDeliveredAfterDrop: (n, samples) => {
      delivered.records += n;
      delivered.samples += samples;
    },
  });
  await eventually(() => uplink.state === 'connected', 10_000, 'uplink connected');

  spool.holdNext = true;
  await appendAndNotify(
    spool,
    uplink,
    records.slice(0, 5).map((payload) => ({ payload, samples: 2 })),
  );
  await eventually(() => spool.held.length === 1, 10_000, 'batch 1..5 acknowledged, its release pending');
  receiver.dropConnections();
  await eventually(
    () => receiver.connectsTotal === 2 && uplink.state === 'connected',
    10_000,
    'the uplink connected again',
  );
  // 1..5 are still in the spool: sent now, they would come back as a duplicate whose release finds
  // nothing (and the first release would then find nothing either).
  spool.letGo();
  await appendAndNotify(
    spool,
    uplink,
    records.slice(5, 10).map((payload) => ({ payload, samples: 3 })),
  );
  await eventually(
    () => receiver.records.length === 10 && spool.stats().records === 0 && spool.unsettled === 0,
    10_000,
    'everything acknowledged and released',
  );
  t.is(receiver.duplicateRecords, 0, 'nothing acknowledged was sent again');
  t.deepEqual(
    delivered,
    { records: 0, samples: 0 },
    'the spool dropped nothing, so nothing was delivered after a drop',
  );
  t.is(spool.stats().droppedRecords, 0);
});

test('a real relay: the status counts as dropped only what never reached the upstream, while a batch was in flight when its segment was dropped', async (t) => {
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN }, window: 1 });
  const dir = tempDir();
  // The smallest spool (1 MiB, segments of 256 KiB) and small batches: the first batch is in the
  // first segment, which drop-oldest drops whole while the batch waits for its ack.
  const { relay, port } = await startRelay(receiver.url, dir.path, {
    spool: { maxBytes: 1 << 20, policy: 'drop-oldest' },
    batch: { maxRecords: 20, maxBytes: 64 << 10 },
  });
  t.teardown(async () => {
    await relay.stop();
    await receiver.close();
    dir.remove();
  });
  receiver.deferAcks = true;
  await eventually(() => relay.uplink.state === 'connected', 10_000, 'uplink connected');
  const agent = await TestAgent.connect(port);
  t.teardown(() => agent.destroy());
  let sent = 0;
  const sendSamples = (n: number): void => {
    for (let i = 0; i < n; i++, sent++) {
      agent.send(PacketType.SERIESDATA, {
        uuid: UUID,
        ip: '127.0.0.1',
        group: '',
        timestamp: 1_700_000_000 + sent,
        service_name: 'tcp',
        metric: randomBytes(24).toString('hex'), // hardly compressible: the spool fills
        value: Math.random(),
        flag: 0,
      });
    }
  };
  sendSamples(200);
  await eventually(
    () => receiver.batchesStored === 1,
    10_000,
    'the first batch stored upstream, its ack held',
  );
  // Every SERIESDATA is one sample; wait for each chunk to be spooled before the next.
  while (relay.spool.stats().droppedRecords === 0 && sent < 200_000) {
    sendSamples(2000);
    await eventually(() => relay.spool.stats().appendedSamples === sent, 10_000, 'samples spooled');
  }
  const spooled = relay.spool.stats();
  t.true(spooled.droppedRecords > 0, 'the spool dropped its oldest segment');
  const firstBatch = new Set(receiver.records.map((r) => r.seq));
  t.true(firstBatch.has(1), 'the batch in flight holds the first record, which was dropped');
  const inFlight = relay.uplink.droppedInFlight;
  t.is(inFlight.records, firstBatch.size, 'the whole batch in flight was dropped');
  t.is(inFlight.samples, receiver.records.length);
  t.deepEqual(
    [relay.status().spool.droppedRecords, relay.status().spool.droppedSamples],
    [spooled.droppedRecords - inFlight.records, spooled.droppedSamples - inFlight.samples],
    'in flight: not counted yet',
  );

  receiver.deferAcks = false;
  t.is(receiver.sendHeldAcks(), 1);
  await eventually(
    () => relay.spool.stats().records === 0 && relay.uplink.inFlightBatches === 0,
    20_000,
    'everything left acknowledged and released',
  );
  await eventually(() => relay.uplink.droppedInFlight.records === 0, 10_000, 'the last release settled');
  const s = relay.spool.stats();
  const status = relay.status().spool;
  const storedRecords = new Set(receiver.records.map((r) => r.seq)).size;
  t.is(receiver.duplicateRecords, 0);
  t.is(s.appendedSamples, sent);
  t.is(
    status.droppedRecords,
    s.droppedRecords - firstBatch.size,
    'the batch delivered after its drop is left out',
  );
  t.is(status.droppedRecords + storedRecords, s.appendedRecords, 'dropped + stored = appended (records)');
  t.is(
    status.droppedSamples + receiver.records.length,
    s.appendedSamples,
    'dropped + stored = appended (samples)',
  );
});
