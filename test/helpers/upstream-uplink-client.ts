/**
 * A scriptable relay for upstream tests: speaks the real uplink protocol
 * (docs/uplink.md) over `ws` with the codec of protocol/, so a test decides
 * every batch's boundaries, gaps and retransmissions itself. Everything the
 * upstream sends is kept in `received`; waits are on arrivals or the close,
 * with deadlines (nothing sleeps).
 */
import { WebSocket } from 'ws';
import {
  buildBatch,
  encodeRecord,
  encodeUplinkMessage,
  decodeUplinkMessage,
  formatAuthHeader,
  PacketType,
  UPLINK_MAX_MESSAGE_BYTES,
  UPLINK_PATH,
  UPLINK_VERSION,
  type BatchAckStatus,
  type HostConfigRequest,
  type PacketBodies,
  type UplinkBatch,
  type UplinkMessage,
  type UplinkMessageOf,
  type UplinkMessageType,
  type UplinkRecord,
  type UplinkWelcome,
} from '../../protocol/index.js';
import { WakeSignal } from './wake-signal.js';

/** The upstream refused the WebSocket upgrade with this HTTP status (`unexpected-response`). */
export class UpgradeRefused extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with HTTP ${status}`);
  }
}

/** One record of a batch the test builds: its seq and what it carries. */
export interface SeqRecord {
  seq: number;
  record: UplinkRecord;
}

/** How UplinkTestClient.connect opens the WebSocket. */
export interface UplinkConnectOptions {
  /** The raw Authorization header (null: none) instead of `Bearer <relayId>.<token>`. */
  authorization?: string | null;
  /** Handshake timeout. */
  ms?: number;
  /** For wss://: the CA to trust, and a client certificate and key (mTLS). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

export class UplinkTestClient {
  /** Every message the upstream sent, in order (taken ones are removed by `next`). */
  readonly received: UplinkMessage[] = [];
  closed = false;
  closeCode: number | undefined;
  closeReason = '';
  private readonly signal = new WakeSignal();
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.received.push(decodeUplinkMessage(data, { from: 'upstream' }));
      this.signal.wake();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closed = true;
      this.closeCode = code;
      this.closeReason = reason.toString();
      this.signal.wake();
    });
    ws.on('error', () => undefined);
  }

  /**
   * Open a WebSocket to `<base>/owl/v1/uplink` with `Authorization: Bearer <relayId>.<token>`
   * (or the raw `authorization` given). Rejects with UpgradeRefused when the upstream answers
   * the upgrade with an HTTP status.
   */
  static connect(
    base: string,
    relayId: string,
    token: string,
    options: UplinkConnectOptions = {},
  ): Promise<UplinkTestClient> {
    const url = base.includes(UPLINK_PATH) ? base : `${base}${UPLINK_PATH}`;
    const authorization =
      options.authorization === undefined ? formatAuthHeader(relayId, token) : options.authorization;
    const ws = new WebSocket(url, {
      ...(authorization === null ? {} : { headers: { authorization } }),
      perMessageDeflate: false,
      maxPayload: UPLINK_MAX_MESSAGE_BYTES,
      handshakeTimeout: options.ms ?? 10_000,
      ...options.tls,
    });
    ws.binaryType = 'nodebuffer';
    return new Promise((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => {
        ws.terminate();
        reject(new UpgradeRefused(res.statusCode ?? 0));
      });
      ws.once('error', reject);
      ws.once('open', () => {
        ws.off('error', reject);
        resolve(new UplinkTestClient(ws));
      });
    });
  }

  /** Connect and HELLO; resolves with the WELCOME. */
  static async open(
    base: string,
    relayId: string,
    token: string,
    spool: string,
    firstUnacked = 0,
    options: UplinkConnectOptions = {},
  ): Promise<{ client: UplinkTestClient; welcome: UplinkWelcome }> {
    const client = await UplinkTestClient.connect(base, relayId, token, options);
    const welcome = await client.hello(relayId, spool, firstUnacked);
    return { client, welcome };
  }

  send(msg: UplinkMessage): void {
    this.ws.send(encodeUplinkMessage(msg));
  }

  async hello(
    relay: string,
    spool: string,
    firstUnacked = 0,
    nextSeq = firstUnacked,
  ): Promise<UplinkWelcome> {
    this.send({
      type: 'HELLO',
      body: { version: UPLINK_VERSION, relay, spool, features: [], firstUnacked, nextSeq },
    });
    return (await this.next('WELCOME')).body;
  }

  /** Build a BATCH of exactly these records (ascending seqs; holes become the gap list). */
  static batch(
    records: readonly SeqRecord[],
    options: { compress?: boolean; replay?: boolean } = {},
  ): UplinkBatch {
    return buildBatch(
      {
        seqs: records.map((r) => r.seq),
        payloads: records.map((r) => encodeRecord(r.record)),
        samples: records.length,
        replay: options.replay ?? false,
      },
      { compress: options.compress ?? false },
    ).body;
  }

  /** Send a batch of these records and wait for its BATCH_ACK; resolves with the status. */
  async sendBatch(
    records: readonly SeqRecord[],
    options: { compress?: boolean; replay?: boolean; ms?: number } = {},
  ): Promise<BatchAckStatus> {
    return this.sendBatchBody(UplinkTestClient.batch(records, options), options.ms);
  }

  /** Send a prepared BATCH body (possibly hand-made) and wait for the BATCH_ACK of its range. */
  async sendBatchBody(body: UplinkBatch, ms = 10_000): Promise<BatchAckStatus> {
    this.send({ type: 'BATCH', body });
    const ack = await this.next(
      'BATCH_ACK',
      (m) => m.body.firstSeq === body.firstSeq && m.body.lastSeq === body.lastSeq,
      ms,
    );
    return ack.body.status;
  }

  /** HOSTCONFIG_REQ; resolves with the HOSTCONFIG_RESP or CONFIG_ERROR answering it. */
  async hostConfig(
    request: HostConfigRequest,
    uuid = request.uuid,
  ): Promise<UplinkMessageOf<'HOSTCONFIG_RESP'> | UplinkMessageOf<'CONFIG_ERROR'>> {
    const id = this.nextId++;
    this.send({
      type: 'HOSTCONFIG_REQ',
      body: { id, uuid, request, source: `${request.ip ?? '10.0.0.1'}:40000` },
    });
    const m = await this.answer(id);
    if (m.type !== 'HOSTCONFIG_RESP' && m.type !== 'CONFIG_ERROR') {
      throw new Error(`HOSTCONFIG_REQ answered with ${m.type}`);
    }
    return m;
  }

  async version(platform?: string): Promise<string> {
    const id = this.nextId++;
    this.send({ type: 'VERSION_REQ', body: platform === undefined ? { id } : { id, platform } });
    const m = await this.answer(id);
    if (m.type !== 'VERSION_RESP') throw new Error(`VERSION_REQ answered with ${m.type}`);
    return m.body.version;
  }

  async inventory(what: 'devices' | 'ports'): Promise<unknown[]> {
    const id = this.nextId++;
    this.send({ type: 'INVENTORY_REQ', body: { id, what } });
    const m = await this.answer(id);
    if (m.type !== 'INVENTORY_RESP') throw new Error(`INVENTORY_REQ answered with ${m.type}`);
    return m.body.items;
  }

  /** Take the first received message of `type` matching `match`, waiting up to `ms`. */
  async next<T extends UplinkMessageType>(
    type: T,
    match: (m: UplinkMessageOf<T>) => boolean = () => true,
    ms = 10_000,
  ): Promise<UplinkMessageOf<T>> {
    const find = (): number =>
      this.received.findIndex((m) => m.type === type && match(m as unknown as UplinkMessageOf<T>));
    await this.until(() => find() >= 0, ms, `${type}`);
    return this.received.splice(find(), 1)[0] as unknown as UplinkMessageOf<T>;
  }

  /** Wait until `predicate` holds (checked on every arrival and on close), within `ms`. */
  async until(predicate: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      if (this.closed && !predicate())
        throw new Error(`uplink closed (${this.closeCode ?? '?'} ${this.closeReason}) before ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what} not received within ${ms} ms`);
      await this.signal.sleep(left);
    }
  }

  /** Wait for the close; resolves with its code. */
  async waitClosed(ms = 10_000): Promise<number> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`uplink not closed within ${ms} ms`);
      await this.signal.sleep(left);
    }
    return this.closeCode ?? 0;
  }

  close(): Promise<number> {
    if (!this.closed) this.ws.close(1000);
    return this.waitClosed();
  }

  terminate(): void {
    this.ws.terminate();
  }

  private answer(
    id: number,
  ): Promise<
    | UplinkMessageOf<'HOSTCONFIG_RESP'>
    | UplinkMessageOf<'CONFIG_ERROR'>
    | UplinkMessageOf<'VERSION_RESP'>
    | UplinkMessageOf<'INVENTORY_RESP'>
  > {
    const answers = ['HOSTCONFIG_RESP', 'CONFIG_ERROR', 'VERSION_RESP', 'INVENTORY_RESP'];
    const find = (): number =>
      this.received.findIndex((m) => answers.includes(m.type) && (m.body as { id: number }).id === id);
    return this.until(() => find() >= 0, 10_000, `answer to request ${id}`).then(
      () => this.received.splice(find(), 1)[0] as never,
    );
  }
}

/** A record carrying agent packet `type` with `body` (JSON-encoded as an agent would send it). */
export function agentRecord<T extends PacketType>(
  type: T,
  body: PacketBodies[T],
  options: { receivedAtMs?: number; src?: string; uuid?: string } = {},
): UplinkRecord {
  return {
    receivedAtMs: options.receivedAtMs ?? Date.now(),
    type,
    src: options.src ?? '10.0.0.5:40000',
    uuid: options.uuid ?? '',
    body: Buffer.from(JSON.stringify(body)),
  };
}

export interface SampleSpec {
  uuid: string;
  /** Unix seconds (v3). */
  timestamp: number;
  value: number;
  service?: string;
  metric?: string;
  flag?: number;
  ip?: string;
}

/** A v3 SERIESDATA record. */
export function sampleRecord(s: SampleSpec, receivedAtMs = Date.now()): UplinkRecord {
  return agentRecord(
    PacketType.SERIESDATA,
    {
      uuid: s.uuid,
      ip: s.ip ?? '10.0.0.5',
      group: '',
      timestamp: s.timestamp,
      service_name: s.service ?? 'cpu',
      metric: s.metric ?? 'user',
      value: s.value,
      flag: s.flag ?? 0,
    },
    { receivedAtMs },
  );
}

/**
 * Records `seqs` of one series: seq n carries the sample at `t0 + n` seconds with value
 * `n + valueOffset` (a retransmission with another offset shows whether it was stored again).
 */
export function seqSamples(
  seqs: readonly number[],
  options: { uuid: string; t0: number; valueOffset?: number; metric?: string },
): SeqRecord[] {
  return seqs.map((seq) => ({
    seq,
    record: sampleRecord({
      uuid: options.uuid,
      timestamp: options.t0 + seq,
      value: seq + (options.valueOffset ?? 0),
      ...(options.metric === undefined ? {} : { metric: options.metric }),
    }),
  }));
}

/** Integers first..last inclusive. */
export function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}
