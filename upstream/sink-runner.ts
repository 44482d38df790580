/**
 * One sink's forwarding loop: read the store's forwarding log after the sink's cursor, send,
 * and move the cursor only once the sink accepted the points; so a crash or an outage resends
 * from the cursor, never skips. Failures, by what the client classified:
 *   - retryable (network, timeout, 5xx, 429): the same points again after a jittered backoff;
 *   - 401/403: our credentials are refused: the same points again every `authRetryMs`
 *     (state `stopped-auth`, an operator must fix the config), never skipped;
 *   - any other refusal (bad data): resending cannot help: counted, logged (rate-limited), acked.
 * One log line per state change (down, up again with the outage's length), not per retry.
 */
import type { Logger } from 'pino';
import { Backoff, SYSTEM_TIMERS, type TimerHandle, type Timers } from '../protocol/index.js';
import { SinkErrorCode, type EncodedPart, type SendResult } from './sinks/index.js';
import type { EncodedForwardBatch, SampleStore } from './store/index.js';

/** What the runner needs of a sink client (RemoteWriteClient, OpenTsdbClient). */
export interface SinkClient {
  /** Send one request body the store encoded for this sink (its `encoding`). Never rejects. */
  sendPart(part: EncodedPart): Promise<SendResult>;
}

export type SinkState = 'up' | 'down' | 'stopped-auth' | 'stopped';

export interface SinkRunnerOptions {
  name: string;
  client: SinkClient;
  store: SampleStore;
  log: Logger;
  timers?: Timers;
  random?: () => number;
  /** Points per read (whole records, at least one). Default 10,000 per shard. */
  batchPoints?: number;
  /** Requests of one read sent at once, each series in one of them (Prometheus' shards). Default 1. */
  shards?: number;
  /** Wait when nothing is left to send. Default 100 ms. */
  idleMs?: number;
  /** Longest wait between retries of a failed send (jittered backoff from 100 ms). Default 30 s. */
  retryMaxMs?: number;
  /** Retry period while the sink refuses our credentials. Default 30 s. */
  authRetryMs?: number;
  /** Least time between two "refused" log lines. Default 60 s. */
  refusedLogMs?: number;
  onSent?: (samples: number) => void;
  /** A failed send; `status` is the HTTP status, or 'network' / 'timeout'. */
  onFailure?: (status: string) => void;
}

export interface SinkRunnerStatus {
  name: string;
  state: SinkState;
  /** Seq of the last log record the sink accepted, as this runner knows it (-1: none yet). */
  cursor: number;
  /** Samples the sink accepted since start. */
  sent: number;
  /** Failed sends since start (each retry counts). */
  failures: number;
  /** Reads the sink refused as bad data and were skipped. */
  refusedBatches: number;
  /** Points the encoder left out (a name or label it cannot carry). */
  droppedPoints: number;
  lastError: { message: string; status: string; atMs: number } | null;
  /** Since when the sink is down (ms epoch), null when up. */
  downSinceMs: number | null;
}

const RETRY = { initialMs: 100, maxMs: 30_000, factor: 2, minMs: 50 };

export class SinkRunner {
  private state: SinkState = 'up';
  private cursor = -1;
  private sent = 0;
  private failures = 0;
  private refusedBatches = 0;
  private droppedPoints = 0;
  private refusedUnlogged = 0;
  private lastRefusedLog = -Infinity;
  private lastError: SinkRunnerStatus['lastError'] = null;
  private downSince: number | null = null;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private timer: TimerHandle | undefined;
  private readonly timers: Timers;
  private readonly backoff: Backoff;
  private readonly stopped: Promise<undefined>;
  private resolveStopped!: (v: undefined) => void;

  constructor(private readonly options: SinkRunnerOptions) {
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.backoff = new Backoff({ ...RETRY, maxMs: options.retryMaxMs ?? RETRY.maxMs }, options.random);
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
  }

  get name(): string {
    return this.options.name;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stop: an in-flight send is abandoned (not acked: it is resent after the next start). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.resolveStopped(undefined);
    this.timers.clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
    this.state = 'stopped';
  }

  status(): SinkRunnerStatus {
    return {
      name: this.name,
      state: this.state,
      cursor: this.cursor,
      sent: this.sent,
      failures: this.failures,
      refusedBatches: this.refusedBatches,
      droppedPoints: this.droppedPoints,
      lastError: this.lastError,
      downSinceMs: this.downSince,
    };
  }

  /**
   * Read, send, ack; the next read (encoded in the store's worker) is made while a send is in
   * flight. Sends stay one at a time, in log order, so a series' samples reach the sink in time
   * order (Prometheus refuses older ones without an out-of-order window).
   */
  private async run(): Promise<void> {
    let next = this.read(this.cursor);
    while (!this.stopping) {
      const batch = await next;
      if (batch === undefined) {
        await this.sleep(RETRY.maxMs);
        next = this.read(this.cursor);
        continue;
      }
      if (batch.records === 0) {
        this.cursor = Math.max(this.cursor, batch.lastSeq);
        await this.sleep(this.options.idleMs ?? 100);
        next = this.read(this.cursor);
        continue;
      }
      next = this.read(batch.lastSeq);
      if (!(await this.deliver(batch))) {
        await next.catch(() => undefined); // read past what was not delivered: drop it
        next = this.read(this.cursor);
      }
    }
    await next;
  }

