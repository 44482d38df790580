/**
 * The relay's one uplink: a WebSocket to the upstream carrying data batches,
 * config requests and pushes, status and heartbeats (docs/uplink.md).
 *
 * Data flow. Everything an agent sends is spooled first; the uplink reads
 * the spool and never holds more than the granted window of batches. At each
 * (re)connect the spool splits in two: records below `liveFrom` (the spool's
 * next sequence number at connect time) are backlog, sent oldest first with
 * the replay flag; records from `liveFrom` on are live. When both are ready
 * the sender alternates between them, so live data is never queued behind a
 * backlog of any size, and the backlog always progresses. An acknowledged
 * batch (stored or duplicate) is released from the spool; after a reconnect
 * everything unreleased is sent again and the upstream drops what it already
 * has.
 *
 * Channels. Control and config messages are written at once; a data batch is
 * written only while the socket's buffered bytes are under a threshold, so a
 * config answer waits behind at most that much data.
 *
 * Exactly one connection exists at a time: the next one is opened only after
 * the previous one's close event.
 *
 * Reconnects (docs/uplink.md section 2): the fast backoff, except after a
 * close code or HTTP refusal that needs an operator, and after
 * TLS_FAILURES_BEFORE_SLOW consecutive TLS handshake refusals (a client
 * certificate the upstream does not take, an upstream certificate the relay
 * does not trust): those retry every `slowRetryMs`, and are logged once per
 * change (start, another reason, end), not per attempt.
 */
import { isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import WebSocket, { type ClientOptions } from 'ws';
import {
  BatchAckStatus,
  buildBatch,
  CreditWindow,
  decodeUplinkMessage,
  describeCloseCode,
  encodeUplinkMessage,
  formatAuthHeader,
  isCompressedPacked,
  UPLINK_MAX_MESSAGE_BYTES,
  UPLINK_VERSION,
  UplinkCloseCode,
  UplinkErrorCode,
  Heartbeat,
  type Host,
  type HostConfigRequest,
  type UplinkMessage,
  type UplinkRelayStatus,
} from '../protocol/index.js';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { deflateOffThread } from './deflate.js';
import { RelayError, RelayErrorCode } from './errors.js';
import type { Released, Spool, SpoolEntry } from './spool/index.js';

/** Consecutive TLS handshake refusals after which the uplink retries at the slow interval. */
export const TLS_FAILURES_BEFORE_SLOW = 3;

export type UplinkState = 'connecting' | 'connected' | 'disconnected' | 'stopped';

export interface UplinkLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface UplinkClientOptions {
  relayId: string;
  token: string;
  /** Upstream URLs, tried in turn. */
  urls: string[];
  spool: Spool;
  /** TLS material for wss:// (PEM). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  batch: {
    maxRecords: number;
    maxBytes: number;
    /** Most samples in one batch (the upstream's WELCOME maxBatchSamples may lower it). */
    maxSamples?: number;
    lingerMs: number;
    compress: boolean;
    level?: number;
  };
  backoff?: BackoffOptions;
  /** Slow-reconnect delay after an authentication or protocol refusal. */
  slowRetryMs?: number;
  /** How long a config request waits for its answer. */
  requestTimeoutMs?: number;
  /** Period of RELAY_STATUS messages. */
  statusIntervalMs?: number;
  /** Bytes of just-appended records kept in memory for live batches (default 16 MiB). */
  tailBytes?: number;
  /** Told whether live data waits beyond `liveLagBytes` while connected (the relay then holds intake). */
  onLiveLag?: (behind: boolean) => void;
  /** Unsent live bytes past which the uplink counts as behind (default 8 MiB). */
  liveLagBytes?: number;
  /** Most bytes queued on the socket before data batches wait. */
  maxBufferedBytes?: number;
  status: () => UplinkRelayStatus;
  /** CONFIG_PUSH: a host's new config, or null when the upstream says to forget it. */
  onConfigPush: (uuid: string, host: Host | null) => void;
  /**
   * What the upstream answered about a host, called in message order with the
   * pushes and before the request settles: HOSTCONFIG_RESP (its host, or null),
   * and null for CONFIG_ERROR OWL_ERR_FORBIDDEN_ZONE (the host is another zone's).
   * Also called for answers that arrive after their request timed out.
   */
  onHostAnswer?: (uuid: string, host: Host | null) => void;
  onVersion: (version: string) => void;
  onBatchAck?: (status: BatchAckStatus, records: number, samples: number) => void;
  /**
   * Records (and their samples) of a batch acknowledged STORED or DUPLICATE that the spool had
   * dropped by a cap while the batch was in flight: its release did not find them. They were
   * delivered, though the spool counts them as dropped. Called once the release settled.
   */
  onDeliveredAfterDrop?: (records: number, samples: number) => void;
  /** A batch went out; `resent` when its first record was sent before (a retry after a reconnect). */
  onBatchSent?: (replay: boolean, records: number, samples: number, resent: boolean) => void;
  /** A seq range became stuck (the upstream failed to store it the same way twice), or no longer is. */
  onStuck?: (stuck: StuckRange | undefined) => void;
  onConnect?: (url: string) => void;
  log: UplinkLogger;
  now?: () => number;
}

