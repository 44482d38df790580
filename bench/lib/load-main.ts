/**
 * The load generator, in its own process: `agents` TCP connections to the
 * relay (or a sink), each from its own loopback source address, sending v3
 * SERIESDATA frames (no ACKs: v3 has none) or v4 SERIESBATCH frames (HELLO
 * first; at most `window` batches not yet ACKed per agent).
 *
 *   node --import tsx bench/lib/load-main.ts '<LoadOptions JSON>'
 *
 * Unpaced ("max"), every connection sends as fast as its socket takes it
 * (write() → false waits for 'drain'). Paced ("rate N"), a 10 ms ticker
 * hands out N samples/s round-robin; what cannot be sent (window full,
 * socket blocked) is owed and reported as `behind`.
 *
 * Stdin: `go` starts sending, `rate <N|max>`, `status`,
 * `reset-latency`, `stop`. Stdout: `READY <connections>`, `STATUS <json>`.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { defaultParser, FrameDecoder, PacketType } from '../../protocol/index.js';
import { agentIdentity, BatchPool, batchFrame, helloFrame, rng, sourceAddress, v3Frames } from './agents.js';
import { serveCommands } from './child.js';

export interface LoadOptions {
  port: number;
  agents: number;
  mode: 'v3' | 'v4';
  /** Distinct loopback source addresses (default: one per agent, at most 4096). */
  sources?: number;
  /** v3: frames written per write() call (default 32, about 5.6 KB). */
  framesPerWrite?: number;
  /** v3: distinct frames per agent, cycled (default 512). */
  framesPerAgent?: number;
  /** v4: batches in flight per agent (default 8). */
  window?: number;
  /** v4: samples per batch (default 100). */
  samplesPerBatch?: number;
  /** Samples/s over all agents; absent: unpaced. */
  rate?: number;
  /** v4: distinct pre-built sample lists shared by all agents (default 256); 0 builds every batch fresh. */
  distinctBatches?: number;
}

/** What `status` prints. */
export interface LoadStatus {
  now: number;
  connected: number;
  closed: number;
  sentFrames: number;
  sentSamples: number;
  sentBytes: number;
  ackedBatches: number;
  ackedSamples: number;
  /** Samples owed under pacing that could not be sent yet. */
  behind: number;
  /** v4: send → ACK latency since the last reset, ms. */
  ackP50: number | null;
  ackP99: number | null;
  ackMax: number | null;
  errors: string[];
}

interface Agent {
  index: number;
  socket: Socket;
  open: boolean;
  blocked: boolean;
  inFlight: number;
  seq: number;
  sentAt: Map<number, number>;
  /** v3: pre-encoded chunks and the next one to send. */
  chunks: Buffer[];
  next: number;
  id: { uuid: string; ip: string; session: string };
  rand: () => number;
}

const LAT_BUCKETS = 120_000;
const opts = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
const v4 = opts.mode === 'v4';
const window = opts.window ?? 8;
const perBatch = opts.samplesPerBatch ?? 100;
const sources = opts.sources ?? Math.min(opts.agents, 4096);
const distinct = opts.distinctBatches ?? 256;
const pool = v4 && distinct > 0 ? new BatchPool(distinct, perBatch, 99) : undefined;
const latency = new Uint32Array(LAT_BUCKETS + 1);
let latencyCount = 0;
let latencyMax: number | null = null;
let running = false;
let rate: number | undefined = opts.rate;
let budget = 0;
let rr = 0;
const st: LoadStatus = {
  now: 0,
  connected: 0,
  closed: 0,
  sentFrames: 0,
  sentSamples: 0,
  sentBytes: 0,
  ackedBatches: 0,
  ackedSamples: 0,
  behind: 0,
  ackP50: null,
  ackP99: null,
  ackMax: null,
  errors: [],
};

function latencyPercentile(p: number): number | null {
  if (latencyCount === 0) return null;
  const rank = Math.ceil((p / 100) * latencyCount);
  let seen = 0;
  for (let i = 0; i <= LAT_BUCKETS; i++) {
    seen += latency[i] as number;
    if (seen >= rank) return i;
  }
  return LAT_BUCKETS;
}

function canSend(a: Agent): boolean {
  return a.open && !a.blocked && (!v4 || a.inFlight < window);
}

/** Send one unit (a v3 chunk or a v4 batch); returns samples sent. */
function sendOne(a: Agent): number {
  let frame: Buffer;
  let samples: number;
  let frames: number;
  if (v4) {
    const seq = ++a.seq;
    const now = Date.now();
    frame =
      pool === undefined
        ? batchFrame(a.id, seq, perBatch, a.rand, now)
        : pool.frame(a.id, seq, Math.floor(a.rand() * 1e9));
    a.sentAt.set(seq, now);
    a.inFlight++;
    samples = perBatch;
    frames = 1;
  } else {
    frame = a.chunks[a.next] as Buffer;
    a.next = (a.next + 1) % a.chunks.length;
    frames = opts.framesPerWrite ?? 32;
    samples = frames;
  }
  st.sentFrames += frames;
  st.sentSamples += samples;
  st.sentBytes += frame.length;
  if (!a.socket.write(frame)) {
    a.blocked = true;
    a.socket.once('drain', () => {
      a.blocked = false;
      if (rate === undefined) pump(a);
    });
  }
  return samples;
}

