/**
 * An upstream in a child process (test/helpers/upstream-main.ts) and one scripted relay
 * connection to it, speaking the real uplink protocol: pre-built batch messages (one PACKED
 * record made by the relay's own Packer each) sent within the granted window, as fast as acks
 * come or paced at a fixed interval; each BATCH_ACK is reported with the time it arrived.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import {
  buildBatch,
  decodeUplinkMessage,
  encodeUplinkMessage,
  formatAuthHeader,
  PacketType,
  UPLINK_PATH,
  type UplinkMessage,
} from '../../protocol/index.js';
import { defaultRelayConfig, Packer } from '../../relay/index.js';

export const BATCH_SAMPLES = 1000;
export const UUID = '5d41402abc4b2a76b9719d911017c592';

export interface UpstreamChild {
  child: ChildProcess;
  pid: number;
  uplinkPort: number;
  apiPort: number;
  apiToken: string;
}

/** Start an upstream with this config (merged over the helper's defaults) in `dir`. */
export async function startUpstream(
  dir: string,
  config: Record<string, unknown>,
  profileDir?: string,
): Promise<UpstreamChild> {
  const script = fileURLToPath(new URL('../../test/helpers/upstream-main.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    [
      ...(profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]),
      '--import',
      'tsx',
      script,
      JSON.stringify({ config: { stateDir: join(dir, 'state'), ...config } }),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const line = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`upstream exited (${code}) before READY`)));
    createInterface({ input: child.stdout! }).on('line', (l) => l.startsWith('READY') && resolve(l));
  });
  const [, uplinkPort, apiPort, apiToken] = line.split(' ') as [string, string, string, string];
  return { child, pid: child.pid!, uplinkPort: Number(uplinkPort), apiPort: Number(apiPort), apiToken };
}

/** Stop it: SIGTERM (a clean exit writes a CPU profile), SIGKILL after 20 s. */
export async function stopUpstream(up: UpstreamChild): Promise<void> {
  if (up.child.exitCode !== null || up.child.signalCode !== null) return;
  const exited = once(up.child, 'exit');
  const killer = setTimeout(() => up.child.kill('SIGKILL'), 20_000);
  up.child.kill('SIGTERM');
  await exited;
  clearTimeout(killer);
}

export function api(up: UpstreamChild, method: string, path: string, payload?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: up.apiPort,
        method,
        path,
        headers: { authorization: `Bearer ${up.apiToken}` },
        timeout: 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString() || 'null')));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on('error', reject);
    req.end(payload === undefined ? undefined : JSON.stringify(payload));
  });
}

/** One SERIESBATCH body: 1,000 samples of 100 series; with a marker, its last sample is `lagmark`. */
export function seriesBody(i: number, t0: number, marker?: { value: number; timestampMs: number }): Buffer {
  const samples = Array.from({ length: BATCH_SAMPLES }, (_, k) => ({
    service_name: 'svc' + (k % 10),
    metric: 'm' + Math.floor(k / 10),
    value: Math.round(Math.random() * 10_000) / 100,
    timestamp_ms: t0 + (k % 10),
  }));
  if (marker !== undefined)
    samples[BATCH_SAMPLES - 1] = {
      service_name: 'bench',
      metric: 'lagmark',
      value: marker.value,
      timestamp_ms: marker.timestampMs,
    };
  return Buffer.from(JSON.stringify({ session: 'bench', seq: i, uuid: UUID, ip: '10.0.0.1', samples }));
}

/** Batch messages for these bodies, seqs from `firstSeq`, packed as the relay spools them. */
export async function batchMessages(bodies: readonly Buffer[], firstSeq: number): Promise<Buffer[]> {
  const records: Buffer[] = [];
  const packer = new Packer({
    level: defaultRelayConfig().spool.compressLevel,
    now: Date.now,
    write: (rs) => Promise.resolve(void records.push(...rs.map((r) => r.payload))),
  });
  for (const body of bodies) {
    void packer.add([
      { type: PacketType.SERIESBATCH, body, samples: BATCH_SAMPLES, source: '10.0.0.1:40000', uuid: UUID },
    ]);
    await packer.drain();
  }
  return records.map((record, i) =>
    encodeUplinkMessage(
      buildBatch(
        { seqs: [firstSeq + i], payloads: [record], samples: BATCH_SAMPLES, replay: false },
        { compress: false },
      ),
    ),
  );
}

export interface DriveOptions {
  /** Send message k no earlier than start + k * intervalMs (default: as fast as the window allows). */
  intervalMs?: number;
  /** Stop sending at this time (ms epoch); in-flight batches are still awaited. */
  deadlineMs: number;
  /** Called for each BATCH_ACK with its last seq and arrival time. */
  onAck?: (lastSeq: number, atMs: number) => void;
}

/** The relay connection: registered, HELLO'd, then `drive` runs as many times as needed. */
export class Uplink {
  private readonly messages: UplinkMessage[] = [];
  private wake: () => void = () => undefined;

  private constructor(
    private readonly ws: WebSocket,
    public window: number,
  ) {}

  static async open(up: UpstreamChild): Promise<Uplink> {
    const { token } = (await api(up, 'POST', '/api/v1/relays', { id: 'bench' })) as { token: string };
    const ws = new WebSocket(`ws://127.0.0.1:${up.uplinkPort}${UPLINK_PATH}`, {
      headers: { authorization: formatAuthHeader('bench', token) },
      perMessageDeflate: false,
    });
    const link = new Uplink(ws, 8);
    ws.on('message', (d: Buffer) => {
      link.messages.push(decodeUplinkMessage(d, { from: 'upstream' }));
      link.wake();
    });
    await once(ws, 'open');
    ws.send(
      encodeUplinkMessage({
        type: 'HELLO',
        body: { version: 1, relay: 'bench', spool: 'bench-spool', features: [], firstUnacked: 1, nextSeq: 1 },
      }),
    );
    const welcome = await new Promise<UplinkMessage>((resolve) => {
      link.wake = () => link.messages.length > 0 && resolve(link.messages.shift() as UplinkMessage);
    });
    if (welcome.type === 'WELCOME') link.window = welcome.body.window;
    return link;
  }

  /** Send `built` in order within the window; resolves with how many were acknowledged. */
  drive(built: readonly Buffer[], options: DriveOptions): Promise<number> {
    let next = 0;
    let acked = 0;
    let inFlight = 0;
    const start = Date.now();
    let timer: NodeJS.Timeout | undefined;
    return new Promise<number>((resolve) => {
      const done = (): void => {
        clearInterval(timer);
        this.wake = () => undefined;
        resolve(acked);
      };
      const pump = (): void => {
        const now = Date.now();
        const stopped = now >= options.deadlineMs;
        while (!stopped && inFlight < this.window && next < built.length) {
          if (options.intervalMs !== undefined && now < start + next * options.intervalMs) break;
          this.ws.send(built[next++] as Buffer);
          inFlight++;
        }
        if (inFlight === 0 && (stopped || next === built.length)) done();
      };
      this.wake = () => {
        while (this.messages.length > 0) {
          const m = this.messages.shift() as UplinkMessage;
          if (m.type !== 'BATCH_ACK') continue;
          inFlight--;
          acked++;
          options.onAck?.(m.body.lastSeq, Date.now());
        }
        pump();
      };
      // Paced: look for due batches every millisecond; the deadline bounds the loop.
      timer = setInterval(pump, options.intervalMs === undefined ? 100 : 1);
      pump();
    });
  }

  close(): void {
    this.ws.terminate();
  }
}