interface PendingRequest {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** The host a HOSTCONFIG_REQ asked about. */
  uuid?: string;
}

/** How one connection attempt went, as far as the failure's cause goes. */
interface AttemptTrace {
  /** wss:// */
  tls: boolean;
  /** TCP connected. */
  tcp: boolean;
  /** The TLS handshake completed (from this side's view). */
  secure: boolean;
  /** The upstream answered the upgrade request (101 or an HTTP status). */
  responded: boolean;
  err: (Error & { code?: string }) | undefined;
}

interface BatchInFlight {
  records: number;
  samples: number;
  /** The batch's seqs, ascending, and the samples of its first i + 1 records (what the spool drops of it is a prefix). */
  seqs: number[];
  samplesUpTo: number[];
}

/** A seq range the upstream failed to store, with the same error code, `failures` times in a row. */
export interface StuckRange {
  firstSeq: number;
  lastSeq: number;
  /** The upstream's error code (e.g. OWL_ERR_STORE_IO). */
  code: string;
  message: string;
  failures: number;
}

/** Same failure, same range, this many times in a row: the range is stuck and retried slowly. */
export const STUCK_AFTER_FAILURES = 2;

export class UplinkClient {
  private ws: WebSocket | undefined;
  private currentState: UplinkState = 'disconnected';
  private urlIndex = 0;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeat: Heartbeat | undefined;
  /** Set when the upstream fell silent: the close is then logged as a heartbeat timeout. */
  private silentMs: number | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private maxBatchBytes: number;
  private maxBatchSamples: number;
  /** One past the highest seq sent by this process: a batch starting below it is a resend. */
  private sentBelow = 0;
  /** The store failure the upstream reported on this connection (ERROR with a seq range), if any. */
  private reported: Omit<StuckRange, 'failures'> | undefined;
  /** The last reported failure and how often it repeated; stuck from STUCK_AFTER_FAILURES on. */
  private failing: StuckRange | undefined;
  private readonly credit = new CreditWindow(0);
  private readonly inFlight = new Map<number, BatchInFlight>();
  /** Batches acknowledged STORED or DUPLICATE whose release has not settled yet. */
  private readonly releasing = new Set<BatchInFlight>();
  /** Connections so far (counted at WELCOME), and the releases not settled yet per connection that asked. */
  private connections = 0;
  private readonly unsettled = new Map<number, number>();
  private replayCursor = 0;
  private liveFrom = 0;
  private liveCursor = 0;
  private preferLive = true;
  /** Just-appended records (see remember()); `tail[tailHead]` has seq `tailFirst`. */
  private tail: SpoolEntry[] = [];
  private tailHead = 0;
  private tailFirst = 0;
  private tailBytesNow = 0;
  private behind = false;
  /** One past the highest sequence number known durable: only durable records are read. */
  private durableNext: number;
  private pumping = false;
  private pumpAgain = false;
  private nextRequestId = 1;
  private readonly requests = new Map<number, PendingRequest>();
  private readonly now: () => number;
  private closedForSlowRetry = false;
  private attempt: AttemptTrace = newTrace(false);
  private failures = 0;
  private attempts = 0;
  /** Consecutive attempts refused in the TLS handshake, and the reason of the last one. */
  private tlsFailures = 0;
  private tlsWhy = '';
  /** The reason logged when slow TLS retries began (or last changed); '' while not slow. */
  private tlsSlowWhy = '';

