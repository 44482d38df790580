/**
 * TLS handshake refusals on the uplink (docs/uplink.md section 2): one
 * attempt traced as far as its failure's cause goes, and repeated refusals
 * counted so that, from the TLS_FAILURES_BEFORE_SLOW-th on, the relay retries
 * at the slow interval and logs only changes (start, another reason, end),
 * not every attempt. No close code tells these apart: they need an operator
 * (a client certificate the upstream does not take, an upstream certificate
 * the relay does not trust).
 */
import { isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { ClientOptions } from 'ws';
import type { UplinkLogger } from './uplink-client.js';

/** Consecutive TLS handshake refusals after which the uplink retries at the slow interval. */
export const TLS_FAILURES_BEFORE_SLOW = 3;

/** How one connection attempt went, as far as the failure's cause goes. */
export interface AttemptTrace {
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

export function newTrace(tls: boolean): AttemptTrace {
  return { tls, tcp: false, secure: false, responded: false, err: undefined };
}

/** ws's own TLS connect (it names the server unless the host is an IP), observed for `trace`. */
export function tracedTlsConnect(trace: AttemptTrace): NonNullable<ClientOptions['createConnection']> {
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
export function tlsRefusal(trace: AttemptTrace): string | undefined {
  const code = trace.err?.code;
  if (!trace.tls || !trace.tcp || trace.responded || code === undefined) return undefined;
  if (!trace.secure) return code;
  return code.startsWith('ERR_SSL_') || code === 'EPROTO' || code === 'ECONNRESET' ? code : undefined;
}

/** Consecutive TLS refusals of the uplink, and the log lines of their changes. */
export class TlsRefusals {
  private failures = 0;
  private why = '';
  /** The reason logged when slow retries began (or last changed); '' while not slow. */
  private slowWhy = '';

  constructor(
    private readonly log: UplinkLogger,
    private readonly slowRetryMs: number,
  ) {}

  /** Consecutive attempts refused in the TLS handshake (reset by any other outcome). */
  get count(): number {
    return this.failures;
  }

  /** An attempt got through (WELCOME): the count starts again. */
  connected(url: string | undefined): void {
    this.failures = 0;
    if (this.slowWhy !== '') {
      this.slowWhy = '';
      this.log.info({ url }, 'uplink TLS handshake accepted again');
    }
  }

  /**
   * An attempt ended, refused in the TLS handshake for `why` or not at all
   * (undefined). `slow`: retry at the slow interval; `quiet`: a repeat of
   * the logged reason, so the attempt's own lines stay out of the log.
   */
  ended(url: string | undefined, why: string | undefined): { slow: boolean; quiet: boolean } {
    if (why === undefined) {
      this.failures = 0;
      if (this.slowWhy !== '') {
        this.slowWhy = '';
        this.log.info({ url }, 'uplink no longer refused in the TLS handshake');
      }
    } else {
      this.failures++;
      this.why = why;
    }
    const slow = this.failures >= TLS_FAILURES_BEFORE_SLOW;
    return { slow, quiet: slow && this.slowWhy === this.why };
  }

  /** After the attempt's lines: one error when slow retries begin or their reason changes. */
  announce(url: string | undefined): void {
    if (this.failures < TLS_FAILURES_BEFORE_SLOW || this.slowWhy === this.why) return;
    this.slowWhy = this.why;
    this.log.error(
      { url, why: this.why, failures: this.failures, retryMs: this.slowRetryMs },
      'uplink refused in the TLS handshake repeatedly (certificate or CA?); retrying slowly, logging only changes',
    );
  }
}
