/**
 * What bench agents send: v3 SERIESDATA frames exactly as a v3 agent
 * marshals them (field order of its Go struct, md5-hex uuid), and v4
 * SERIESBATCH frames of fresh samples (new values in every batch, so
 * nothing downstream, compression included, sees repeated batches).
 * Deterministic per seed.
 */
import { encodeFrame, encodePacket, PacketType } from '../../protocol/index.js';

export const METRICS = [
  'ESTABLISHED',
  'TIME_WAIT',
  'CLOSE_WAIT',
  'SYN_SENT',
  'LISTEN',
  'FIN_WAIT1',
  'LAST_ACK',
];
export const SERVICES = ['tcp_stat', 'cpu_usage', 'mem_usage', 'disk_io', 'net_traffic'];

/** A small fast PRNG (LCG) returning [0, 1). */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 0x100000000;
  };
}

export function hex(rand: () => number, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += Math.floor(rand() * 16).toString(16);
  return out;
}

/** Identity of bench agent `i`. */
export function agentIdentity(i: number): { uuid: string; ip: string; session: string } {
  const rand = rng(1000 + i);
  return {
    uuid: hex(rand, 32),
    ip: `10.${20 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
    session: `${hex(rand, 8)}-${hex(rand, 4)}-4${hex(rand, 3)}-8${hex(rand, 3)}-${hex(rand, 12)}`,
  };
}

/** Source address for connection `i` spread over `sources` loopback addresses (127.1.x.y). */
export function sourceAddress(i: number, sources: number): string {
  const k = i % sources;
  return `127.1.${k >> 8}.${(k & 255) + 1}`;
}

/**
 * `count` v3 SERIESDATA frames of agent `agent`, as one agent's plugins
 * produce them: same uuid/ip/group, services and metrics cycling, values
 * varying, timestamps advancing.
 */
export function v3Frames(agent: number, count: number): Buffer[] {
  const { uuid, ip } = agentIdentity(agent);
  const rand = rng(agent + 1);
  const frames: Buffer[] = [];
  const t0 = 1_718_000_000;
  for (let i = 0; i < count; i++) {
    frames.push(
      encodePacket(PacketType.SERIESDATA, {
        uuid,
        ip,
        group: 'web',
        timestamp: t0 + Math.floor(i / 35),
        service_name: SERVICES[i % SERVICES.length] as string,
        metric: METRICS[i % METRICS.length] as string,
        value: Math.round(rand() * 1e6) / 100,
        flag: 0,
      }),
    );
  }
  return frames;
}

/** A SERIESBATCH frame of `samples` fresh samples (built as a string: cheap enough for 5,000 batches/s). */
export function batchFrame(
  id: { uuid: string; ip: string; session: string },
  seq: number,
  samples: number,
  rand: () => number,
  nowMs: number,
): Buffer {
  let body = `{"session":"${id.session}","seq":${seq},"uuid":"${id.uuid}","ip":"${id.ip}","samples":[`;
  for (let k = 0; k < samples; k++) {
    if (k > 0) body += ',';
    body +=
      `{"service_name":"${SERVICES[k % SERVICES.length] as string}","metric":"${METRICS[k % METRICS.length] as string}_${k}",` +
      `"value":${Math.round(rand() * 1e6) / 100},"timestamp_ms":${nowMs + k}}`;
  }
  body += ']}';
  return encodeFrame(PacketType.SERIESBATCH, body);
}

/**
 * Pre-built SERIESBATCH bodies for a generator that must not be the
 * bottleneck: `distinct` sample lists shared by all agents; a frame is the
 * agent's prefix, its seq and one of the lists, copied into one buffer, with
 * every value's digits then rewritten at random (about 2 us per 10 KB batch
 * instead of about 20 us to build the text). Rewriting matters: zstd's
 * window (512 KiB and up) would otherwise find whole repeated lists inside
 * one spool record and compress them to almost nothing, which fresh data
 * from real agents never allows. Names and timestamps repeat as they do
 * from real agents (same series, seconds apart).
 */
export class BatchPool {
  private readonly lists: Buffer[] = [];
  /** Per list: offsets of the values' digits; the first digit of each value is marked by DIGIT_LEAD. */
  private readonly digits: Int32Array[] = [];
  private state: number;

  constructor(distinct: number, samples: number, seed: number) {
    const rand = rng(seed);
    this.state = seed >>> 0 || 1;
    const t0 = 1_718_000_000_000;
    for (let i = 0; i < distinct; i++) {
      let s = '';
      const at: number[] = [];
      for (let k = 0; k < samples; k++) {
        if (k > 0) s += ',';
        s += `{"service_name":"${SERVICES[k % SERVICES.length] as string}","metric":"${METRICS[k % METRICS.length] as string}_${k}","value":`;
        const value = String(Math.round(rand() * 1e6) / 100);
        for (let d = 0; d < value.length; d++) {
          if (value[d] !== '.') at.push(d === 0 ? -(s.length + d) - 1 : s.length + d);
        }
        s += `${value},"timestamp_ms":${t0 + i * 1000 + k}}`;
      }
      this.lists.push(Buffer.from(`${s}]}`, 'latin1'));
      this.digits.push(Int32Array.from(at));
    }
  }

  /** The frame of batch `seq` of agent `id`, with fresh values. */
  frame(id: { uuid: string; ip: string; session: string }, seq: number, pick: number): Buffer {
    const head = `{"session":"${id.session}","seq":${seq},"uuid":"${id.uuid}","ip":"${id.ip}","samples":[`;
    const k = pick % this.lists.length;
    const list = this.lists[k] as Buffer;
    const headBytes = Buffer.byteLength(head);
    const n = 1 + headBytes + list.length;
    const out = Buffer.allocUnsafe(4 + n);
    out.writeUInt32BE(n, 0);
    out[4] = PacketType.SERIESBATCH;
    out.write(head, 5, 'latin1');
    const base = 5 + headBytes;
    list.copy(out, base);
    let x = this.state;
    const digits = this.digits[k] as Int32Array;
    for (let i = 0; i < digits.length; i++) {
      const a = digits[i] as number;
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      // A value's first digit is 1-9 (no leading zero in JSON), the others 0-9.
      if (a < 0) out[base - a - 1] = 0x31 + (((x >>> 16) * 9) >>> 16);
      else out[base + a] = 0x30 + (((x >>> 16) * 10) >>> 16);
    }
    this.state = x;
    return out;
  }
}

/** The HELLO a bench v4 agent opens with. */
export function helloFrame(uuid: string): Buffer {
  return encodePacket(PacketType.HELLO, { version: 1, features: ['batch', 'ack'], uuid });
}