  constructor(private readonly options: UplinkClientOptions) {
    this.backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF);
    this.maxBatchBytes = options.batch.maxBytes;
    this.maxBatchSamples = options.batch.maxSamples ?? Infinity;
    this.now = options.now ?? Date.now;
    this.durableNext = options.spool.nextSeq();
  }

  get state(): UplinkState {
    return this.currentState;
  }

  /** URL of the current connection, or null. */
  get url(): string | null {
    return this.currentState === 'connected' ? (this.options.urls[this.urlIndex] ?? null) : null;
  }

  /** Connection attempts that failed since the last successful connect. */
  get failedAttempts(): number {
    return this.failures;
  }

  /** Connection attempts made since start. */
  get connectAttempts(): number {
    return this.attempts;
  }

  /** Consecutive attempts refused in the TLS handshake (reset by any other outcome). */
  get tlsHandshakeFailures(): number {
    return this.tlsFailures;
  }

  /** The range the upstream keeps failing to store, while it is stuck. */
  get stuck(): StuckRange | undefined {
    return this.failing !== undefined && this.failing.failures >= STUCK_AFTER_FAILURES
      ? { ...this.failing }
      : undefined;
  }

  /** Batches sent and not yet acknowledged. */
  get inFlightBatches(): number {
    return this.credit.pending;
  }

  get window(): number {
    return this.credit.window;
  }

  /**
   * Records (samples) the spool dropped by a cap from batches not settled yet (in flight, or
   * acknowledged STORED/DUPLICATE and being released): whether they reach the upstream is not
   * known yet. Below spool.firstSeq() every record was released or dropped, and these were not
   * released. (A RocksSpool on this thread applies a release a little before it settles; while it
   * does, its records count here too. A WorkerSpool's state changes with the answer.)
   */
  get droppedInFlight(): Released {
    const first = this.options.spool.firstSeq();
    const out: Released = { records: 0, samples: 0 };
    const count = (b: BatchInFlight): void => {
      const k = countBelow(b.seqs, first);
      if (k === 0) return;
      out.records += k;
      out.samples += b.samplesUpTo[k - 1]!;
    };
    for (const b of this.inFlight.values()) count(b);
    for (const b of this.releasing) count(b);
    return out;
  }

  start(): void {
    if (this.currentState === 'stopped') return;
    this.connect();
  }

  /** Close the uplink; pending requests are rejected. */
  async stop(): Promise<void> {
    this.currentState = 'stopped';
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.lingerTimer);
    this.clearConnectionTimers();
    const ws = this.ws;
    if (ws !== undefined && ws.readyState !== WebSocket.CLOSED) {
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      ws.close(UplinkCloseCode.NORMAL, 'relay stopping');
      const kill = setTimeout(() => ws.terminate(), 2000);
      await closed;
      clearTimeout(kill);
    }
    this.failRequests('relay stopping');
  }

  /** Records up to `last` are durable in the spool: send them soon. */
  notifyAppended(last: number, entries?: readonly SpoolEntry[]): void {
    if (entries !== undefined) this.remember(entries);
    if (last + 1 > this.durableNext) this.durableNext = last + 1;
    if (this.currentState !== 'connected') return;
    const pending = this.durableNext - this.liveCursor;
    if (pending >= this.options.batch.maxRecords || this.options.batch.lingerMs === 0) {
      this.pump();
    } else if (this.lingerTimer === undefined) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.pump();
      }, this.options.batch.lingerMs);
    }
  }

  /** Ask the upstream for a host's config. Rejects when disconnected or after the timeout. */
  requestHostConfig(request: HostConfigRequest, uuid: string, source: string): Promise<Host | null> {
    return this.request(
      (id) => ({
        type: 'HOSTCONFIG_REQ',
        body: { id, uuid, request, source },
      }),
      uuid,
    ) as Promise<Host | null>;
  }

  /** Ask the upstream for the latest agent version. */
  requestVersion(): Promise<string> {
    return this.request((id) => ({ type: 'VERSION_REQ', body: { id } })) as Promise<string>;
  }

  private request(make: (id: number) => UplinkMessage, uuid?: string): Promise<unknown> {
    const ws = this.ws;
    if (this.currentState !== 'connected' || ws === undefined) {
      return Promise.reject(
        new RelayError(RelayErrorCode.UPSTREAM_UNAVAILABLE, 'uplink not connected', { retriable: true }),
      );
    }
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.requests.delete(id);
        reject(
          new RelayError(RelayErrorCode.UPSTREAM_UNAVAILABLE, 'upstream did not answer in time', {
            retriable: true,
          }),
        );
      }, this.options.requestTimeoutMs ?? 5000);
      timer.unref();
      this.requests.set(
        id,
        uuid === undefined ? { resolve, reject, timer } : { resolve, reject, timer, uuid },
      );
      ws.send(encodeUplinkMessage(make(id)));
    });
  }

  private connect(): void {
    const url = this.options.urls[this.urlIndex] as string;
    this.currentState = 'connecting';
    this.closedForSlowRetry = false;
    let authorization: string;
    try {
      authorization = formatAuthHeader(this.options.relayId, this.options.token);
    } catch (err) {
      // No usable credentials (e.g. no token configured yet): keep spooling, retry slowly.
      this.options.log.error(
        { err: (err as Error).message },
        'uplink credentials unusable; set relayId and token',
      );
      this.currentState = 'disconnected';
      this.reconnectTimer = setTimeout(() => this.connect(), this.options.slowRetryMs ?? 30_000);
      return;
    }
    const trace = newTrace(url.startsWith('wss:'));
    this.attempt = trace;
    this.attempts++;
    const ws = new WebSocket(url, {
      headers: { authorization },
      perMessageDeflate: false,
      maxPayload: UPLINK_MAX_MESSAGE_BYTES,
      handshakeTimeout: 5000,
      // An all-zero mask, which ws then skips: masking guards proxies against
      // attacker-chosen bytes from browser scripts; the relay sends only its own
      // records, and XORing every byte cost 3-4 % of its main thread.
      generateMask: () => undefined,
      ...this.options.tls,
      ...(trace.tls ? { createConnection: tracedTlsConnect(trace) } : {}),
    });
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    ws.on('upgrade', () => (trace.responded = true));
    ws.on('open', () => this.onOpen(ws));
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(ws, data, isBinary));
    ws.on('unexpected-response', (_req, res) => {
      trace.responded = true;
      this.options.log.warn({ url, status: res.statusCode }, 'upstream refused the uplink');
      const reconnect = res.statusCode === 401 || res.statusCode === 403 ? 'slow' : 'backoff';
      this.closedForSlowRetry = reconnect === 'slow';
      ws.terminate();
    });
    // Logged at the close (always next), where it is known whether this is a repeat to stay quiet about.
    ws.on('error', (err) => (trace.err ??= err));
    ws.on('close', (code: number, reason: Buffer) => this.onClose(ws, code, reason.toString()));
  }

  private onOpen(ws: WebSocket): void {
    const spool = this.options.spool;
    ws.send(
      encodeUplinkMessage({
        type: 'HELLO',
        body: {
          version: UPLINK_VERSION,
          relay: this.options.relayId,
          spool: spool.spoolId,
          features: [],
          firstUnacked: spool.firstSeq(),
          nextSeq: spool.nextSeq(),
        },
      }),
    );
  }

  private onMessage(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    if (ws !== this.ws) return;
    this.heartbeat?.heard();
    let msg: UplinkMessage;
    try {
      if (!isBinary) throw new RelayError(RelayErrorCode.UPSTREAM_UNAVAILABLE, 'text message on the uplink');
      msg = decodeUplinkMessage(data, { from: 'upstream' });
    } catch (err) {
      this.options.log.error({ err: (err as Error).message }, 'bad message from upstream');
      ws.close(UplinkCloseCode.PROTOCOL_ERROR, 'bad message');
      return;
    }
    switch (msg.type) {
      case 'WELCOME':
        return this.onWelcome(
          ws,
          msg.body.window,
          msg.body.maxBatchBytes,
          msg.body.heartbeatMs,
          msg.body.maxBatchSamples,
        );
      case 'CREDIT':
        this.credit.setWindow(msg.body.window);
        return this.pump();
      case 'PING':
        ws.send(encodeUplinkMessage({ type: 'PONG', body: { t: msg.body.t } }));
        return;
      case 'PONG':
        return;
      case 'ERROR': {
        const { code, message, firstSeq, lastSeq } = msg.body;
        this.options.log.warn({ code, message, firstSeq, lastSeq }, 'upstream reported an error');
        if (firstSeq !== undefined && lastSeq !== undefined)
          this.reported = { code, message, firstSeq, lastSeq };
        return;
      }
      case 'BATCH_ACK':
        return this.onAck(msg.body.firstSeq, msg.body.lastSeq, msg.body.status);
      case 'HOSTCONFIG_RESP':
        this.options.onHostAnswer?.(msg.body.uuid, msg.body.host);
        return this.settle(msg.body.id, msg.body.host);
      case 'VERSION_RESP':
        this.options.onVersion(msg.body.version);
        return this.settle(msg.body.id, msg.body.version);
      case 'INVENTORY_RESP':
        return this.settle(msg.body.id, msg.body.items);
      case 'CONFIG_ERROR': {
        const pending = this.requests.get(msg.body.id);
        if (pending === undefined) return;
        this.requests.delete(msg.body.id);
        clearTimeout(pending.timer);
        // The host is another zone's now (moved): whatever this relay cached for it is stale.
        if (msg.body.code === 'OWL_ERR_FORBIDDEN_ZONE' && pending.uuid !== undefined)
          this.options.onHostAnswer?.(pending.uuid, null);
        pending.reject(
          new RelayError(RelayErrorCode.UPSTREAM_UNAVAILABLE, `${msg.body.code}: ${msg.body.message}`),
        );
        return;
      }
      case 'CONFIG_PUSH':
        this.options.onConfigPush(msg.body.uuid, msg.body.host);
        return;
      default:
        return;
    }
  }

  private onWelcome(
    ws: WebSocket,
    window: number,
    maxBatchBytes: number,
    heartbeatMs: number,
    maxBatchSamples: number | undefined,
  ): void {
    const spool = this.options.spool;
    this.currentState = 'connected';
    this.backoff.reset();
    this.failures = 0;
    this.tlsFailures = 0;
    if (this.tlsSlowWhy !== '') {
      this.tlsSlowWhy = '';
      this.options.log.info({ url: this.options.urls[this.urlIndex] }, 'uplink TLS handshake accepted again');
    }
    this.maxBatchBytes = Math.min(this.options.batch.maxBytes, maxBatchBytes);
    this.maxBatchSamples = Math.min(this.options.batch.maxSamples ?? Infinity, maxBatchSamples ?? Infinity);
    // Dropped by the spool cap meanwhile: nothing of it is left to get stuck on.
    if (this.failing !== undefined && spool.firstSeq() > this.failing.lastSeq) this.unstick('dropped');
    this.connections++;
    this.credit.reset(window);
    this.inFlight.clear();
    this.replayCursor = spool.firstSeq();
    this.liveFrom = this.durableNext;
    this.liveCursor = this.liveFrom;
    this.options.log.info(
      { url: this.options.urls[this.urlIndex], backlog: this.liveFrom - this.replayCursor, window },
      'uplink connected',
    );
    this.options.onConnect?.(this.options.urls[this.urlIndex] as string);
    this.heartbeat = new Heartbeat({
      periodMs: heartbeatMs,
      now: this.now,
      ping: (t) => ws.send(encodeUplinkMessage({ type: 'PING', body: { t } })),
      onSilent: (silentMs) => {
        // A silent upstream never completes a close handshake: drop the socket; the close logs it.
        this.silentMs = silentMs;
        ws.terminate();
      },
    });
    this.heartbeat.start();
    const sendStatus = (): void => {
      if (ws.readyState === WebSocket.OPEN)
        ws.send(encodeUplinkMessage({ type: 'RELAY_STATUS', body: this.options.status() }));
    };
    sendStatus();
    this.statusTimer = setInterval(sendStatus, this.options.statusIntervalMs ?? 10_000);
    this.statusTimer.unref();
    this.requestVersion().then(
      () => undefined,
      () => undefined,
    );
    this.pump();
  }

  private onAck(firstSeq: number, lastSeq: number, status: BatchAckStatus): void {
    const batch = this.inFlight.get(firstSeq);
    if (!this.credit.onAck(firstSeq, lastSeq) || batch === undefined) return; // not ours (an old connection's)
    this.inFlight.delete(firstSeq);
    if (status === BatchAckStatus.REJECTED) {
      this.options.log.error({ firstSeq, lastSeq }, 'upstream rejected a batch; dropping it');
    } else {
      this.releasing.add(batch);
    }
    this.options.onBatchAck?.(status, batch.records, batch.samples);
    if (this.failing !== undefined && firstSeq <= this.failing.lastSeq && lastSeq >= this.failing.firstSeq)
      this.unstick('acknowledged');
    const connection = this.connections;
    this.unsettled.set(connection, (this.unsettled.get(connection) ?? 0) + 1);
    this.options.spool.release(firstSeq, lastSeq).then(
      (removed) => {
        this.settled(connection);
        this.released(batch, removed);
      },
      (err: unknown) => {
        this.settled(connection);
        this.releasing.delete(batch);
        this.options.log.error({ err: (err as Error).message }, 'spool release failed');
      },
    );
    this.pump();
  }

  /**
   * A release settled. A connection sends nothing while releases asked on an earlier one are
   * pending: it would read (and send again) records already acknowledged.
   */
  private settled(connection: number): void {
    const left = (this.unsettled.get(connection) ?? 1) - 1;
    if (left > 0) this.unsettled.set(connection, left);
    else this.unsettled.delete(connection);
    if (connection < this.connections) this.pump();
  }

  private releasesPendingFromEarlierConnections(): boolean {
    for (const connection of this.unsettled.keys()) if (connection < this.connections) return true;
    return false;
  }

  /**
   * An acknowledged batch was released. What the release did not remove of it, the spool had
   * dropped while the batch was in flight. No other release covers its records: the batches of
   * one connection do not overlap, a new connection sends only once the releases asked on earlier
   * ones settled (see settled()), and the in-memory tail holds no record sent on an earlier
   * connection that was acknowledged while an older one was not (the upstream acks in order).
   * After STORED or DUPLICATE those records were delivered; after REJECTED they are lost.
   */
  private released(batch: BatchInFlight, removed: Released): void {
    if (!this.releasing.delete(batch)) return; // REJECTED
    const records = batch.records - removed.records;
    if (records > 0) this.options.onDeliveredAfterDrop?.(records, batch.samples - removed.samples);
  }

  private settle(id: number, value: unknown): void {
    const pending = this.requests.get(id);
    if (pending === undefined) return;
    this.requests.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(value);
  }

  /** Send batches while credit and socket room allow. Serialized: one pass at a time. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    const ws = this.ws;
    this.pumpLoop().then(
      () => {
        this.pumping = false;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.pump();
        }
      },
      (err: unknown) => {
        this.pumping = false;
        this.options.log.error({ err: (err as Error).message }, 'uplink send failed');
        ws?.terminate(); // the connection this pass served, never a newer one
      },
    );
  }

  private async pumpLoop(): Promise<void> {
    const threshold = this.options.maxBufferedBytes ?? 1024 * 1024;
    for (;;) {
      const ws = this.ws;
      if (this.currentState !== 'connected' || ws === undefined || ws.readyState !== WebSocket.OPEN) return;
      if (!this.credit.canSend() || ws.bufferedAmount > threshold) return;
      if (this.releasesPendingFromEarlierConnections()) return;
      this.pumpAgain = false;
      const liveReady = this.liveCursor < this.durableNext;
      const replayReady = this.replayCursor < this.liveFrom;
      if (!liveReady && !replayReady) return;
      const useLive = liveReady && (!replayReady || this.preferLive);
      this.preferLive = !useLive;
      if (useLive) {
        const entries = await this.take(this.liveCursor, this.durableNext);
        // The connection changed while reading: the new one has its own cursors and credit.
        if (this.ws !== ws) return;
        if (entries.length === 0) {
          this.liveCursor = this.durableNext; // dropped by the spool cap meanwhile
          continue;
        }
        this.liveCursor = (entries[entries.length - 1] as SpoolEntry).seq + 1;
        this.trimTail(this.liveCursor);
        this.reportLag();
        await this.sendBatch(ws, entries, false);
      } else {
        const entries = await this.take(this.replayCursor, this.liveFrom);
        if (this.ws !== ws) return;
        if (entries.length === 0) {
          this.replayCursor = this.liveFrom;
          continue;
        }
        this.replayCursor = (entries[entries.length - 1] as SpoolEntry).seq + 1;
        await this.sendBatch(ws, entries, true);
      }
    }
  }

  /** Read the next batch's worth of entries from `from`, below `below`, within the byte limit. */
  /**
   * Keep just-appended records in memory (bounded by `tailBytes`), so live
   * batches are built without reading back from the spool, whose reads queue
   * behind its appends. The tail holds a contiguous run of sequence numbers.
   */
  private remember(entries: readonly SpoolEntry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const end = this.tailFirst + (this.tail.length - this.tailHead);
    if (this.tail.length - this.tailHead === 0 || first.seq !== end) {
      this.tail = [];
      this.tailHead = 0;
      this.tailFirst = first.seq;
      this.tailBytesNow = 0;
    }
    for (const e of entries) {
      this.tail.push(e);
      this.tailBytesNow += e.payload.length;
    }
    this.trimTail(this.liveCursor);
    const max = this.options.tailBytes ?? 16 * 1024 * 1024;
    while (this.tailBytesNow > max && this.tailHead < this.tail.length) this.dropTailHead();
    this.reportLag();
  }

  /** Live data waiting in the tail beyond the limit, while connected: the uplink is behind. */
  private reportLag(): void {
    const behind =
      this.currentState === 'connected' && this.tailBytesNow > (this.options.liveLagBytes ?? 8 * 1024 * 1024);
    if (behind !== this.behind) {
      this.behind = behind;
      this.options.onLiveLag?.(behind);
    }
  }

  /** Forget tail entries below `seq` (already sent live). */
  private trimTail(seq: number): void {
    while (this.tailHead < this.tail.length && this.tailFirst < seq) this.dropTailHead();
    if (this.tailHead > 4096 && this.tailHead * 2 > this.tail.length) {
      this.tail = this.tail.slice(this.tailHead);
      this.tailHead = 0;
    }
  }

  private dropTailHead(): void {
    const e = this.tail[this.tailHead] as SpoolEntry;
    this.tail[this.tailHead] = undefined as unknown as SpoolEntry;
    this.tailHead++;
    this.tailFirst++;
    this.tailBytesNow -= e.payload.length;
  }

  private async take(from: number, below: number): Promise<SpoolEntry[]> {
    // Below firstSeq() everything was released or dropped by the spool cap (and counted as
    // dropped): the tail may still hold it, but it must not be sent as well.
    from = Math.max(from, this.options.spool.firstSeq());
    const held = this.tail.length - this.tailHead;
    if (held > 0 && from >= this.tailFirst && from < this.tailFirst + held) {
      const out: SpoolEntry[] = [];
      const fits = this.batchLimit();
      for (let i = this.tailHead + (from - this.tailFirst); i < this.tail.length; i++) {
        const entry = this.tail[i] as SpoolEntry;
        if (entry.seq >= below || out.length >= this.options.batch.maxRecords || !fits(entry)) break;
        out.push(entry);
      }
      return out;
    }
    const read = await this.options.spool.read(from, {
      maxRecords: this.options.batch.maxRecords,
      maxBytes: this.maxBatchBytes,
    });
    const out: SpoolEntry[] = [];
    const fits = this.batchLimit();
    for (const entry of read) {
      if (entry.seq >= below || !fits(entry)) break;
      out.push(entry);
    }
    return out;
  }

  /** A test whether the next entry still fits a batch by bytes and samples (the first always does). */
  private batchLimit(): (entry: SpoolEntry) => boolean {
    let bytes = 0;
    let samples = 0;
    let first = true;
    return (entry) => {
      bytes += entry.payload.length;
      samples += entry.samples;
      const fits = first || (bytes <= this.maxBatchBytes && samples <= this.maxBatchSamples);
      first = false;
      return fits;
    };
  }

  /**
   * Send one batch. Its credit is taken at once; the payload is deflated on
   * libuv's thread pool, so the event loop keeps serving agents meanwhile.
   */
  private async sendBatch(ws: WebSocket, entries: SpoolEntry[], replay: boolean): Promise<void> {
    let samples = 0;
    const samplesUpTo = entries.map((e) => (samples += e.samples));
    const seqs = entries.map((e) => e.seq);
    let msg = buildBatch(
      { seqs, payloads: entries.map((e) => e.payload), samples, replay },
      { compress: false },
    );
    const first = msg.body.firstSeq;
    this.credit.onSent(first, msg.body.lastSeq);
    this.inFlight.set(first, { records: entries.length, samples, seqs, samplesUpTo });
    const resent = first < this.sentBelow;
    this.sentBelow = Math.max(this.sentBelow, msg.body.lastSeq + 1);
    if (this.options.batch.compress && !mostlyCompressed(entries)) {
      const raw = msg.body.payload;
      const deflated = await deflateOffThread(raw, this.options.batch.level ?? 6);
      if (this.ws !== ws) return; // that connection is gone; its batches are resent on the next
      if (deflated.length < raw.length)
        msg = { type: 'BATCH', body: { ...msg.body, payload: deflated, compressed: true } };
    }
    ws.send(encodeUplinkMessage(msg));
    this.options.onBatchSent?.(replay, entries.length, samples, resent);
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    this.ws = undefined;
    this.clearConnectionTimers();
    const silent = this.silentMs;
    this.silentMs = undefined;
    this.credit.reset(0);
    this.inFlight.clear();
    this.failRequests('uplink closed');
    if (this.behind) {
      this.behind = false;
      this.options.onLiveLag?.(false);
    }
    if (this.currentState === 'stopped') return;
    const wasConnected = this.currentState === 'connected';
    this.currentState = 'disconnected';
    const { name, reconnect } = describeCloseCode(code);
    const url = this.options.urls[this.urlIndex];
    const slowRetryMs = this.options.slowRetryMs ?? 30_000;
    const tlsWhy = wasConnected ? undefined : tlsRefusal(this.attempt);
    if (!wasConnected) this.failures++;
    if (tlsWhy === undefined) {
      this.tlsFailures = 0;
      if (this.tlsSlowWhy !== '') {
        this.tlsSlowWhy = '';
        this.options.log.info({ url }, 'uplink no longer refused in the TLS handshake');
      }
    } else {
      this.tlsFailures++;
      this.tlsWhy = tlsWhy;
    }
    const tlsSlow = this.tlsFailures >= TLS_FAILURES_BEFORE_SLOW;
    // While TLS refusals repeat for the same reason, each attempt stays out of the log.
    const quiet = tlsSlow && this.tlsSlowWhy === this.tlsWhy;
    if (!quiet) {
      const err = this.attempt.err;
      if (err !== undefined) this.options.log.warn({ url, err: err.message, code: err.code }, 'uplink error');
      if (silent !== undefined)
        this.options.log.warn(
          { url, code: UplinkErrorCode.HEARTBEAT_TIMEOUT, silentMs: silent },
          'uplink closed: heartbeat timeout',
        );
      else this.options.log.warn({ closeCode: code, closeName: name, reason, wasConnected }, 'uplink closed');
    }
    if (tlsSlow && !quiet) {
      this.tlsSlowWhy = this.tlsWhy;
      this.options.log.error(
        { url, why: this.tlsWhy, failures: this.tlsFailures, retryMs: slowRetryMs },
        'uplink refused in the TLS handshake repeatedly (certificate or CA?); retrying slowly, logging only changes',
      );
    }
    // Try the next URL on every failure; the list wraps.
    this.urlIndex = (this.urlIndex + 1) % this.options.urls.length;
    if (wasConnected && this.options.urls.length === 1) this.urlIndex = 0;
    const stuck = this.noteFailure();
    const slow = reconnect === 'slow' || this.closedForSlowRetry || tlsSlow || stuck;
    const delay = slow ? slowRetryMs : this.backoff.next();
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /**
   * A connection closed: if the upstream reported a store failure with a seq
   * range on it, count it against the last one. The same range failing with
   * the same code STUCK_AFTER_FAILURES times in a row is stuck: logged once,
   * reported, and retried at the slow interval instead of in a tight loop,
   * until a batch over it is acknowledged. Returns true while stuck.
   */
  private noteFailure(): boolean {
    const r = this.reported;
    this.reported = undefined;
    if (r !== undefined) {
      const f = this.failing;
      const same =
        f !== undefined && f.code === r.code && f.firstSeq === r.firstSeq && f.lastSeq === r.lastSeq;
      this.failing = { ...r, failures: same ? f.failures + 1 : 1 };
      if (this.failing.failures === STUCK_AFTER_FAILURES) {
        const { code, message, firstSeq, lastSeq, failures } = this.failing;
        this.options.log.error(
          {
            code: UplinkErrorCode.BATCH_STUCK,
            upstreamCode: code,
            why: message,
            firstSeq,
            lastSeq,
            failures,
            retryMs: this.options.slowRetryMs ?? 30_000,
          },
          'uplink batch stuck: the upstream failed to store the same records twice; retrying slowly',
        );
        this.options.onStuck?.(this.stuck);
      }
    }
    return this.stuck !== undefined;
  }

  /** The failing range is gone (stored, or dropped by the spool): log the end of a stuck state once. */
  private unstick(how: 'acknowledged' | 'dropped'): void {
    const stuck = this.stuck;
    this.failing = undefined;
    if (stuck === undefined) return;
    this.options.log.info(
      { firstSeq: stuck.firstSeq, lastSeq: stuck.lastSeq, how },
      'uplink batch no longer stuck',
    );
    this.options.onStuck?.(undefined);
  }

  private clearConnectionTimers(): void {
    this.heartbeat?.stop();
    clearInterval(this.statusTimer);
    this.heartbeat = undefined;
    this.statusTimer = undefined;
  }

  private failRequests(why: string): void {
    for (const [id, pending] of this.requests) {
      clearTimeout(pending.timer);
      pending.reject(new RelayError(RelayErrorCode.UPSTREAM_UNAVAILABLE, why, { retriable: true }));
      this.requests.delete(id);
    }
  }
}

