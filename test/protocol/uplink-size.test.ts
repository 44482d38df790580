/**
 * Uplink bytes per sample for a realistic batch: 1,000 v3 SERIESDATA records
 * (100 hosts × 10 metrics, md5-hex UUIDs as v3 agents make them, 10.x IPs,
 * Unix-second timestamps spread over a minute, gauges with two decimals and
 * counter rates at full double precision), in arrival order (each host's
 * burst together). The figures are logged; the bounds catch regressions.
 * The goal is 10 bytes/sample; plain deflate of records gives about 18 (see
 * docs/uplink.md, "Size"), so the bound here is the deflate figure.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import {
  buildBatch,
  decodeUplinkMessage,
  encodeRecord,
  encodeUplinkMessage,
  openBatch,
  PacketType,
} from '../../protocol/index.js';

/** Deterministic LCG in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

function realisticRecords(): Buffer[] {
  const rnd = lcg(42);
  const hosts = Array.from({ length: 100 }, (_, i) => {
    const mac = `52:54:00:${i.toString(16).padStart(2, '0')}:${Math.floor(rnd() * 256)
      .toString(16)
      .padStart(2, '0')}:${Math.floor(rnd() * 256)
      .toString(16)
      .padStart(2, '0')}`;
    return {
      uuid: createHash('md5').update(mac).digest('hex'),
      ip: `10.${20 + (i % 3)}.${Math.floor(rnd() * 250)}.${Math.floor(rnd() * 250) + 2}`,
      port: 30000 + Math.floor(rnd() * 30000),
      offset: Math.floor(rnd() * 60),
    };
  });
  const metrics: [string, string, () => number][] = [
    ['cpu', 'cpu.user', () => Math.round(rnd() * 10000) / 100],
    ['cpu', 'cpu.system', () => Math.round(rnd() * 3000) / 100],
    ['cpu', 'cpu.idle', () => Math.round(rnd() * 10000) / 100],
    ['mem', 'mem.used_percent', () => Math.round(rnd() * 10000) / 100],
    ['load', 'load.1min', () => Math.round(rnd() * 800) / 100],
    ['disk', 'disk.read_bytes', () => (rnd() * 5e7) / 60],
    ['disk', 'disk.write_bytes', () => (rnd() * 5e7) / 60],
    ['net', 'net.in_bytes', () => (rnd() * 1e9) / 60],
    ['net', 'net.out_bytes', () => (rnd() * 1e9) / 60],
    ['tcp', 'TCP_ESTABLISHED', () => Math.floor(rnd() * 2000)],
  ];
  const records: Buffer[] = [];
  for (const host of [...hosts].sort((a, b) => a.offset - b.offset)) {
    const timestamp = 1718000000 + host.offset;
    let receivedAtMs = timestamp * 1000 + Math.floor(rnd() * 300);
    for (const [service, metric, value] of metrics) {
      const body = JSON.stringify({
        uuid: host.uuid,
        ip: host.ip,
        group: 'web',
        timestamp,
        service_name: service,
        metric,
        value: value(),
        flag: 0,
      });
      records.push(
        encodeRecord({
          receivedAtMs,
          type: PacketType.SERIESDATA,
          src: `${host.ip}:${host.port}`,
          uuid: '',
          body: Buffer.from(body),
        }),
      );
      receivedAtMs += Math.floor(rnd() * 2);
    }
  }
  return records;
}

test('1,000 realistic SERIESDATA records: bytes per sample on the uplink', (t) => {
  const records = realisticRecords();
  const SAMPLES = records.length;
  t.is(SAMPLES, 1000);
  const input = { seqs: records.map((_, i) => 5000 + i), payloads: records, samples: SAMPLES, replay: false };
  const raw = encodeUplinkMessage(buildBatch(input, { compress: false })).length / SAMPLES;
  const figures: Record<string, number> = { raw };
  for (const level of [1, 6, 9]) {
    const message = encodeUplinkMessage(buildBatch(input, { compress: true, level }));
    figures[`deflate${level}`] = message.length / SAMPLES;
    // What was measured must open again.
    t.is(openBatch(decodeUplinkMessage(message) as Parameters<typeof openBatch>[0]).length, SAMPLES);
  }
  const start = process.hrtime.bigint();
  for (let i = 0; i < 10; i++) buildBatch(input, { compress: true });
  const buildMs = Number(process.hrtime.bigint() - start) / 1e6 / 10;
  t.log(
    `bytes/sample: raw ${raw.toFixed(1)}, deflate-1 ${figures.deflate1?.toFixed(1)}, ` +
      `deflate-6 ${figures.deflate6?.toFixed(1)}, deflate-9 ${figures.deflate9?.toFixed(1)}; ` +
      `buildBatch (level 6) ${buildMs.toFixed(2)} ms per 1,000 records`,
  );
  t.true(raw > 150 && raw < 260, `raw ${raw}`);
  t.true((figures.deflate6 as number) < 22, `deflate-6 ${figures.deflate6}`);
});
