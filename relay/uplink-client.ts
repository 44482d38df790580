/**
 * The relay's one uplink: a WebSocket to the upstream carrying data batches,
 * config requests and pushes, status and heartbeats (docs/uplink.md). This
 * file is the connection: connect, HELLO/WELCOME, message dispatch, timers
 * and reconnects. Its parts: uplink-pump.ts (batches from the spool, acks),
 * uplink-requests.ts (config requests in flight), uplink-stuck.ts (ranges
 * the upstream keeps failing to store), uplink-tls.ts (TLS refusals). The
 * FIRMWARE channel's messages go to the relay's firmware part (`onFirmware`,
 * relay/firmware/), which sends its chunk requests and reports through
 * `sendFirmware` while connected.
 *
 * Exactly one connection exists at a time: the next one is opened only after
 * the previous one's close event. Control and config messages are written at
 * once; data batches wait for socket room (the pump).
 *
 * Reconnects (docs/uplink.md section 2): the jittered exponential backoff
 * (up to `reconnect.maxMs`, 30 s by default), except after a close code or
 * HTTP refusal that needs an operator, after TLS_FAILURES_BEFORE_SLOW
 * consecutive TLS handshake refusals, and while a range is stuck: those
 * retry every `slowRetryMs`, and are logged once per change, not per
 * attempt.
 *
 * Logs: an outage is one line when it starts, a summary a minute and one
 * line when it ends (outage-log.ts); each attempt's own lines are at debug,
 * except the first TLS refusals and refusals that need an operator. A
 * backlog's drain is reported by drain-progress.ts.
 */
import WebSocket from 'ws';
import {
  closeCodeForHttpStatus,
  decodeUplinkMessage,
  describeCloseCode,
  encodeUplinkMessage,
  ErrorCode,
  FIRMWARE_FEATURE,
  formatAuthHeader,
  Heartbeat,
  UplinkError,
  UPLINK_MAX_MESSAGE_BYTES,
  UPLINK_VERSION,
  UplinkCloseCode,
  UplinkErrorCode,
  SYSTEM_TIMERS,
  type Host,
  type HostConfigRequest,
  type NetDevice,
  type Port,
  type TimerHandle,
  type Timers,
  type UplinkMessage,
} from '../protocol/index.js';
import { Backoff, DEFAULT_BACKOFF } from './backoff.js';
import { DrainProgress } from './drain-progress.js';
import { logAttemptEnd, OutageLog, uplinkFailure, type AttemptEnd } from './outage-log.js';
import { RelayError, RelayErrorCode } from './errors.js';
import type { Released, SpoolEntry } from './spool/index.js';
import { BatchPump } from './uplink-pump.js';
import { UplinkRequests } from './uplink-requests.js';
import { StuckRanges, type StuckRange } from './uplink-stuck.js';
import { newTrace, tlsRefusal, TlsRefusals, tracedTlsConnect, type AttemptTrace } from './uplink-tls.js';

export { TLS_FAILURES_BEFORE_SLOW } from './uplink-tls.js';
export type { StuckRange } from './uplink-stuck.js';

import type { UplinkClientOptions, UplinkState } from './uplink-options.js';

export type { UplinkClientOptions, UplinkLogger, UplinkState } from './uplink-options.js';

export class UplinkClient {
  private ws: WebSocket | undefined;
  private currentState: UplinkState = 'disconnected';
  private urlIndex = 0;
  private readonly backoff: Backoff;
  private readonly pump: BatchPump;
  private readonly requests: UplinkRequests;
  /** Requests made while disconnected, sent once connected (or refused when their hold ends). */
  private readonly held = new Set<(err?: Error) => void>();
  private readonly stuckRanges: StuckRanges;
  private readonly tlsRefusals: TlsRefusals;
  private reconnectTimer: TimerHandle | undefined;
  private heartbeat: Heartbeat | undefined;
  /** Set when the upstream fell silent: the close is then logged as a heartbeat timeout. */
  private silentMs: number | undefined;
  private statusTimer: TimerHandle | undefined;
  private readonly timers: Timers;
  private readonly slowRetryMs: number;
  private readonly holdMs: number;
  private closedForSlowRetry = false;
  private attempt: AttemptTrace = newTrace(false);
  /** The attempt's upgrade was refused with an HTTP status. */
  private refusal: { status: number; closeCode: number; closeName: string } | undefined;
  private readonly outage: OutageLog;
  private readonly drain: DrainProgress;
  private failures = 0;
  private attempts = 0;

