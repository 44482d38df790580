/**
 * Checking what reached the upstream in crash and outage tests: records
 * indexed by relay seq and by agent batch (uuid, session, seq), a seeded
 * random source so a failing round can be replayed, and a closed port for
 * "upstream unreachable".
 */
import { createServer } from 'node:net';
import { once } from 'node:events';
import { PacketType } from '../../protocol/index.js';
import { loadBatch } from './load-agent.js';
import type { StoredRecord } from './uplink-receiver.js';

/** mulberry32: small, fast, good enough to pick kill moments reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed from OWL_TEST_SEED, else a fresh one (log it so a failure can be replayed). */
export function testSeed(): number {
  const env = process.env['OWL_TEST_SEED'];
  return env !== undefined && env !== '' ? Number(env) : Math.floor(Math.random() * 2 ** 31);
}

/** A loopback port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `uuid/session/seq` of a SERIESBATCH record. */
export function batchKey(uuid: string, session: string, seq: number): string {
  return `${uuid}/${session}/${seq}`;
}

/** Counts of what the upstream stored, built incrementally from a growing record list. */
export class UpstreamIndex {
  /** Agent batch key → how many records carry it. */
  readonly batches = new Map<string, number>();
  /** Agent batch key → the body as stored (the first copy). */
  readonly bodies = new Map<string, string>();
  /** `spool/seq` → how many records carry it. */
  readonly relaySeqs = new Map<string, number>();
  /** v3 SERIESDATA value → count (tests make values unique). */
  readonly v3Values = new Map<number, number>();
  readonly spools = new Set<string>();
  records = 0;
  otherRecords = 0;

  /** Index records[from…]; returns the new length (pass it back next time). */
  addFrom(records: readonly StoredRecord[], from = this.records): number {
    for (let i = from; i < records.length; i++) this.add(records[i] as StoredRecord);
    return records.length;
  }

  add(r: StoredRecord): void {
    this.records++;
    this.spools.add(r.spool);
    const rk = `${r.spool}/${r.seq}/${r.part}`;
    this.relaySeqs.set(rk, (this.relaySeqs.get(rk) ?? 0) + 1);
    if (r.type === PacketType.SERIESBATCH) {
      const body = JSON.parse(r.body) as { session: string; seq: number };
      const key = batchKey(r.uuid, body.session, body.seq);
      this.batches.set(key, (this.batches.get(key) ?? 0) + 1);
      if (!this.bodies.has(key)) this.bodies.set(key, r.body);
    } else if (r.type === PacketType.SERIESDATA) {
      const body = JSON.parse(r.body) as { value: number };
      this.v3Values.set(body.value, (this.v3Values.get(body.value) ?? 0) + 1);
    } else {
      this.otherRecords++;
    }
  }

  /**
   * The batches `agents` had ACKed (LoadAgents sending loadBatch bodies of
   * `samplesPerBatch` samples): how many, how many never arrived, how many
   * arrived other than byte for byte as sent.
   */
  checkAcked(
    agents: readonly { options: { uuid: string; session: string }; acked: ReadonlySet<number> }[],
    samplesPerBatch: number,
  ): { acked: number; missing: number; altered: number } {
    let acked = 0;
    let missing = 0;
    let altered = 0;
    for (const a of agents) {
      const { uuid, session } = a.options;
      for (const seq of a.acked) {
        acked++;
        const body = this.bodies.get(batchKey(uuid, session, seq));
        if (body === undefined) missing++;
        else if (body !== JSON.stringify(loadBatch(uuid, session, seq, samplesPerBatch))) altered++;
      }
    }
    return { acked, missing, altered };
  }

  /** Relay records stored more than once (must be 0: the upstream de-duplicates by relay seq). */
  relayDuplicates(): number {
    let n = 0;
    for (const c of this.relaySeqs.values()) n += c - 1;
    return n;
  }

  /** Agent batches stored more than once (possible after a relay crash; the upstream drops them later). */
  batchDuplicates(): string[] {
    const out: string[] = [];
    for (const [key, c] of this.batches) for (let i = 1; i < c; i++) out.push(key);
    return out;
  }
}
