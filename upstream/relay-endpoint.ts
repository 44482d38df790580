/**
 * The upstream's end of the uplink (docs/uplink.md): relays connect over a
 * WebSocket, authenticated in the upgrade request (relay-auth.ts). Per relay
 * connection, batches are handled one at a time in arrival order:
 *
 *   all present ranges already stored      → ack DUPLICATE (nothing opened)
 *   payload does not open                  → ack REJECTED
 *   else store the records not yet stored, with their ranges and registry
 *   changes, in store writes of whole records (batch-commit.ts), then ack.
 *
 * A batch is acknowledged only after the write holding its last record is
 * durable, so a kill -9 before the ack makes the relay resend, and the
 * stored ranges turn the resend into a DUPLICATE (or store only the rest).
 *
 * Credit (credit-policy.ts): each relay gets an even share of a budget of
 * unacknowledged batches, re-sent as CREDIT whenever a relay joins or
 * leaves; a relay with more batches in flight than any window it can have
 * seen is closed (ERROR OWL_ERR_UPLINK_NO_CREDIT, close 4400).
 * One connection per relay: a newer one replaces the older (close 4409).
 *
 * Config requests are answered by relay-config.ts; config pushes
 * (CONFIG_PUSH) go to the relay of the host's zone once the registry change
 * is durable: the new config, or `host: null` ("forget this host") to the
 * zone that lost it, by a delete or a move.
 *
 * Firmware (the FIRMWARE channel: offers after WELCOME and on every change
 * of the publications, chunks, unit reports) is firmware/relay-channel.ts.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  decodeUplinkMessage,
  ErrorCode,
  encodeUplinkMessage,
  openBatch,
  UPLINK_DEFAULT_MAX_BATCH_BYTES,
  UPLINK_HELLO_TIMEOUT_MS,
  UPLINK_MAX_MESSAGE_BYTES,
  UPLINK_VERSION,
  UplinkCloseCode,
  UplinkError,
  UplinkErrorCode,
  Heartbeat,
  SYSTEM_TIMERS,
  type Timers,
  type UplinkBatch,
  type UplinkMessage,
  type UplinkInventoryPush,
  type UplinkMessageOf,
  type UplinkSequencedRecord,
} from '../protocol/index.js';
import { CreditLedger, CreditPolicy, DEFAULT_MAX_INFLIGHT_BATCHES } from './credit-policy.js';
import { checkUpgrade } from './relay-auth.js';
import { answerConfig } from './relay-config.js';
import { RelayHealthBook, type RelayHealth } from './relay-health.js';
import { commitBatches, type CommitContext, type CommitFailure } from './batch-commit.js';
import { ingest } from './ingest.js';
import { StoreErrorCode } from './store/index.js';
import type { RelayFirmware } from './firmware/index.js';

/** Most points in one store write (the store may take fewer: its maxWritePoints, 100,000 by default). */
const MAX_WRITE_POINTS = 50_000;

import type { Connection, RelayEndpointOptions, RelayState } from './relay-endpoint-types.js';

export type { RelayEndpointOptions, RelayState } from './relay-endpoint-types.js';

export class RelayEndpoint {
  private readonly wss: WebSocketServer;
  private readonly connections = new Map<string, Connection>();
  /** Connections past HELLO share the budget; keyed by connection, as a replaced one lingers until closed. */
  private readonly credit: CreditPolicy<Connection>;
  private readonly health = new RelayHealthBook();
  /** Counters for tests and the API. */
  readonly totals = { batches: 0, duplicates: 0, rejected: 0, samples: 0, storeFailures: 0 };

  private readonly timers: Timers;
  /** The FIRMWARE channel (absent: no offers are sent and FIRMWARE messages are ignored). */
  private firmware: RelayFirmware | undefined;