  constructor(private readonly options: UplinkClientOptions) {
    this.backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF);
    const now = options.now;
    this.timers = options.timers ?? (now === undefined ? SYSTEM_TIMERS : { ...SYSTEM_TIMERS, now });
    this.slowRetryMs = options.slowRetryMs ?? 30_000;
    this.holdMs = options.requestHoldMs ?? 30_000;
    this.requests = new UplinkRequests(options.requestTimeoutMs ?? 5000, this.timers);
    this.stuckRanges = new StuckRanges(options.log, this.slowRetryMs, options.onStuck);
    this.tlsRefusals = new TlsRefusals(options.log, this.slowRetryMs);
    this.outage = new OutageLog({
      log: options.log,
      timers: this.timers,
      ...(options.summaryMs === undefined ? {} : { summaryMs: options.summaryMs }),
      spooled: () => {
        const s = options.spool.stats();
        return { records: s.records, bytes: s.bytes, ageMs: s.ageMs };
      },
    });
    this.drain = new DrainProgress({
      log: options.log,
      timers: this.timers,
      ...(options.drainProgressMs === undefined ? {} : { progressMs: options.drainProgressMs }),
    });
    this.pump = new BatchPump({
      ...options,
      timers: this.timers,
      drain: this.drain,
      link: () => (this.currentState === 'connected' ? this.ws : undefined),
      onAcked: (first, last) => this.stuckRanges.acked(first, last),
    });
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
    return this.tlsRefusals.count;
  }

  /** The range the upstream keeps failing to store, while it is stuck. */
  get stuck(): StuckRange | undefined {
    return this.stuckRanges.stuck;
  }

  /** Batches sent and not yet acknowledged. */
  get inFlightBatches(): number {
    return this.pump.inFlightBatches;
  }

  get window(): number {
    return this.pump.window;
  }

  /** Records (samples) the spool dropped from batches not settled yet (see BatchPump.droppedInFlight). */
  get droppedInFlight(): Released {
    return this.pump.droppedInFlight;
  }

  start(): void {
    if (this.currentState === 'stopped') return;
    this.connect();
  }

  /** Close the uplink; pending requests are rejected. */
  async stop(): Promise<void> {
    this.currentState = 'stopped';
    this.timers.clearTimeout(this.reconnectTimer);
    this.outage.stop();
    this.drain.stop();
    this.pump.stop();
    this.clearConnectionTimers();
    const ws = this.ws;
    if (ws !== undefined && ws.readyState !== WebSocket.CLOSED) {
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      ws.close(UplinkCloseCode.NORMAL, 'relay stopping');
      const kill = this.timers.setTimeout(() => ws.terminate(), 2000);
      await closed;
      this.timers.clearTimeout(kill);
    }
    this.requests.failAll('relay stopping');
    this.releaseHeld(notConnected('relay stopping'));
  }

  /** Records up to `last` are durable in the spool: send them soon. */
  notifyAppended(last: number, entries?: readonly SpoolEntry[]): void {
    this.pump.appended(last, entries);
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

  /** Ask the upstream for what this relay's zone polls (devices) or checks (ports). */
  requestInventory(what: 'devices' | 'ports'): Promise<NetDevice[] | Port[]> {
    return this.request((id) => ({ type: 'INVENTORY_REQ', body: { id, what } })) as Promise<
      NetDevice[] | Port[]
    >;
  }

  /**
   * Send a FIRMWARE channel message (FIRMWARE_CHUNK_REQ, FIRMWARE_REPORT) now; false when not
   * connected (the firmware part asks again after the next WELCOME).
   */
  sendFirmware(msg: UplinkMessage): boolean {
    const ws = this.ws;
    if (this.currentState !== 'connected' || ws === undefined || ws.readyState !== WebSocket.OPEN)
      return false;
    ws.send(encodeUplinkMessage(msg));
    return true;
  }

  /** Ask the upstream for the latest agent version. */
  requestVersion(): Promise<string> {
    return this.request((id) => ({ type: 'VERSION_REQ', body: { id } })) as Promise<string>;
  }

  private request(make: (id: number) => UplinkMessage, uuid?: string): Promise<unknown> {
    const ws = this.ws;
    if (this.currentState === 'connected' && ws !== undefined) {
      return this.requests.open((msg) => ws.send(encodeUplinkMessage(msg)), make, uuid);
    }
    if (this.currentState === 'stopped') return Promise.reject(notConnected('relay stopping'));
    // An agent's first HOSTCONFIG often comes while the uplink is (re)connecting, the relay just
    // started: held for up to `requestHoldMs`, it is answered once connected, not a cycle later.
    return new Promise((resolve, reject) => {
      const timer = this.timers.setTimeout(() => go(notConnected('uplink not connected')), this.holdMs);
      const go = (err?: Error): void => {
        this.timers.clearTimeout(timer);
        this.held.delete(go);
        if (err !== undefined) reject(err);
        else this.request(make, uuid).then(resolve, reject);
      };
      this.held.add(go);
    });
  }

  /** Send (or, stopping, refuse) the requests held while disconnected. */
  private releaseHeld(err?: Error): void {
    for (const go of [...this.held]) go(err);
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
      this.reconnectTimer = this.timers.setTimeout(() => this.connect(), this.slowRetryMs);
      return;
    }
    const trace = newTrace(url.startsWith('wss:'));
    this.attempt = trace;
    this.refusal = undefined;
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
      const status = res.statusCode ?? 0;
      // Refused at the upgrade or closed after it: one rule (transport.ts).
      const closeCode = closeCodeForHttpStatus(status);
      const { name, reconnect } = describeCloseCode(closeCode);
      this.refusal = { status, closeCode, closeName: name };
      // One that needs an operator is retried slowly, so its line comes at most once per slowRetryMs.
      const fields = { url, status, closeName: name, reconnect };
      if (reconnect === 'slow') this.options.log.warn(fields, 'upstream refused the uplink');
      else this.options.log.debug?.(fields, 'upstream refused the uplink');
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
          features: this.options.onFirmware === undefined ? [] : [FIRMWARE_FEATURE],
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
      if (!isBinary) throw new UplinkError(UplinkErrorCode.PROTOCOL, 'text message on the uplink');
      msg = decodeUplinkMessage(data, { from: 'upstream' });
    } catch (err) {
      const code = (err as { code?: string }).code;
      this.options.log.error({ code, err: (err as Error).message }, 'bad message from upstream');
      ws.close(UplinkCloseCode.PROTOCOL_ERROR, code ?? 'bad message');
      return;
    }
    switch (msg.type) {
      case 'WELCOME':
        return this.onWelcome(ws, msg.body);
      case 'CREDIT':
        return this.pump.setWindow(msg.body.window);
      case 'PING':
        ws.send(encodeUplinkMessage({ type: 'PONG', body: { t: msg.body.t } }));
        return;
      case 'ERROR': {
        const { code, message, firstSeq, lastSeq } = msg.body;
        this.options.log.warn({ code, message, firstSeq, lastSeq }, 'upstream reported an error');
        if (firstSeq !== undefined && lastSeq !== undefined)
          this.stuckRanges.report({ code, message, firstSeq, lastSeq });
        return;
      }
      case 'BATCH_ACK':
        return this.pump.ack(msg.body.firstSeq, msg.body.lastSeq, msg.body.status);
      case 'FIRMWARE_OFFER':
      case 'FIRMWARE_CHUNK':
      case 'FIRMWARE_ERROR':
        return this.options.onFirmware?.(msg);
      default:
        return this.onConfigMessage(msg);
    }
  }

  /** CONFIG channel: answers to requests, and pushes. */
  private onConfigMessage(msg: UplinkMessage): void {
    switch (msg.type) {
      case 'HOSTCONFIG_RESP':
        this.options.onHostAnswer?.(msg.body.uuid, msg.body.host);
        return this.requests.settle(msg.body.id, msg.body.host);
      case 'VERSION_RESP':
        this.options.onVersion(msg.body.version);
        return this.requests.settle(msg.body.id, msg.body.version);
      case 'INVENTORY_RESP':
        return this.requests.settle(msg.body.id, msg.body.items);
      case 'CONFIG_ERROR': {
        const asked = this.requests.refuse(msg.body.id, msg.body.code, msg.body.message);
        // The host is another zone's now (moved): whatever this relay cached for it is stale.
        if (msg.body.code === ErrorCode.FORBIDDEN_ZONE && asked?.uuid !== undefined)
          this.options.onHostAnswer?.(asked.uuid, null);
        return;
      }
      case 'CONFIG_PUSH':
        return this.options.onConfigPush(msg.body.uuid, msg.body.host);
      case 'INVENTORY_PUSH':
        return this.options.onInventoryPush?.(msg.body.what, msg.body.items);
      default:
        return;
    }
  }

  private onWelcome(
    ws: WebSocket,
    welcome: { window: number; maxBatchBytes: number; heartbeatMs: number; maxBatchSamples?: number },
  ): void {
    const url = this.options.urls[this.urlIndex];
    this.currentState = 'connected';
    this.backoff.reset();
    this.failures = 0;
    this.tlsRefusals.connected(url);
    // Dropped by the spool cap meanwhile: nothing of it is left to get stuck on.
    this.stuckRanges.spoolStartsAt(this.options.spool.firstSeq());
    const { window } = welcome;
    const backlog = this.pump.connected(window, welcome.maxBatchBytes, welcome.maxBatchSamples);
    // At the connect the spool holds the backlog (and at most a turn's appends besides).
    const backlogBytes = backlog === 0 ? 0 : this.options.spool.stats().bytes;
    this.outage.connected({ url, backlog, backlogBytes, window });
    this.drain.start(backlog, backlogBytes);
    this.options.onConnect?.(url as string);
    this.releaseHeld();
    this.heartbeat = new Heartbeat({
      periodMs: welcome.heartbeatMs,
      timers: this.timers,
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
    this.statusTimer = this.timers.setInterval(sendStatus, this.options.statusIntervalMs ?? 10_000);
    this.requestVersion().then(
      () => undefined,
      () => undefined,
    );
    this.pump.pump();
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    this.ws = undefined;
    this.clearConnectionTimers();
    const silent = this.silentMs;
    this.silentMs = undefined;
    this.pump.disconnected();
    this.drain.stop();
    this.requests.failAll('uplink closed');
    const wasConnected = this.currentState === 'connected';
    if (wasConnected) this.options.onDisconnect?.();
    if (this.currentState === 'stopped') return;
    this.currentState = 'disconnected';
    const url = this.options.urls[this.urlIndex];
    if (!wasConnected) this.failures++;
    const refusedInTls = wasConnected ? undefined : tlsRefusal(this.attempt);
    const tls = this.tlsRefusals.ended(url, refusedInTls);
    const { reconnect } = describeCloseCode(code);
    const end: AttemptEnd = {
      url,
      closeCode: code,
      reason,
      wasConnected,
      silentMs: silent,
      err: this.attempt.err,
      refusal: this.refusal,
    };
    // The first TLS refusals are logged as they come (uplink-tls.ts); other attempts only at debug.
    logAttemptEnd(this.options.log, end, refusedInTls !== undefined && !tls.quiet);
    this.tlsRefusals.announce(url);
    this.outage.failed(uplinkFailure(end), wasConnected);
    // Try the next URL on every failure; the list wraps.
    this.urlIndex = (this.urlIndex + 1) % this.options.urls.length;
    if (wasConnected && this.options.urls.length === 1) this.urlIndex = 0;
    const stuck = this.stuckRanges.closed();
    const slow = reconnect === 'slow' || this.closedForSlowRetry || tls.slow || stuck;
    const delay = slow ? this.slowRetryMs : this.backoff.next();
    this.reconnectTimer = this.timers.setTimeout(() => this.connect(), delay);
  }

  private clearConnectionTimers(): void {
    this.heartbeat?.stop();
    this.timers.clearInterval(this.statusTimer);
    this.heartbeat = undefined;
    this.statusTimer = undefined;
  }
}

function notConnected(why: string): RelayError {
  return new RelayError(RelayErrorCode.UPSTREAM_UNAVAILABLE, why, { retriable: true });
}
