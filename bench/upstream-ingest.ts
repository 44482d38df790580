/**
 * Upstream ingest through the relay endpoint: one relay connection sends
 * 1,000-sample batches (each one PACKED record, zstd-compressed, holding one
 * SERIESBATCH frame, as the relay spools and sends them) as fast as the
 * granted window allows; the figure is samples/s
 * acknowledged (= durable in the store). Baseline in the same run: the same
 * points written straight into a RocksSampleStore, 1,000 per write, one at a
 * time. Goal: >= 400,000 samples/s.
 *
 *   npx tsx bench/upstream-ingest.ts [--seconds=10] [--batches=1500] [--profile] [--window=N] [--no-store-worker]
 *
 * --profile runs the upstream under `node --cpu-prof` and prints where its time went;
 * --window sets the upstream's relayWindow (default 8); --no-store-worker runs the store on the
 * upstream's main thread (config storeWorker: false).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';
import { WebSocket } from 'ws';
import {
  decodeUplinkMessage,
  encodeUplinkMessage,
  formatAuthHeader,
  PacketType,
  UPLINK_PATH,
  type UplinkMessage,
} from '../protocol/index.js';
import { RocksSampleStore, ingest, type StorePoint } from '../upstream/index.js';
import { printProfiles } from './lib/cpu-profile.js';
import { batchMessages } from './lib/uplink-driver.js';

const SECONDS = Number(process.argv.find((a) => a.startsWith('--seconds='))?.slice(10) ?? 10);
const SAMPLES = 1000;
const BATCHES = Number(process.argv.find((a) => a.startsWith('--batches='))?.slice(10) ?? 1500);
const UUID = '5d41402abc4b2a76b9719d911017c592';
const PROFILE = process.argv.includes('--profile');
const W = process.argv.find((a) => a.startsWith('--window='))?.slice(9);
const WINDOW = {
  ...(W === undefined ? {} : { relayWindow: Number(W) }),
  ...(process.argv.includes('--no-store-worker') ? { storeWorker: false } : {}),
};

function body(i: number): Buffer {
  const t0 = 1_700_000_000_000 + i * 10_000;
  const samples = Array.from({ length: SAMPLES }, (_, k) => ({
    service_name: 'svc' + (k % 10),
    metric: 'm' + Math.floor(k / 10),
    value: Math.round(Math.random() * 10_000) / 100,
    timestamp_ms: t0 + (k % 10),
  }));
  return Buffer.from(JSON.stringify({ session: 'bench', seq: i, uuid: UUID, ip: '10.0.0.1', samples }));
}

function api(port: number, token: string, method: string, path: string, payload?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString() || 'null')));
      },
    );
    req.on('error', reject);
    req.end(payload === undefined ? undefined : JSON.stringify(payload));
  });
}

async function endpointRun(bodies: Buffer[]): Promise<{ rate: number; cpu: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'owl-bench-up-'));
  const script = fileURLToPath(new URL('../test/helpers/upstream-main.ts', import.meta.url));
  const profileDir = join(dir, 'profile');
  const child = spawn(
    process.execPath,
    [
      ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      '--import',
      'tsx',
      script,
      JSON.stringify({ config: { stateDir: join(dir, 'state'), ...WINDOW } }),
    ],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  try {
    const line = await new Promise<string>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (l) => l.startsWith('READY') && resolve(l));
    });
    const [, uplinkPort, apiPort, apiToken] = line.split(' ') as [string, string, string, string];
    const { token } = (await api(Number(apiPort), apiToken, 'POST', '/api/v1/relays', { id: 'bench' })) as {
      token: string;
    };
    const ws = new WebSocket(`ws://127.0.0.1:${uplinkPort}${UPLINK_PATH}`, {
      headers: { authorization: formatAuthHeader('bench', token) },
      perMessageDeflate: false,
    });
    const messages: UplinkMessage[] = [];
    let wake: () => void = () => undefined;
    ws.on('message', (d: Buffer) => {
      messages.push(decodeUplinkMessage(d, { from: 'upstream' }));
      wake();
    });
    await new Promise((r) => ws.once('open', r));
    ws.send(
      encodeUplinkMessage({
        type: 'HELLO',
        body: { version: 1, relay: 'bench', spool: 'bench-spool', features: [], firstUnacked: 1, nextSeq: 1 },
      }),
    );
    const welcome = await new Promise<UplinkMessage>((resolve) => {
      wake = () => messages.length > 0 && resolve(messages.shift() as UplinkMessage);
    });
    const window = welcome.type === 'WELCOME' ? welcome.body.window : 8;
    // Pre-built batch messages, each one record made by the relay's own Packer at its default
    // level, as a relay spools and sends it: the relay's own work is not measured here.
    const built = await batchMessages(bodies, 1);
    let next = 0;
    let acked = 0;
    let inFlight = 0;
    // Warm-up: the first 10% of the batches are not measured.
    const warmupAcks = Math.floor(built.length / 10);
    let t0 = 0;
    let ackedAtT0 = 0;
    let cpuAtT0 = 0;
    const cpuOf = async (): Promise<number> => {
      const { readFile } = await import('node:fs/promises');
      const f = (await readFile(`/proc/${child.pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
      return (Number(f[11]) + Number(f[12])) / 100;
    };
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        while (inFlight < window && next < built.length) {
          ws.send(built[next++] as Buffer);
          inFlight++;
        }
      };
      wake = () => {
        while (messages.length > 0) {
          const m = messages.shift() as UplinkMessage;
          if (m.type === 'BATCH_ACK') {
            inFlight--;
            acked++;
          }
        }
        if (t0 === 0 && acked >= warmupAcks) {
          t0 = Date.now();
          ackedAtT0 = acked;
          void cpuOf().then((c) => (cpuAtT0 = c));
        }
        if ((t0 !== 0 && Date.now() - t0 >= SECONDS * 1000) || acked === built.length) resolve();
        else pump();
      };
      pump();
    });
    const elapsed = (Date.now() - t0) / 1000;
    const samples = (acked - ackedAtT0) * SAMPLES;
    const cpu = (await cpuOf()) - cpuAtT0;
    ws.terminate();
    return { rate: samples / elapsed, cpu: (cpu / samples) * 1e6 };
  } finally {
    if (PROFILE) {
      // A clean exit writes the profile.
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      printProfiles(profileDir, 'the upstream');
    } else child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function baselineRun(bodies: Buffer[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'owl-bench-store-'));
  const store = await RocksSampleStore.open({ location: dir });
  try {
    const points: StorePoint[][] = bodies.map(
      (b) =>
        ingest(
          [{ type: PacketType.SERIESBATCH, body: b, uuid: UUID, src: '10.0.0.1', receivedAtMs: 0 }],
          'bench',
        ).points,
    );
    const end = Date.now() + Math.min(SECONDS, 8) * 1000;
    let n = 0;
    const t0 = Date.now();
    while (Date.now() < end && n < points.length) await store.write(points[n++] as StorePoint[]);
    return (n * SAMPLES) / ((Date.now() - t0) / 1000);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const bodies = Array.from({ length: BATCHES }, (_, i) => body(i));
console.log(
  `Upstream ingest, 1,000-sample batches over one relay connection; node ${process.version}, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const baseline = await baselineRun(bodies);
const endpoint = await endpointRun(bodies);
console.log(
  `baseline: store.write, 1,000 points per write, one at a time   ${Math.round(baseline).toLocaleString('en')} samples/s`,
);
console.log(
  `relay endpoint → store, acknowledged (durable)               ${Math.round(endpoint.rate).toLocaleString('en')} samples/s  (${endpoint.cpu.toFixed(2)} upstream CPU-s per million)`,
);
console.log(
  `ratio endpoint/baseline ${(endpoint.rate / baseline).toFixed(2)}; goal >= 400,000 samples/s: ${endpoint.rate >= 400_000 ? 'met' : 'MISSED'}`,
);
console.log(
  `load at end ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
