/**
 * Rig for the relay's agent-side robustness tests: a real relay (RocksDB spool
 * on a temp dir) behind a real uplink receiver, well-behaved agents whose
 * every sample is numbered, and an exactly-once check of what arrived upstream.
 */
import type { Socket } from 'node:net';
import { encodePacket, PacketType, type BatchSample, type Host } from '../../protocol/index.js';
import type { AgentConnection, Relay, RelayConfigInput } from '../../relay/index.js';
import { eventually } from './agent-client.js';
import { RawPeer, type PeerOptions } from './agent-peer.js';
import { RELAY_ID, RELAY_TOKEN, startRelay, tempDir } from './relay-harness.js';
import { UplinkReceiver, type StoredRecord } from './uplink-receiver.js';

export const ZONE_TOKEN = 'zone-token-robust';

export interface Rig {
  relay: Relay;
  receiver: UplinkReceiver;
  port: number;
}

/** Receiver + relay (uplink connected), torn down after the test. */
export async function startRig(
  t: { teardown: (fn: () => Promise<void> | void) => void },
  overrides: RelayConfigInput = {},
  hosts: Record<string, Host> = {},
): Promise<Rig> {
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN }, hosts });
  const dir = tempDir('owl-agent-');
  const cleanup = async (relay?: Relay): Promise<void> => {
    await relay?.stop();
    await receiver.close();
    dir.remove();
  };
  let started: Awaited<ReturnType<typeof startRelay>>;
  try {
    started = await startRelay(receiver.url, dir.path, { zoneToken: ZONE_TOKEN, ...overrides });
  } catch (err) {
    await cleanup();
    throw err;
  }
  const { relay, port } = started;
  t.teardown(() => cleanup(relay));
  await eventually(() => relay.uplink.state === 'connected', 10_000, 'uplink connected');
  return { relay, receiver, port };
}

/** Key of one sample upstream: which host sent which value. */
export function sampleKey(uuid: string, value: number): string {
  return `${uuid}#${value}`;
}

/** Keys of the samples one upstream record carries (SERIESDATA: one; SERIESBATCH: one per sample). */
export function recordSampleKeys(r: StoredRecord): string[] {
  if (r.type === PacketType.SERIESDATA) {
    const body = JSON.parse(r.body) as { uuid: string; value: number };
    return [sampleKey(body.uuid, body.value)];
  }
  if (r.type === PacketType.SERIESBATCH) {
    const body = JSON.parse(r.body) as { uuid?: string; samples: BatchSample[] };
    return body.samples.map((s) => sampleKey(s.uuid ?? body.uuid ?? r.uuid, s.value));
  }
  return [];
}

/** How many times each sample (uuid, value) arrived upstream, over SERIESDATA and SERIESBATCH records. */
export function upstreamSampleCounts(records: readonly StoredRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of records) for (const key of recordSampleKeys(r)) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
}

/**
 * Wait until every one of `keys` has arrived upstream. Reads only records that
 * are new since the last poll, so waiting costs the relay (same process) little.
 */
export async function waitUpstream(
  receiver: UplinkReceiver,
  keys: Iterable<string>,
  ms = 15_000,
  what = 'samples upstream',
): Promise<void> {
  const missing = new Set(keys);
  let seen = 0;
  try {
    await eventually(
      () => {
        for (; seen < receiver.records.length; seen++) {
          for (const key of recordSampleKeys(receiver.records[seen] as StoredRecord)) missing.delete(key);
        }
        return missing.size === 0;
      },
      ms,
      what,
    );
  } catch (err) {
    throw new Error(`${String(err)}: ${missing.size} missing, e.g. ${[...missing].slice(0, 3).join(', ')}`);
  }
}

/**
 * Problems with exactly-once delivery of `sent` keys: missing, duplicated, or
 * upstream samples of these agents' uuids that nobody sent. Empty when all is well.
 */