  constructor(private readonly options: RelayEndpointOptions) {
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.credit = new CreditPolicy({
      relayWindow: options.window,
      maxInflightBatches: options.maxInflightBatches ?? DEFAULT_MAX_INFLIGHT_BATCHES,
    });
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: UPLINK_MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
    });
    options.registry.onHostChanged = (record) =>
      this.push(record.zone, { uuid: record.host.uuid, host: record.host });
    // Deleted, or moved to another zone: that zone's relay must stop answering from its cache.
    options.registry.onHostRemoved = (uuid, zone) => this.push(zone, { uuid, host: null });
    options.registry.onZoneItemsChanged = (zone, what, items) =>
      this.send(zone, { type: 'INVENTORY_PUSH', body: { what, items } as UplinkInventoryPush });
  }

  /** CONFIG_PUSH to the zone's relay. */
  private push(zone: string, body: UplinkMessageOf<'CONFIG_PUSH'>['body']): void {
    this.send(zone, { type: 'CONFIG_PUSH', body });
  }

  /** A message to the zone's relay, when connected and past HELLO (nothing precedes WELCOME). */
  private send(zone: string, msg: UplinkMessage): void {
    const c = this.connections.get(zone);
    if (c !== undefined && c.spool !== undefined) send(c.ws, msg);
  }

  /** Serve firmware to relays from now on (they get their offers at their next WELCOME). */
  useFirmware(firmware: RelayFirmware): void {
    this.firmware = firmware;
  }

  /** Route upgrade requests of `server` at UPLINK_PATH here. */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(req, socket, head),
    );
  }

  /** Live relay connections. */
  connected(): RelayState[] {
    return [...this.connections.values()].map((c) => c.state);
  }

  /** A relay's store writes since this process started, or undefined if it sent none. */
  relayHealth(id: string): RelayHealth | undefined {
    return this.health.get(id);
  }

  isConnected(id: string): boolean {
    return this.connections.has(id);
  }

  /** Cut a relay's live uplink (its credentials were revoked): ERROR, then close 4403. */
  disconnect(id: string, message: string): void {
    const c = this.connections.get(id);
    if (c === undefined) return;
    this.options.log.warn({ relay: id, why: message }, 'relay disconnected by the upstream');
    send(c.ws, { type: 'ERROR', body: { code: ErrorCode.UNAUTHENTICATED, message } });
    c.ws.close(UplinkCloseCode.FORBIDDEN, ErrorCode.UNAUTHENTICATED);
  }

  /** Close every relay connection (server shutting down: the relays retry). */
  async close(): Promise<void> {
    for (const c of this.connections.values()) c.ws.close(UplinkCloseCode.UNAVAILABLE, 'upstream stopping');
    await Promise.all([...this.connections.values()].map((c) => c.queue));
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, text: string, why: string, relay?: string): void => {
      this.options.log.warn({ relay, remote: req.socket.remoteAddress, why }, 'relay refused');
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const v = checkUpgrade(req, this.options.relays, this.options.requireClientCert === true);
    if (!v.ok) return refuse(v.status, v.text, v.why, v.relay);
    const id = v.relayId;
    if (!this.connections.has(id) && this.connections.size >= (this.options.maxRelays ?? 10_000)) {
      return refuse(429, 'Too Many Requests', 'relay limit', id);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, id, req.socket.remoteAddress ?? ''));
  }

  private accept(ws: WebSocket, id: string, remote: string): void {
    const previous = this.connections.get(id);
    if (previous !== undefined) previous.ws.close(UplinkCloseCode.REPLACED, 'replaced by a newer connection');
    const c: Connection = {
      ws,
      state: {
        id,
        connectedAtMs: this.timers.now(),
        remote,
        status: undefined,
        window: 0,
        batches: 0,
        duplicates: 0,
        rejected: 0,
      },
      spool: undefined,
      ledger: undefined,
      // Start after the previous connection's batches are done, so two never interleave.
      queue: previous?.queue ?? Promise.resolve(),
      pending: [],
      parsed: new Map(),
      writing: false,
      heartbeat: undefined,
      silentMs: undefined,
      timer: this.timers.setTimeout(() => {
        if (c.spool === undefined) ws.close(UplinkCloseCode.PROTOCOL_ERROR, 'no HELLO');
      }, UPLINK_HELLO_TIMEOUT_MS),
    };
    this.connections.set(id, c);
    this.options.log.info({ relay: id, remote }, 'relay connected');
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(c, data, isBinary));
    ws.on('error', () => undefined);
    ws.on('close', (code: number) => {
      this.timers.clearTimeout(c.timer);
      c.heartbeat?.stop();
      this.firmware?.leave(ws);
      if (this.connections.get(id) === c) this.connections.delete(id);
      this.grant(this.credit.leave(c));
      if (c.silentMs === undefined) this.options.log.info({ relay: id, code }, 'relay disconnected');
      else
        this.options.log.warn(
          { relay: id, code: UplinkErrorCode.HEARTBEAT_TIMEOUT, silentMs: c.silentMs },
          'relay disconnected: heartbeat timeout',
        );
    });
  }

  private onMessage(c: Connection, data: Buffer, isBinary: boolean): void {
    // Closing (a protocol error, replaced, revoked): what the relay still sends is not handled.
    if (c.ws.readyState !== c.ws.OPEN) return;
    c.heartbeat?.heard();
    let msg: UplinkMessage;
    try {
      if (!isBinary) throw new UplinkError(UplinkErrorCode.PROTOCOL, 'text message');
      msg = decodeUplinkMessage(data, { from: 'relay' });
    } catch (err) {
      this.protocolError(c, (err as Error).message);
      return;
    }
    if (c.spool === undefined && msg.type !== 'HELLO')
      return this.protocolError(c, `${msg.type} before HELLO`);
    switch (msg.type) {
      case 'HELLO':
        if (c.spool !== undefined) return this.protocolError(c, 'a second HELLO');
        return this.onHello(c, msg.body.relay, msg.body.spool, msg.body.firstUnacked);
      case 'PING':
        return send(c.ws, { type: 'PONG', body: { t: msg.body.t } });
      case 'PONG':
        return;
      case 'BATCH': {
        const ledger = c.ledger as CreditLedger;
        if (!ledger.onBatch()) {
          return this.protocolError(
            c,
            `BATCH ${msg.body.firstSeq}-${msg.body.lastSeq} beyond the window: ` +
              `${ledger.inFlight} unacknowledged, window ${ledger.window}`,
            UplinkCloseCode.PROTOCOL_ERROR,
            UplinkErrorCode.NO_CREDIT,
          );
        }
        c.pending.push(msg.body);
        if (c.writing) this.preparse(c, msg.body);
        if (c.pending.length === 1) c.queue = c.queue.then(() => this.drain(c));
        return;
      }
      case 'HOSTCONFIG_REQ':
      case 'VERSION_REQ':
      case 'INVENTORY_REQ':
        return answerConfig(msg, c.state.id, this.options.registry, (m) => send(c.ws, m));
      case 'RELAY_STATUS':
        c.state.status = msg.body;
        return;
      case 'FIRMWARE_CHUNK_REQ':
      case 'FIRMWARE_REPORT':
        return this.firmware?.message(c.ws, msg);
      default:
        return;
    }
  }

  private onHello(c: Connection, relay: string, spool: string, firstUnacked: number): void {
    if (relay !== c.state.id) {
      return this.protocolError(
        c,
        'HELLO relay differs from the credentials',
        UplinkCloseCode.FORBIDDEN,
        ErrorCode.UNAUTHENTICATED,
      );
    }
    c.spool = spool;
    this.timers.clearTimeout(c.timer);
    c.queue = c.queue.then(async () => {
      // The relay never resends below firstUnacked: compact the stored set.
      const set = await this.options.ranges.relaySet(relay, spool);
      if (firstUnacked > 0) set.add(0, firstUnacked - 1);
    });
    const shares = this.credit.join(c);
    const window = shares.get(c) ?? this.options.window;
    shares.delete(c);
    c.ledger = new CreditLedger(window);
    c.state.window = window;
    send(c.ws, {
      type: 'WELCOME',
      body: {
        version: UPLINK_VERSION,
        window,
        maxBatchBytes: this.options.maxBatchBytes ?? UPLINK_DEFAULT_MAX_BATCH_BYTES,
        heartbeatMs: this.options.heartbeatMs,
        // One batch, one store write (batch-commit.ts still splits a batch from a relay that ignores it).
        maxBatchSamples: Math.min(MAX_WRITE_POINTS, this.options.store.maxWritePoints),
      },
    });
    this.grant(shares);
    c.heartbeat = new Heartbeat({
      periodMs: this.options.heartbeatMs,
      timers: this.timers,
      ping: (t) => send(c.ws, { type: 'PING', body: { t } }),
      onSilent: (silentMs) => {
        // A silent peer never completes a close handshake: drop the socket now, log once at the close.
        c.silentMs = silentMs;
        c.ws.terminate();
      },
    });
    c.heartbeat.start();
    // After WELCOME: the offers for this relay's zone.
    this.firmware?.welcome({
      relay,
      ws: c.ws,
      send: (m) => send(c.ws, m),
      protocolError: (message) => this.protocolError(c, message),
    });
  }

  /**
   * Handle every batch this relay has queued, in order, several per store
   * write (batch-commit.ts): a relay with a window of 8 then costs one synced
   * write per group, not per batch, and a batch larger than one write takes
   * several. Each batch is checked against the stored ranges plus those of
   * the records before it; acks go out once the write completing a batch is
   * durable.
   */
  private async drain(c: Connection): Promise<void> {
    // Half the window per group: while one half is being written, the relay can send the other
    // half's successors and they are parsed meanwhile (a store in a worker writes in parallel).
    const maxBatches =
      this.options.overlapWrites === true ? Math.max(1, Math.ceil(c.state.window / 2)) : Infinity;
    while (c.pending.length > 0) {
      let taken = 0;
      const failed = await commitBatches(this.commitContext(c), () => {
        const next = taken < maxBatches ? c.pending.shift() : undefined;
        if (next !== undefined) {
          taken++;
          this.totals.batches++;
          c.state.batches++;
        }
        return next;
      });
      if (failed !== undefined) return this.writeFailed(c, failed);
    }
  }

  private commitContext(c: Connection): CommitContext {
    const relay = c.state.id;
    const { ranges, registry, store, metrics } = this.options;
    return {
      relay,
      spool: c.spool as string,
      ranges,
      registry,
      store,
      maxWritePoints: Math.min(MAX_WRITE_POINTS, store.maxWritePoints),
      open: (batch) => {
        const early = c.parsed.get(batch);
        c.parsed.delete(batch);
        return early !== undefined ? early : { records: this.open(batch), early: undefined };
      },
      onRejected: (batch, err) => {
        this.totals.rejected++;
        c.state.rejected++;
        this.options.log.error({ relay, firstSeq: batch.firstSeq, err: err.message }, 'batch rejected');
      },
      onWriting: (writing) => {
        c.writing = writing;
        if (writing) for (const batch of c.pending) this.preparse(c, batch);
      },
      ...(metrics === undefined ? {} : { timeWrite: () => metrics.storeWrites.startTimer() }),
      afterWrite: (first, last) => this.options.afterWrite?.(relay, first, last),
      afterStore: (first, last) => this.options.afterStore?.(relay, first, last),
      ack: (batch, status) => {
        c.ledger?.onAck();
        metrics?.acked(status);
        send(c.ws, { type: 'BATCH_ACK', body: { firstSeq: batch.firstSeq, lastSeq: batch.lastSeq, status } });
      },
      onStored: (points) => {
        this.totals.samples += points;
        metrics?.samples.inc({ zone: relay }, points);
        this.health.stored(relay, this.timers.now());
      },
      onDuplicate: () => {
        this.totals.duplicates++;
        c.state.duplicates++;
      },
    };
  }

  /**
   * Not durable: no ack. Tell the relay which seqs failed and why (it slows
   * down when the same range fails twice), then close so it resends on a
   * fresh connection.
   */
  private writeFailed(c: Connection, failed: CommitFailure): void {
    const { err, firstSeq, lastSeq, points } = failed;
    const code = err.code ?? ErrorCode.INTERNAL;
    if (code === StoreErrorCode.FORWARD_FULL) {
      // Not a store failure: the sinks are behind (policy reject-new); the relay's spool keeps
      // the batch and resends it.
      this.options.log.warn(
        { relay: c.state.id, code, firstSeq, lastSeq, points, err: err.message },
        'forward log full',
      );
    } else {
      this.totals.storeFailures++;
      this.options.metrics?.storeWriteFailures.inc();
      this.health.failed(c.state.id, {
        code,
        message: err.message,
        firstSeq,
        lastSeq,
        atMs: this.timers.now(),
      });
      this.options.log.error(
        { relay: c.state.id, code, firstSeq, lastSeq, points, err: err.message },
        'store write failed',
      );
    }
    c.pending.length = 0;
    c.parsed.clear();
    send(c.ws, { type: 'ERROR', body: { code, message: err.message, firstSeq, lastSeq } });
    c.ws.close(UplinkCloseCode.UNAVAILABLE, 'store unavailable');
  }

  private open(batch: UplinkBatch): UplinkSequencedRecord[] {
    return openBatch(batch, {
      maxInflatedBytes: this.options.maxBatchBytes ?? UPLINK_DEFAULT_MAX_BATCH_BYTES,
    });
  }

  /**
   * Open and convert a pending batch now, while this connection's store write
   * is in flight, so its turn finds the work done. Only pure work happens
   * here: de-duplication, sessions and registry changes wait for the turn,
   * which re-converts if records turn out to be already stored. A batch that
   * fails to open is left for its turn to reject.
   */
  private preparse(c: Connection, batch: UplinkBatch): void {
    if (c.parsed.has(batch)) return;
    try {
      const records = this.open(batch);
      c.parsed.set(batch, { records, early: ingest(records, c.state.id) });
    } catch {
      // Rejected, with its log line, at its turn.
    }
  }

  /** Send CREDIT to each connection whose window changed (a relay joined or left). */
  private grant(windows: Map<Connection, number>): void {
    for (const [c, window] of windows) {
      if (c.ledger === undefined || c.ledger.window === window) continue;
      c.ledger.grant(window);
      c.state.window = window;
      send(c.ws, { type: 'CREDIT', body: { window } });
    }
  }

  private protocolError(
    c: Connection,
    message: string,
    close: number = UplinkCloseCode.PROTOCOL_ERROR,
    code: string = UplinkErrorCode.PROTOCOL,
  ): void {
    this.options.log.warn({ relay: c.state.id, message }, 'uplink protocol error');
    send(c.ws, { type: 'ERROR', body: { code, message } });
    c.ws.close(close, code);
  }
}

function send(ws: WebSocket, msg: UplinkMessage): void {
  if (ws.readyState === ws.OPEN) ws.send(encodeUplinkMessage(msg));
}
