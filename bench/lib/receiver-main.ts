/**
 * A stand-in upstream for the relay benches, in its own process: speaks the
 * real uplink protocol (codec from protocol/), de-duplicates by (spool, seq)
 * with a RangeSet and acknowledges every new batch STORED at once. It keeps
 * counters only, never the records, so it can take millions of samples
 * without becoming the bottleneck or growing. No fsync: what is measured is
 * the relay, not a database.
 *
 *   node --import tsx bench/lib/receiver-main.ts '<ReceiverBenchOptions JSON>'
 *
 * `decode` says which batches are opened (inflated, records decoded) to
 * measure live delay = receiver clock at storage - the record's
 * receivedAtMs (the relay's clock on the same machine): 'none' counts from
 * batch headers only, 'live' opens live batches, 'all' opens every batch.
 *
 * Stdout: `READY <port> <listeningAtMs>`; `HELLO <ms>` when a relay says
 * HELLO; `STATUS <json>` for `status`.
 */
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import {
  BatchAckStatus,
  batchSeqRanges,
  decodeUplinkMessage,
  encodeUplinkMessage,
  openBatch,
  parseAuthHeader,
  RangeSet,
  UPLINK_DEFAULT_MAX_BATCH_BYTES,
  UPLINK_DEFAULT_WINDOW,
  UPLINK_MAX_MESSAGE_BYTES,
  UPLINK_PATH,
  UplinkCloseCode,
  type UplinkMessage,
} from '../../protocol/index.js';
import { serveCommands } from './child.js';
import { BENCH_RELAY_ID, BENCH_RELAY_TOKEN } from './shared.js';

export interface ReceiverBenchOptions {
  port?: number;
  window?: number;
  maxBatchBytes?: number;
  decode?: 'none' | 'live' | 'all';
}

/** What `status` prints. */
export interface ReceiverBenchStatus {
  now: number;
  connects: number;
  batches: number;
  records: number;
  samples: number;
  liveSamples: number;
  replaySamples: number;
  duplicateBatches: number;
  /** Bytes of every WebSocket message received (payloads, no frame headers). */
  bytesIn: number;
  /** Bytes of BATCH messages (header + payload as sent, compressed or not). */
  batchBytes: number;
  /** Bytes of BATCH payloads once inflated (opened batches only). */
  inflatedBytes: number;
  firstReplayAt: number | null;
  lastReplayAt: number | null;
  firstLiveAt: number | null;
  /** Live delay (ms) over every live record opened: percentiles, maximum, how many records. */
  liveDelayP50: number | null;
  liveDelayP99: number | null;
  liveDelayMax: number | null;
  liveDelayRecords: number;
}

const DELAY_BUCKETS = 120_000;

const options = JSON.parse(process.argv[2] ?? '{}') as ReceiverBenchOptions;
const decode = options.decode ?? 'none';
const stored = new Map<string, RangeSet>();
const delays = new Uint32Array(DELAY_BUCKETS + 1);
const s: ReceiverBenchStatus = {
  now: 0,
  connects: 0,
  batches: 0,
  records: 0,
  samples: 0,
  liveSamples: 0,
  replaySamples: 0,
  duplicateBatches: 0,
  bytesIn: 0,
  batchBytes: 0,
  inflatedBytes: 0,
  firstReplayAt: null,
  lastReplayAt: null,
  firstLiveAt: null,
  liveDelayP50: null,
  liveDelayP99: null,
  liveDelayMax: null,
  liveDelayRecords: 0,
};

function delayPercentile(p: number): number | null {
  if (s.liveDelayRecords === 0) return null;
  const rank = Math.ceil((p / 100) * s.liveDelayRecords);
  let seen = 0;
  for (let i = 0; i <= DELAY_BUCKETS; i++) {
    seen += delays[i] as number;
    if (seen >= rank) return i;
  }
  return DELAY_BUCKETS;
}