/** How many of the ascending `seqs` are below `seq`. */
function countBelow(seqs: readonly number[], seq: number): number {
  let lo = 0;
  let hi = seqs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (seqs[mid]! < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function newTrace(tls: boolean): AttemptTrace {
  return { tls, tcp: false, secure: false, responded: false, err: undefined };
}

/** ws's own TLS connect (it names the server unless the host is an IP), observed for `trace`. */
function tracedTlsConnect(trace: AttemptTrace): NonNullable<ClientOptions['createConnection']> {
  const connect = (options: ConnectionOptions & { path?: string }): TLSSocket => {
    options.path = undefined;
    if (!options.servername && options.servername !== '')
      options.servername = isIP(options.host ?? '') !== 0 ? '' : options.host;
    const socket = tlsConnect(options);
    socket.once('connect', () => (trace.tcp = true));
    socket.once('secureConnect', () => (trace.secure = true));
    return socket;
  };
  return connect as unknown as NonNullable<ClientOptions['createConnection']>;
}

/**
 * The reason (an error code) when a failed attempt was refused in the TLS
 * handshake, else undefined: TCP connected, no HTTP answer, and either the
 * handshake failed (certificate verification, an alert, a reset) or, in TLS
 * 1.3 where the server checks the client's certificate after the client is
 * done, an alert or a reset came before any answer. A timeout (no code) is
 * not counted: the upstream may just be slow.
 */
function tlsRefusal(trace: AttemptTrace): string | undefined {
  const code = trace.err?.code;
  if (!trace.tls || !trace.tcp || trace.responded || code === undefined) return undefined;
  if (!trace.secure) return code;
  return code.startsWith('ERR_SSL_') || code === 'EPROTO' || code === 'ECONNRESET' ? code : undefined;
}

/** True when at least 90% of the bytes are already-compressed PACKED records: deflating the batch would gain nothing. */
function mostlyCompressed(entries: readonly SpoolEntry[]): boolean {
  let total = 0;
  let compressed = 0;
  for (const e of entries) {
    total += e.payload.length;
    if (isCompressedPacked(e.payload)) compressed += e.payload.length;
  }
  return compressed >= total * 0.9;
}
