/**
 * A receiving peer for relay tests: speaks the real uplink protocol (the
 * codec from protocol/), stores every record once per (relay, spool) using
 * the documented RangeSet algorithm, answers config requests from a map.
 * It stands in for the upstream until the real one exists; with `persistFile`
 * it fsyncs what it stored before acknowledging, so it can be killed with
 * SIGKILL and restarted (see uplink-receiver-main.ts).
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  BatchAckStatus,
  batchSeqRanges,
  decodeUplinkMessage,
  encodeUplinkMessage,
  openBatch,
  unpackSections,
  UPLINK_PACKED_TYPE,
  parseAuthHeader,
  RangeSet,
  UPLINK_MAX_MESSAGE_BYTES,
  UPLINK_PATH,
  UplinkCloseCode,
  type FirmwareOffer,
  type FirmwareUnitReport,
  type Host,
  type UplinkBatch,
  type UplinkFirmwareChunkReq,
  type UplinkMessage,
} from '../../protocol/index.js';

/** A bundle the receiver offers: its offer and the file its chunks are read from. */
export interface OfferedBundle {
  offer: FirmwareOffer;
  file: string;
}

/** A FIRMWARE_REPORT unit as received, with the receiver's clock. */
export type ReceivedReport = FirmwareUnitReport & { relay: string; receivedAt: number };

export interface StoredRecord {
  relay: string;
  spool: string;
  seq: number;
  /** Index of the packet within its relay record (a PACKED record holds several, docs/uplink.md 6.1); 0 otherwise. */
  part: number;
  type: number;
  uuid: string;
  src: string;
  receivedAtMs: number;
  body: string;
  replay: boolean;
  /** Receiver clock when stored. */
  storedAt: number;
}

/** True when `records` are in spool order: seq ascending, and the packets of one PACKED record in their order. */
export function inSpoolOrder(records: readonly StoredRecord[]): boolean {
  return records.every((r, i) => {
    const prev = records[i - 1];
    return prev === undefined || r.seq > prev.seq || (r.seq === prev.seq && r.part > prev.part);
  });
}

export interface ReceiverOptions {
  port?: number;
  /** relay id → token. */
  relays: Record<string, string>;
  window?: number;
  heartbeatMs?: number;
  maxBatchBytes?: number;
  hosts?: Record<string, Host>;
  version?: string;
  /** Append every stored record to this file (JSON lines) and fsync before acknowledging. */
  persistFile?: string;
  /** Serve wss:// with this key and certificate. */
  tls?: { key: Buffer; cert: Buffer };
  /** A slow upstream: each BATCH_ACK leaves this long after its batch arrived. */
  ackDelayMs?: number;
}

export class UplinkReceiver {
  readonly records: StoredRecord[] = [];
  readonly stored = new Map<string, RangeSet>();
  readonly hosts: Map<string, Host>;
  /** Connections authenticated and open now, per relay. */
  readonly open = new Map<string, Set<WebSocket>>();
  /** Most connections of one relay ever open at the same time. */
  maxConcurrent = 0;
  connectsTotal = 0;
  duplicateRecords = 0;
  /** While true, batches are read but not acknowledged (a stalled upstream). */
  holdAcks = false;
  /** While true, batches are stored at once but their acks wait, in order, for sendHeldAcks(). */
  deferAcks = false;
  /** Batches stored (or found duplicate) so far, acknowledged or not. */
  batchesStored = 0;
  /** Firmware bundles offered to every relay (FIRMWARE_OFFER after WELCOME and on each change). */
  readonly bundles = new Map<string, OfferedBundle>();
  /** Every FIRMWARE_CHUNK_REQ received, in order. */
  readonly chunkRequests: Array<UplinkFirmwareChunkReq & { relay: string; at: number }> = [];
  /** Bytes of FIRMWARE_CHUNK data sent. */
  firmwareBytesServed = 0;
  /** Every unit of every FIRMWARE_REPORT received, in order. */
  readonly firmwareReports: ReceivedReport[] = [];
  /** HELLO features of the last HELLO per relay. */
  readonly helloFeatures = new Map<string, string[]>();
  /** Most chunk requests of one connection ever unanswered at the same time. */
  firmwareMaxInFlight = 0;
  /** A slow link: each FIRMWARE_CHUNK leaves this long after its request. */
  chunkDelayMs = 0;
  /** While true, chunk requests are recorded but not answered. */
  holdChunks = false;
  private heldAcks: Array<() => void> = [];
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private fd: number | undefined;

