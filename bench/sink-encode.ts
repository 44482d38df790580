/**
 * Sink encoding benchmark: building remote_write requests of 10,000 samples from the columns a
 * forwarding read yields (grouping, protobuf, snappy; with the series' labels encoded by an
 * earlier request, as in steady state, and with every series new) and OpenTSDB `/api/put`
 * bodies, against the baseline of JSON.stringify of the same points, in the same process.
 *
 *   npx tsx bench/sink-encode.ts [--seconds=N]
 *
 * The points: 500 series (metric × host, tags uuid, ip, zone, device) × 20 timestamps, in
 * arrival order (time-major, as the forwarding log yields them). Passes alternate so all see
 * the same CPU and GC conditions; each reports samples/s (wall) and CPU seconds (user + system)
 * per million samples. Bounded: a warm-up and `--seconds` (default 3) per pass in total.
 */
import snappy from 'snappy';
import {
  columnsOf,
  decodeRemoteWrite,
  OpenTsdbEncoder,
  RemoteWriteEncoder,
  type PromNaming,
} from '../upstream/sinks/index.js';
import type { StorePoint } from '../upstream/store/index.js';

const SAMPLES = 10_000;
const WARMUP_MS = 1000;
const NAMING: PromNaming = { prefix: 'owl_', extraLabels: { cluster: 'bench' }, maxLabelsPerSeries: 30 };
const METRICS = ['cpu.user', 'cpu.system', 'mem.used', 'disk.used_pct', 'net.rx_bytes'];

function parseSeconds(argv: readonly string[]): number {
  for (const arg of argv) {
    const m = /^--seconds=(\d+(?:\.\d+)?)$/.exec(arg);
    if (m) return Math.min(Number(m[1]), 60);
  }
  return 3;
}

function makePoints(): StorePoint[] {
  const points: StorePoint[] = [];
  const t0 = Date.now() - 3_600_000;
  const hosts = SAMPLES / 20 / METRICS.length;
  for (let step = 0; step < 20; step++) {
    for (let h = 0; h < hosts; h++) {
      const tags = {
        uuid: `9bf31c7ff062936a96d3c8bd1f8f${(0x1000 + h).toString(16)}`,
        ip: `10.0.${h >> 8}.${h & 255}`,
        zone: `zone-${h % 4}`,
        device: 'eth0',
      };
      for (const metric of METRICS) {
        points.push({ metric, tags, timestampMs: t0 + step * 10_000 + h, value: Math.sin(step + h) * 1000 });
      }
    }
  }
  return points;
}

interface Pass {
  name: string;
  run: (points: StorePoint[]) => number;
  wallNs: bigint;
  cpuUs: number;
  samples: number;
  bytes: number;
}

function timeOnce(pass: Pass, points: StorePoint[]): void {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const bytes = pass.run(points);
  pass.wallNs += process.hrtime.bigint() - t0;
  const cpu = process.cpuUsage(cpu0);
  pass.cpuUs += cpu.user + cpu.system;
  pass.samples += points.length;
  pass.bytes += bytes;
}

function main(): void {
  const seconds = parseSeconds(process.argv.slice(2));
  const points = makePoints();
  // Columns as the store's forwarding read hands them over: series ids, timestamps, values.
  const columns = columnsOf(points);
  const warm = new RemoteWriteEncoder(NAMING);
  const warmTsdb = new OpenTsdbEncoder({ extraTags: {}, maxTags: 8 });
  const proto = snappy.uncompressSync(warm.encode(columns).parts[0]!.body as Buffer, {
    asBuffer: true,
  }) as Buffer;
  if (decodeRemoteWrite(warm.encode(columns).parts[0]!.body).length !== 500)
    throw new Error('bench: wrong encoding');
  const cases: { name: string; run: (points: StorePoint[]) => number }[] = [
    {
      name: 'remote_write, series named before (protobuf + snappy)',
      run: () => warm.encode(columns).parts[0]!.body.length,
    },
    {
      name: 'remote_write, every series new (+ naming)',
      run: () => new RemoteWriteEncoder(NAMING).encode(columns).parts[0]!.body.length,
    },
    {
      name: '  snappy alone (of the protobuf)',
      run: () => snappy.compressSync(proto).length,
    },
    {
      name: 'opentsdb /api/put JSON, series named before',
      run: () => warmTsdb.encode(columns).parts[0]!.body.length,
    },
    { name: 'baseline JSON.stringify(points)', run: (p) => JSON.stringify(p).length },
  ];
  const passes: Pass[] = cases.map((p) => ({ ...p, wallNs: 0n, cpuUs: 0, samples: 0, bytes: 0 }));

  const warmEnd = Date.now() + WARMUP_MS;
  while (Date.now() < warmEnd) for (const p of passes) p.run(points);
  const end = Date.now() + seconds * 1000 * passes.length;
  while (Date.now() < end) for (const p of passes) timeOnce(p, points);

  const baseline = passes[passes.length - 1]!;
  const rows = passes.map((p) => ({
    pass: p.name,
    'samples/s': Math.round(p.samples / (Number(p.wallNs) / 1e9)),
    'CPU-s per million': +((p.cpuUs / 1e6 / p.samples) * 1e6).toFixed(3),
    'bytes per request': p.bytes === 0 ? '-' : Math.round(p.bytes / (p.samples / SAMPLES)),
    'x baseline': +(p.cpuUs / p.samples / (baseline.cpuUs / baseline.samples)).toFixed(2),
  }));
  console.log(`sink encode: ${SAMPLES} samples per request, ${seconds} s per pass, node ${process.version}`);
  console.table(rows);
}

main();