/** Unpaced: send while the agent may. */
function pump(a: Agent): void {
  if (!running || rate !== undefined) return;
  let n = 0;
  while (canSend(a) && n++ < 64) sendOne(a);
  // Socket still writable after 64 units: let other agents and ACKs run, then go on.
  if (canSend(a)) setImmediate(() => pump(a));
}

const agents: Agent[] = [];

function onAck(a: Agent, seq: number): void {
  const sentAt = a.sentAt.get(seq);
  if (sentAt === undefined) return;
  a.sentAt.delete(seq);
  a.inFlight--;
  st.ackedBatches++;
  st.ackedSamples += perBatch;
  const d = Math.min(LAT_BUCKETS, Math.max(0, Date.now() - sentAt));
  latency[d] = (latency[d] as number) + 1;
  latencyCount++;
  if (latencyMax === null || d > latencyMax) latencyMax = d;
  if (rate === undefined) pump(a);
}

async function open(index: number): Promise<Agent> {
  const socket = connect({ port: opts.port, host: '127.0.0.1', localAddress: sourceAddress(index, sources) });
  socket.setNoDelay(true);
  const a: Agent = {
    index,
    socket,
    open: false,
    blocked: false,
    inFlight: 0,
    seq: 0,
    sentAt: new Map(),
    chunks: [],
    next: 0,
    id: agentIdentity(index),
    rand: rng(index + 7),
  };
  if (!v4) {
    const per = opts.framesPerWrite ?? 32;
    const frames = v3Frames(index, opts.framesPerAgent ?? 512);
    for (let i = 0; i + per <= frames.length; i += per)
      a.chunks.push(Buffer.concat(frames.slice(i, i + per)));
  }
  socket.on('error', (err) => {
    if (st.errors.length < 20) st.errors.push(`${index}: ${err.message}`);
  });
  socket.on('close', () => {
    if (a.open) st.closed++;
    a.open = false;
  });
  await once(socket, 'connect');
  if (v4) {
    const decoder = new FrameDecoder();
    let hello!: () => void;
    const helloSeen = new Promise<void>((resolve) => (hello = resolve));
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const packet = defaultParser.parse(frame);
        if (packet.type === PacketType.ACK) onAck(a, packet.body.seq);
        else if (packet.type === PacketType.HELLO) hello();
        else if (packet.type === PacketType.ERROR && st.errors.length < 20)
          st.errors.push(`${index}: ${packet.body.code} ${packet.body.message}`);
      }
    });
    socket.write(helloFrame(a.id.uuid));
    const timer = setTimeout(() => socket.destroy(new Error('no HELLO answer in 10 s')), 10_000);
    await Promise.race([helloSeen, once(socket, 'close')]);
    clearTimeout(timer);
    if (socket.destroyed)
      throw new Error(`agent ${index}: closed before HELLO answer (${st.errors.join('; ')})`);
  } else {
    socket.on('data', () => undefined);
  }
  a.open = true;
  st.connected++;
  return a;
}

// Connect in groups so a listen backlog never overflows.
for (let i = 0; i < opts.agents; i += 100) {
  const group = [];
  for (let j = i; j < Math.min(opts.agents, i + 100); j++) group.push(open(j));
  agents.push(...(await Promise.all(group)));
}
process.stdout.write(`READY ${agents.length}\n`);

let last = Date.now();
const ticker = setInterval(() => {
  const now = Date.now();
  const dt = (now - last) / 1000;
  last = now;
  if (!running || rate === undefined) return;
  budget += rate * dt;
  const unit = v4 ? perBatch : (opts.framesPerWrite ?? 32);
  let idle = 0;
  while (budget >= unit && idle < agents.length) {
    const a = agents[rr++ % agents.length] as Agent;
    if (!canSend(a)) {
      idle++;
      continue;
    }
    idle = 0;
    budget -= sendOne(a);
  }
  // Owed samples beyond one second's worth are dropped from the budget (reported, not bursted later).
  st.behind = Math.floor(budget);
  if (budget > rate) budget = rate;
}, 10);
ticker.unref();

function startUnpaced(): void {
  for (const a of agents) pump(a);
}

serveCommands(
  {
    go: () => {
      running = true;
      last = Date.now();
      if (rate === undefined) startUnpaced();
      process.stdout.write('GOING\n');
    },
    rate: (arg) => {
      rate = arg === 'max' ? undefined : Number(arg);
      budget = 0;
      if (rate === undefined && running) startUnpaced();
      process.stdout.write(`RATE ${arg}\n`);
    },
    status: () => {
      st.now = Date.now();
      st.ackP50 = latencyPercentile(50);
      st.ackP99 = latencyPercentile(99);
      st.ackMax = latencyMax;
      process.stdout.write(`STATUS ${JSON.stringify(st)}\n`);
    },
    'reset-latency': () => {
      latency.fill(0);
      latencyCount = 0;
      latencyMax = null;
      process.stdout.write('RESET\n');
    },
  },
  () => {
    running = false;
    for (const a of agents) a.socket.destroy();
  },
);