  /** The records after `afterSeq` (and after the store's cursor), encoded; undefined when the read failed (logged). */
  private async read(afterSeq: number): Promise<EncodedForwardBatch | undefined> {
    const { store, name, log } = this.options;
    try {
      const shards = this.options.shards ?? 1;
      const points = this.options.batchPoints ?? 10_000 * shards;
      return await store.readForwardEncoded(name, afterSeq, points, shards);
    } catch (err) {
      if (!this.stopping)
        log.error({ sink: name, err: (err as Error).message }, 'sink: reading the forwarding log failed');
      return undefined;
    }
  }

  /**
   * Send this batch's parts, all at once, until each is accepted or refused as data; then ack
   * (true). False when we stop or the ack failed: the batch is read and sent again later.
   */
  private async deliver(batch: EncodedForwardBatch): Promise<boolean> {
    let left = batch.parts;
    let accepted = left.length === 0;
    let refused = false;
    while (left.length > 0) {
      const sending = Promise.all(left.map((p) => this.options.client.sendPart(p)));
      const results = await Promise.race([sending, this.stopped]);
      if (results === undefined || this.stopping) return false;
      const retry: EncodedPart[] = [];
      let auth = false;
      results.forEach((r, i) => {
        if (r.ok) {
          accepted = true;
          this.sent += r.samples;
          this.options.onSent?.(r.samples);
          return;
        }
        this.failed(r);
        const isAuth = r.status === 401 || r.status === 403;
        auth ||= isAuth;
        if (r.retryable || isAuth) {
          retry.push(left[i] as EncodedPart);
        } else {
          this.refused(r, batch.lastSeq);
          refused = true;
        }
      });
      left = retry;
      if (left.length === 0) break;
      this.enter(auth ? 'stopped-auth' : 'down');
      await this.sleep(auth ? (this.options.authRetryMs ?? 30_000) : this.backoff.next());
      if (this.stopping) return false;
    }
    if (!(await this.ack(batch.lastSeq))) return false;
    this.droppedPoints += Object.values(batch.dropped).reduce((a, b) => a + b, 0);
    if (refused) this.refusedBatches++;
    if (accepted) {
      this.backoff.reset();
      this.enter('up');
    }
    return true;
  }

  /** A failed send, counted. */
  private failed(result: SendResult & { ok: false }): void {
    const status = statusLabel(result);
    this.failures++;
    this.options.onFailure?.(status);
    this.lastError = { message: result.error.message, status, atMs: this.timers.now() };
  }

  /** Move the cursor; false when the store would not (closing): the points are resent later. */
  private async ack(seq: number): Promise<boolean> {
    try {
      await this.options.store.ackForward(this.name, seq);
      this.cursor = seq;
      return true;
    } catch (err) {
      if (!this.stopping)
        this.options.log.error({ sink: this.name, err: (err as Error).message }, 'sink: ack failed');
      await this.sleep(RETRY.maxMs);
      return false;
    }
  }

  /** A state change, logged once. */
  private enter(next: SinkState): void {
    const prev = this.state;
    if (prev === next) return;
    this.state = next;
    const { log } = this.options;
    const now = this.timers.now();
    const err = this.lastError;
    if (next === 'up') {
      const downMs = this.downSince === null ? 0 : now - this.downSince;
      this.downSince = null;
      log.info({ sink: this.name, downMs, failures: this.failures }, 'sink up again');
      return;
    }
    this.downSince ??= now;
    if (next === 'down')
      log.warn({ sink: this.name, status: err?.status, err: err?.message }, 'sink down: retrying');
    else
      log.error(
        { sink: this.name, status: err?.status, err: err?.message },
        'sink refused our credentials: retrying every 30 s, nothing skipped; fix the sink config',
      );
  }

  /** A batch refused as bad data: logged at most once per `refusedLogMs`, with the count since. */
  private refused(result: SendResult & { ok: false }, lastSeq: number): void {
    const now = this.timers.now();
    this.refusedUnlogged++;
    if (now - this.lastRefusedLog < (this.options.refusedLogMs ?? 60_000)) return;
    this.options.log.warn(
      {
        sink: this.name,
        status: result.status,
        answer: result.bodyLine,
        lastSeq,
        batches: this.refusedUnlogged,
      },
      'sink refused a batch as bad data: skipped',
    );
    this.lastRefusedLog = now;
    this.refusedUnlogged = 0;
  }

  /** Wait `ms`, or less when stopped. */
  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = () => {
        this.timers.clearTimeout(this.timer);
        this.wake = undefined;
        resolve();
      };
      this.timer = this.timers.setTimeout(() => this.wake?.(), ms);
    });
  }
}

/** The `status` label of a failure: the HTTP status, else 'timeout' or 'network'. */
function statusLabel(result: SendResult & { ok: false }): string {
  if (result.status !== undefined) return String(result.status);
  return result.error.code === SinkErrorCode.TIMEOUT ? 'timeout' : 'network';
}
