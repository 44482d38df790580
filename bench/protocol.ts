/**
 * Protocol decode benchmark: FrameDecoder.push + defaultParser.parse against
 * plain JSON.parse of the same bodies, in the same process.
 *
 *   npx tsx bench/protocol.ts [--seconds=N]
 *
 * Cases:
 *  - v3 SERIESDATA: one-sample frames (~170 bytes) as a v3 agent sends them,
 *    fed as 64 KiB socket chunks (so frames straddle chunk boundaries).
 *  - SERIESBATCH: 100-sample frames, same 64 KiB chunks.
 *
 * Each case alternates a decode pass and a baseline pass (body.toString +
 * JSON.parse of every body) so both see the same CPU and GC conditions, and
 * reports the ratio of their per-frame costs. The goal is ratio <= 1.5.
 * A third pass per round times what a relay does instead for the samples it
 * forwards as bytes: `parser.scan()` (protocol/scan.ts), parse only if unsure.
 * Bounded: a warm-up and `--seconds` (default 3) of measurement per case.
 */
import { FrameDecoder, PacketType, defaultParser, encodePacket } from '../protocol/index.js';
import type { BatchSample, SeriesData } from '../protocol/index.js';

const CHUNK_BYTES = 64 * 1024;
const STREAM_BYTES = 4 * 1024 * 1024;
const WARMUP_MS = 1000;

interface Case {
  name: string;
  /** Packet type of every frame. */
  type: number;
  samplesPerFrame: number;
  /** The wire stream cut into socket-sized chunks. */
  chunks: Buffer[];
  /** The bodies of the same frames, one buffer each, for the baseline. */
  bodies: Buffer[];
  frames: number;
  wireBytes: number;
}

interface Result {
  name: string;
  frameBytes: number;
  decodeSamplesPerSec: number;
  decodeFramesPerSec: number;
  decodeMBPerSec: number;
  baselineFramesPerSec: number;
  baselineMBPerSec: number;
  ratio: number;
  scanFramesPerSec: number;
  scanRatio: number;
}

function parseSeconds(argv: readonly string[]): number {
  for (const arg of argv) {
    const m = /^--seconds=(\d+(?:\.\d+)?)$/.exec(arg);
    if (m) return Math.min(Number(m[1]), 60);
  }
  return 3;
}

/** A deterministic pseudo-random generator so every run decodes the same bytes. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 0x100000000;
  };
}

const METRICS = ['ESTABLISHED', 'TIME_WAIT', 'CLOSE_WAIT', 'SYN_SENT', 'LISTEN', 'FIN_WAIT1', 'LAST_ACK'];
const SERVICES = ['tcp_stat', 'cpu_usage', 'mem_usage', 'disk_io', 'net_traffic'];

function hex(rand: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(rand() * 16).toString(16);
  return s;
}

function buildCase(
  name: string,
  type: number,
  samplesPerFrame: number,
  frameOf: (i: number) => Buffer,
): Case {
  const frames: Buffer[] = [];
  let wireBytes = 0;
  while (wireBytes < STREAM_BYTES) {
    const f = frameOf(frames.length);
    frames.push(f);
    wireBytes += f.length;
  }
  const stream = Buffer.concat(frames);
  const chunks: Buffer[] = [];
  for (let off = 0; off < stream.length; off += CHUNK_BYTES) {
    // Copy each chunk, as a socket hands out independent buffers.
    chunks.push(Buffer.from(stream.subarray(off, off + CHUNK_BYTES)));
  }
  const bodies = frames.map((f) => Buffer.from(f.subarray(5)));
  return { name, type, samplesPerFrame, chunks, bodies, frames: frames.length, wireBytes };
}

function seriesDataCase(): Case {
  const rand = rng(1);
  const hosts = Array.from({ length: 50 }, (_, i) => ({
    uuid: hex(rand, 32),
    ip: `10.20.${30 + (i >> 4)}.${10 + i}`,
  }));
  return buildCase('v3 SERIESDATA (1 sample)', PacketType.SERIESDATA, 1, (i) => {
    const host = hosts[i % hosts.length] as { uuid: string; ip: string };
    // Field order as the v3 Go agent marshals its struct.
    const body: SeriesData = {
      uuid: host.uuid,
      ip: host.ip,
      group: 'web',
      timestamp: 1718000000 + Math.floor(i / 100),
      service_name: SERVICES[i % SERVICES.length] as string,
      metric: METRICS[i % METRICS.length] as string,
      value: Math.round(rand() * 1e6) / 100,
      flag: 0,
    };
    return encodePacket(PacketType.SERIESDATA, body);
  });
}

function seriesBatchCase(): Case {
  const rand = rng(2);
  const uuid = hex(rand, 32);
  return buildCase('SERIESBATCH (100 samples)', PacketType.SERIESBATCH, 100, (i) => {
    const samples: BatchSample[] = [];
    for (let k = 0; k < 100; k++) {
      samples.push({
        service_name: SERVICES[k % SERVICES.length] as string,
        metric: `${METRICS[k % METRICS.length] as string}_${k}`,
        value: Math.round(rand() * 1e6) / 100,
        timestamp_ms: 1718000000000 + i * 1000 + k,
      });
    }
    return encodePacket(PacketType.SERIESBATCH, {
      session: 'b3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
      seq: i + 1,
      uuid,
      ip: '10.20.30.40',
      samples,
    });
  });
}

/** One decode pass over the whole stream; returns a checksum so the work cannot be skipped. */
function decodePass(c: Case): number {
  const decoder = new FrameDecoder();
  let sum = 0;
  for (const chunk of c.chunks) {
    const frames = decoder.push(chunk);
    for (let i = 0; i < frames.length; i++) {
      const packet = defaultParser.parse(frames[i] as (typeof frames)[number]);
      sum += packet.type;
    }
  }
  decoder.end();
  return sum;
}