  private constructor(private readonly options: ReceiverOptions) {
    this.hosts = new Map(Object.entries(options.hosts ?? {}));
    const notFound = (_req: unknown, res: { writeHead: (n: number) => { end: () => void } }): void => {
      res.writeHead(404).end();
    };
    this.http = options.tls === undefined ? createServer(notFound) : createHttpsServer(options.tls, notFound);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: UPLINK_MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
    });
    this.http.on('upgrade', (req, socket, head) => {
      let relay: string;
      try {
        const creds = parseAuthHeader(req.headers.authorization);
        if (req.url !== UPLINK_PATH || options.relays[creds.relayId] !== creds.token)
          throw new Error('refused');
        relay = creds.relayId;
      } catch {
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, relay));
    });
    if (options.persistFile !== undefined) this.load(options.persistFile);
  }

  static async start(options: ReceiverOptions): Promise<UplinkReceiver> {
    const receiver = new UplinkReceiver(options);
    receiver.http.listen(options.port ?? 0, '127.0.0.1');
    await once(receiver.http, 'listening');
    return receiver;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get url(): string {
    return `${this.options.tls === undefined ? 'ws' : 'wss'}://127.0.0.1:${this.port}${UPLINK_PATH}`;
  }

  /** Records of SERIESDATA/SERIESBATCH bodies, parsed. */
  bodies(): unknown[] {
    return this.records.map((r) => JSON.parse(r.body) as unknown);
  }

  /** Push a config change to every connected relay. */
  pushConfig(uuid: string, host: Host): void {
    this.hosts.set(uuid, host);
    for (const set of this.open.values()) {
      for (const ws of set) ws.send(encodeUplinkMessage({ type: 'CONFIG_PUSH', body: { uuid, host } }));
    }
  }

  /** Send the acks deferAcks kept back, in the order of their batches; returns how many. */
  sendHeldAcks(): number {
    const acks = this.heldAcks;
    this.heldAcks = [];
    for (const ack of acks) ack();
    return acks.length;
  }

  /**
   * Offer a bundle file to every relay (at once to those connected, after WELCOME to the rest).
   * `meta` is what the offer claims: a test may claim what the file is not.
   */
  offerFirmware(
    file: string,
    meta: Pick<FirmwareOffer, 'program' | 'arch' | 'version'> & { percent?: number },
  ): FirmwareOffer {
    const bytes = readFileSync(file);
    const offer: FirmwareOffer = {
      bundle: createHash('sha256').update(bytes).digest('hex'),
      program: meta.program,
      arch: meta.arch,
      version: meta.version,
      size: bytes.length,
      percent: meta.percent ?? 100,
    };
    this.bundles.set(offer.bundle, { offer, file });
    this.sendOffers();
    return offer;
  }

  /** Stop offering a bundle (relays get the new list). */
  withdrawFirmware(bundle: string): void {
    this.bundles.delete(bundle);
    this.sendOffers();
  }

  /** The latest report received of the unit (`uuid` absent: a relay's own). */
  lastReport(relay: string, uuid?: string): ReceivedReport | undefined {
    for (let i = this.firmwareReports.length - 1; i >= 0; i--) {
      const r = this.firmwareReports[i] as ReceivedReport;
      if (r.relay === relay && r.uuid === uuid) return r;
    }
    return undefined;
  }

  /** Bytes asked for by chunk requests of `bundle`. */
  requestedBytes(bundle: string): number {
    return this.chunkRequests.filter((r) => r.bundle === bundle).reduce((n, r) => n + r.length, 0);
  }

  private sendOffers(): void {
    for (const set of this.open.values()) for (const ws of set) this.sendOffer(ws);
  }

  private sendOffer(ws: WebSocket): void {
    const bundles = [...this.bundles.values()].map((b) => b.offer);
    ws.send(encodeUplinkMessage({ type: 'FIRMWARE_OFFER', body: { bundles } }));
  }

  private serveChunk(ws: WebSocket, req: UplinkFirmwareChunkReq, answered: () => void): void {
    const bundle = this.bundles.get(req.bundle);
    if (bundle === undefined || req.offset >= bundle.offer.size) answered();
    if (bundle === undefined) {
      const body = {
        id: req.id,
        bundle: req.bundle,
        code: 'OWL_ERR_FIRMWARE_UNKNOWN_BUNDLE',
        message: 'not offered',
      };
      ws.send(encodeUplinkMessage({ type: 'FIRMWARE_ERROR', body }));
      return;
    }
    if (req.offset >= bundle.offer.size) {
      const body = {
        id: req.id,
        bundle: req.bundle,
        code: 'OWL_ERR_FIRMWARE_BAD_RANGE',
        message: 'bad range',
      };
      ws.send(encodeUplinkMessage({ type: 'FIRMWARE_ERROR', body }));
      return;
    }
    const length = Math.min(req.length, bundle.offer.size - req.offset);
    const data = Buffer.alloc(length);
    const fd = openSync(bundle.file, 'r');
    try {
      readSync(fd, data, 0, length, req.offset);
    } finally {
      closeSync(fd);
    }
    const send = (): void => {
      answered();
      if (ws.readyState !== ws.OPEN) return;
      this.firmwareBytesServed += length;
      ws.send(
        encodeUplinkMessage({ type: 'FIRMWARE_CHUNK', body: { id: req.id, offset: req.offset, data } }),
      );
    };
    if (this.chunkDelayMs > 0) setTimeout(send, this.chunkDelayMs);
    else send();
  }

  /** Cut every relay connection at once (no close handshake), as an outage would. */
  dropConnections(): void {
    for (const set of this.open.values()) for (const ws of set) ws.terminate();
  }

  /** Grant a new window to every connected relay. */
  setWindow(window: number): void {
    for (const set of this.open.values()) {
      for (const ws of set) ws.send(encodeUplinkMessage({ type: 'CREDIT', body: { window } }));
    }
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    if (this.fd !== undefined) closeSync(this.fd);
  }

  private accept(ws: WebSocket, relay: string): void {
    this.connectsTotal++;
    let set = this.open.get(relay);
    if (set === undefined) {
      set = new Set();
      this.open.set(relay, set);
    }
    // One uplink per relay: a newer connection replaces the older one.
    for (const old of set) old.close(UplinkCloseCode.REPLACED, 'replaced');
    set.add(ws);
    this.maxConcurrent = Math.max(this.maxConcurrent, set.size);
    ws.once('close', () => set.delete(ws));
    let spool: string | undefined;
    /** Chunk requests of this connection not answered yet. */
    let unanswered = 0;
    ws.on('message', (data: Buffer) => {
      let msg: UplinkMessage;
      try {
        msg = decodeUplinkMessage(data, { from: 'relay' });
      } catch {
        ws.close(UplinkCloseCode.PROTOCOL_ERROR, 'bad message');
        return;
      }
      const send = (m: UplinkMessage): void => ws.send(encodeUplinkMessage(m));
      switch (msg.type) {
        case 'HELLO':
          spool = msg.body.spool;
          this.helloFeatures.set(relay, msg.body.features);
          send({
            type: 'WELCOME',
            body: {
              version: 1,
              window: this.options.window ?? 8,
              maxBatchBytes: this.options.maxBatchBytes ?? 2 * 1024 * 1024,
              heartbeatMs: this.options.heartbeatMs ?? 15_000,
            },
          });
          if (this.bundles.size > 0) this.sendOffer(ws);
          return;
        case 'FIRMWARE_CHUNK_REQ':
          this.chunkRequests.push({ ...msg.body, relay, at: Date.now() });
          this.firmwareMaxInFlight = Math.max(this.firmwareMaxInFlight, ++unanswered);
          if (!this.holdChunks) this.serveChunk(ws, msg.body, () => unanswered--);
          return;
        case 'FIRMWARE_REPORT':
          for (const unit of msg.body.units)
            this.firmwareReports.push({ ...unit, relay, receivedAt: Date.now() });
          return;
        case 'PING':
          send({ type: 'PONG', body: { t: msg.body.t } });
          return;
        case 'BATCH': {
          if (spool === undefined || this.holdAcks) return;
          const status = this.store(relay, spool, msg.body);
          this.batchesStored++;
          const ack = (): void =>
            send({
              type: 'BATCH_ACK',
              body: { firstSeq: msg.body.firstSeq, lastSeq: msg.body.lastSeq, status },
            });
          if (this.deferAcks) this.heldAcks.push(ack);
          else if (this.options.ackDelayMs === undefined) ack();
          else setTimeout(ack, this.options.ackDelayMs);
          return;
        }
        case 'HOSTCONFIG_REQ':
          send({
            type: 'HOSTCONFIG_RESP',
            body: { id: msg.body.id, uuid: msg.body.uuid, host: this.hosts.get(msg.body.uuid) ?? null },
          });
          return;
        case 'VERSION_REQ':
          send({ type: 'VERSION_RESP', body: { id: msg.body.id, version: this.options.version ?? '3.1' } });
          return;
        default:
          return;
      }
    });
  }

  private store(relay: string, spool: string, batch: UplinkBatch): BatchAckStatus {
    const key = `${relay}/${spool}`;
    let set = this.stored.get(key);
    if (set === undefined) {
      set = new RangeSet();
      this.stored.set(key, set);
    }
    const present = batchSeqRanges(batch);
    if (present.every(([f, l]) => set.has(f, l))) {
      this.duplicateRecords += batch.records;
      return BatchAckStatus.DUPLICATE;
    }
    const fresh: StoredRecord[] = [];
    for (const r of openBatch(batch)) {
      if (set.covers(r.seq)) {
        this.duplicateRecords++;
        continue;
      }
      const packets =
        r.type === UPLINK_PACKED_TYPE
          ? unpackSections(r.body).flatMap((s) => s.frames.map((f) => ({ ...s, ...f })))
          : [r];
      packets.forEach((p, part) =>
        fresh.push({
          relay,
          spool,
          seq: r.seq,
          part,
          type: p.type,
          uuid: p.uuid,
          src: p.src,
          receivedAtMs: r.receivedAtMs,
          body: p.body.toString(),
          replay: batch.replay,
          storedAt: Date.now(),
        }),
      );
    }
    if (this.options.persistFile !== undefined && fresh.length > 0) {
      this.fd ??= openSync(this.options.persistFile, 'a');
      appendFileSync(this.fd, fresh.map((r) => JSON.stringify(r)).join('\n') + '\n');
      fsyncSync(this.fd);
    }
    this.records.push(...fresh);
    for (const [f, l] of present) set.add(f, l);
    return fresh.length === 0 ? BatchAckStatus.DUPLICATE : BatchAckStatus.STORED;
  }

  private load(file: string): void {
    if (!existsSync(file)) return;
    const lines = readFileSync(file, 'utf8').split('\n');
    // The packets of one PACKED record share its seq: a record is known by seq and part.
    const loaded = new Set<string>();
    for (const line of lines) {
      if (line === '') continue;
      let r: StoredRecord;
      try {
        r = JSON.parse(line) as StoredRecord;
      } catch {
        continue; // a torn last line: its batch was never acknowledged
      }
      const key = `${r.relay}/${r.spool}`;
      let set = this.stored.get(key);
      if (set === undefined) {
        set = new RangeSet();
        this.stored.set(key, set);
      }
      const id = `${key}/${r.seq}/${r.part}`;
      if (loaded.has(id)) continue;
      loaded.add(id);
      set.add(r.seq, r.seq);
      this.records.push(r);
    }
  }
}