const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({
  noServer: true,
  maxPayload: UPLINK_MAX_MESSAGE_BYTES,
  perMessageDeflate: false,
});
http.on('upgrade', (req, socket, head) => {
  try {
    const creds = parseAuthHeader(req.headers.authorization);
    if (req.url !== UPLINK_PATH || creds.relayId !== BENCH_RELAY_ID || creds.token !== BENCH_RELAY_TOKEN)
      throw new Error('refused');
  } catch {
    socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    s.connects++;
    let spool: string | undefined;
    const send = (m: UplinkMessage): void => ws.send(encodeUplinkMessage(m));
    ws.on('message', (data: Buffer) => {
      s.bytesIn += data.length;
      let msg: UplinkMessage;
      try {
        msg = decodeUplinkMessage(data, { from: 'relay' });
      } catch {
        ws.close(UplinkCloseCode.PROTOCOL_ERROR, 'bad message');
        return;
      }
      switch (msg.type) {
        case 'HELLO':
          process.stdout.write(`HELLO ${Date.now()}\n`);
          spool = msg.body.spool;
          send({
            type: 'WELCOME',
            body: {
              version: 1,
              window: options.window ?? UPLINK_DEFAULT_WINDOW,
              maxBatchBytes: options.maxBatchBytes ?? UPLINK_DEFAULT_MAX_BATCH_BYTES,
              heartbeatMs: 15_000,
            },
          });
          return;
        case 'PING':
          send({ type: 'PONG', body: { t: msg.body.t } });
          return;
        case 'VERSION_REQ':
          send({ type: 'VERSION_RESP', body: { id: msg.body.id, version: '3.1' } });
          return;
        case 'HOSTCONFIG_REQ':
          send({ type: 'HOSTCONFIG_RESP', body: { id: msg.body.id, uuid: msg.body.uuid, host: null } });
          return;
        case 'BATCH': {
          if (spool === undefined) return;
          const b = msg.body;
          const now = Date.now();
          s.batchBytes += data.length;
          let set = stored.get(spool);
          if (set === undefined) {
            set = new RangeSet();
            stored.set(spool, set);
          }
          const ranges = batchSeqRanges(b);
          let status: BatchAckStatus = BatchAckStatus.STORED;
          if (ranges.every(([f, l]) => set.has(f, l))) {
            s.duplicateBatches++;
            status = BatchAckStatus.DUPLICATE;
          } else {
            for (const [f, l] of ranges) set.add(f, l);
            s.batches++;
            s.records += b.records;
            s.samples += b.samples;
            if (b.replay) {
              s.replaySamples += b.samples;
              s.firstReplayAt ??= now;
              s.lastReplayAt = now;
            } else {
              s.liveSamples += b.samples;
              s.firstLiveAt ??= now;
            }
            if (decode === 'all' || (decode === 'live' && !b.replay)) {
              const records = openBatch(b, {
                maxInflatedBytes: options.maxBatchBytes ?? UPLINK_DEFAULT_MAX_BATCH_BYTES,
              });
              for (const r of records) s.inflatedBytes += r.body.length;
              if (!b.replay) {
                for (const r of records) {
                  const d = Math.max(0, Math.min(DELAY_BUCKETS, now - r.receivedAtMs));
                  delays[d] = (delays[d] as number) + 1;
                  s.liveDelayRecords++;
                  if (s.liveDelayMax === null || d > s.liveDelayMax) s.liveDelayMax = d;
                }
              }
            }
          }
          send({ type: 'BATCH_ACK', body: { firstSeq: b.firstSeq, lastSeq: b.lastSeq, status } });
          return;
        }
        default:
          return;
      }
    });
  });
});
http.listen(options.port ?? 0, '127.0.0.1');
await once(http, 'listening');
process.stdout.write(`READY ${(http.address() as AddressInfo).port} ${Date.now()}\n`);

serveCommands(
  {
    status: () => {
      s.now = Date.now();
      s.liveDelayP50 = delayPercentile(50);
      s.liveDelayP99 = delayPercentile(99);
      process.stdout.write(`STATUS ${JSON.stringify(s)}\n`);
    },
  },
  async () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  },
);