/** What a relay does with each frame it forwards: the scan, and the full parse only when the scan is not sure. */
function scanPass(c: Case): number {
  const decoder = new FrameDecoder();
  let sum = 0;
  for (const chunk of c.chunks) {
    const frames = decoder.push(chunk);
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i] as (typeof frames)[number];
      sum += (defaultParser.scan(frame) ?? defaultParser.parse(frame)).type;
    }
  }
  decoder.end();
  return sum;
}

/** The baseline: what it costs to merely JSON.parse the same bodies. */
function baselinePass(c: Case): number {
  let sum = 0;
  const bodies = c.bodies;
  for (let i = 0; i < bodies.length; i++) {
    const value = JSON.parse((bodies[i] as Buffer).toString()) as object;
    if (value !== null) sum += 1;
  }
  return sum;
}

function run(c: Case, seconds: number): Result {
  let sink = 0;
  const check = decodePass(c);
  const expected = c.frames * c.type;
  if (check !== expected) throw new Error(`${c.name}: decoded ${check}, expected ${expected}`);
  if (scanPass(c) !== expected) throw new Error(`${c.name}: scan disagrees`);

  const warmupEnd = performance.now() + WARMUP_MS;
  while (performance.now() < warmupEnd) sink += decodePass(c) + scanPass(c) + baselinePass(c);

  let decodeMs = 0;
  let scanMs = 0;
  let baselineMs = 0;
  let passes = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    let t = performance.now();
    sink += decodePass(c);
    decodeMs += performance.now() - t;
    t = performance.now();
    sink += scanPass(c);
    scanMs += performance.now() - t;
    t = performance.now();
    sink += baselinePass(c);
    baselineMs += performance.now() - t;
    passes++;
  }
  if (sink === 0) console.log('');
  const framesDone = passes * c.frames;
  const bytesDone = passes * c.wireBytes;
  return {
    name: c.name,
    frameBytes: c.wireBytes / c.frames,
    decodeSamplesPerSec: (framesDone * c.samplesPerFrame) / (decodeMs / 1000),
    decodeFramesPerSec: framesDone / (decodeMs / 1000),
    decodeMBPerSec: bytesDone / 1e6 / (decodeMs / 1000),
    baselineFramesPerSec: framesDone / (baselineMs / 1000),
    baselineMBPerSec: bytesDone / 1e6 / (baselineMs / 1000),
    ratio: decodeMs / baselineMs,
    scanFramesPerSec: framesDone / (scanMs / 1000),
    scanRatio: scanMs / baselineMs,
  };
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function main(): void {
  const seconds = parseSeconds(process.argv.slice(2));
  console.log(
    `OWL protocol decode benchmark: node ${process.version}, ${process.arch}, ` +
      `${CHUNK_BYTES / 1024} KiB chunks, ${seconds} s per case`,
  );
  const results = [seriesDataCase(), seriesBatchCase()].map((c) => run(c, seconds));
  const rows = [
    [
      'case',
      'bytes/frame',
      'decode frames/s',
      'decode MB/s',
      'decode samples/s',
      'JSON.parse frames/s',
      'JSON.parse MB/s',
      'ratio',
      'scan frames/s',
      'scan ratio',
    ],
    ...results.map((r) => [
      r.name,
      fmt(r.frameBytes),
      fmt(r.decodeFramesPerSec),
      fmt(r.decodeMBPerSec, 1),
      fmt(r.decodeSamplesPerSec),
      fmt(r.baselineFramesPerSec),
      fmt(r.baselineMBPerSec, 1),
      `${fmt(r.ratio, 2)}x`,
      fmt(r.scanFramesPerSec),
      `${fmt(r.scanRatio, 2)}x`,
    ]),
  ];
  const widths = (rows[0] as string[]).map((_, i) =>
    Math.max(...rows.map((row) => (row[i] as string).length)),
  );
  for (const [n, row] of rows.entries()) {
    console.log(
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)))
        .join('  '),
    );
    if (n === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  console.log(
    'MB = 10^6 wire bytes (headers included); ratio = decode cost / JSON.parse cost per frame (goal <= 1.50);\n' +
      'scan = decode + the forwarding scan a relay uses (full parse only when the scan is not sure).',
  );
}

main();