export function exactlyOnceProblems(
  records: readonly StoredRecord[],
  sent: Iterable<string>,
  uuids: ReadonlySet<string>,
): string[] {
  const counts = upstreamSampleCounts(records);
  const expected = new Set(sent);
  const problems: string[] = [];
  for (const key of expected) {
    const n = counts.get(key) ?? 0;
    if (n !== 1) problems.push(`${key} arrived ${n} times`);
  }
  for (const key of counts.keys()) {
    const uuid = key.slice(0, key.lastIndexOf('#'));
    if (uuids.has(uuid) && !expected.has(key))
      problems.push(`${key} arrived but was never acknowledged/sent`);
  }
  return problems.slice(0, 20);
}

/**
 * A well-behaved agent that numbers its samples 0, 1, 2, … A v3 agent writes
 * SERIESDATA frames (nothing acknowledged); a v4 agent sends one SERIESBATCH per
 * round and waits for its ACK, so `sent` holds only acknowledged samples.
 */
export class SteadyAgent {
  /** Keys of the samples sent (v3) or acknowledged (v4). */
  readonly sent: string[] = [];
  private nextValue = 0;
  private seq = 0;

  private constructor(
    readonly peer: RawPeer,
    readonly uuid: string,
    readonly mode: 'v3' | 'v4',
  ) {}

  static async open(
    port: number,
    mode: 'v3' | 'v4',
    uuid: string,
    options: PeerOptions & { token?: string } = {},
  ): Promise<SteadyAgent> {
    const peer = await RawPeer.connect(port, options);
    if (mode === 'v4') await peer.hello(options.token ?? ZONE_TOKEN, uuid);
    return new SteadyAgent(peer, uuid, mode);
  }

  /** Send `n` samples; a v4 agent waits for the batch's ACK. */
  async round(n: number, ackMs = 10_000): Promise<void> {
    const values = Array.from({ length: n }, () => this.nextValue++);
    const ts = 1_700_000_000;
    if (this.mode === 'v3') {
      const frames = values.map((value) =>
        encodePacket(PacketType.SERIESDATA, {
          uuid: this.uuid,
          ip: '127.0.0.1',
          group: '',
          timestamp: ts + value,
          service_name: 'robust',
          metric: 'm',
          value,
          flag: 0,
        }),
      );
      await this.peer.write(Buffer.concat(frames));
      for (const v of values) this.sent.push(sampleKey(this.uuid, v));
      return;
    }
    const seq = ++this.seq;
    await this.peer.send(PacketType.SERIESBATCH, {
      session: `steady-${this.uuid}`,
      seq,
      samples: values.map((value) => ({ metric: 'm', value, timestamp_ms: ts * 1000 + value })),
    });
    await this.peer.until((p) => p.acks().some((a) => a.seq === seq), ackMs, `ACK ${seq} for ${this.uuid}`);
    for (const v of values) this.sent.push(sampleKey(this.uuid, v));
  }
}

/** Count of connections the relay closed on `code` (from its metrics). */
export async function agentErrorCount(relay: Relay, code: string): Promise<number> {
  const metric = await relay.metrics.agentErrors.get();
  return metric.values.find((v) => v.labels.code === code)?.value ?? 0;
}

/** Count of connections refused at accept for `reason`. */
export async function rejectedCount(relay: Relay, reason: string): Promise<number> {
  const metric = await relay.metrics.connectionsRejected.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

/**
 * The relay's side of `peer`'s connection, for boundedness checks: its
 * AgentConnection and socket (a private field, read here on purpose: how much
 * the relay buffers for one peer is not visible from outside).
 */
export function relaySideOf(relay: Relay, peer: RawPeer): { connection: AgentConnection; socket: Socket } {
  const port = peer.socket.localPort;
  for (const connection of relay.server.openConnections) {
    const socket = (connection as unknown as { socket: Socket }).socket;
    if (socket.remotePort === port) return { connection, socket };
  }
  throw new Error(`the relay has no connection from port ${String(port)}`);
}
