/**
 * Transport constants of the uplink: one WebSocket per relay at UPLINK_PATH,
 * binary messages only, and the close codes either side uses to say why it
 * hung up. The relay picks its reconnect delay from `describeCloseCode()`:
 * `backoff` codes are transient (retry with exponential backoff and jitter),
 * `slow` codes need an operator or a bug fix (retry at the maximum delay only).
 */

/** URL path of the uplink WebSocket on the upstream. */
export const UPLINK_PATH = '/owl/v1/uplink';

/** The uplink protocol version this code speaks (HELLO/WELCOME `version`). */
export const UPLINK_VERSION = 1;

/** Window a WELCOME offers by default: 8 batches of up to 2 MiB before compression in flight. */
export const UPLINK_DEFAULT_WINDOW = 8;

/** How long the upstream waits for HELLO after the upgrade before closing with 4400. */
export const UPLINK_HELLO_TIMEOUT_MS = 10_000;

/** WebSocket close codes used on the uplink (1000/1001 are the RFC 6455 ones). */
export const UplinkCloseCode = {
  /** Clean close: the relay is stopping. */
  NORMAL: 1000,
  /** The peer is going away (process exit without a reason of its own). */
  GOING_AWAY: 1001,
  /** The peer sent a bad message (decode error, wrong order, wrong direction). */
  PROTOCOL_ERROR: 4400,
  /** Unknown relay or bad token. */
  UNAUTHENTICATED: 4401,
  /** The relay is known but revoked or not allowed. */
  FORBIDDEN: 4403,
  /** Nothing received for 3 × heartbeatMs. */
  HEARTBEAT_TIMEOUT: 4408,
  /** A newer connection of the same relay took over: one uplink per relay. */
  REPLACED: 4409,
  /** The upstream has too many connections. */
  TOO_MANY_CONNECTIONS: 4429,
  /** The upstream is shutting down or overloaded: retry later. */
  UNAVAILABLE: 4503,
} as const;
export type UplinkCloseCode = (typeof UplinkCloseCode)[keyof typeof UplinkCloseCode];

/** How a relay should reconnect after a close: `backoff` from the base delay, or `slow` at the maximum delay. */
export type UplinkReconnect = 'backoff' | 'slow';

const SLOW: ReadonlySet<number> = new Set([
  UplinkCloseCode.PROTOCOL_ERROR,
  UplinkCloseCode.UNAUTHENTICATED,
  UplinkCloseCode.FORBIDDEN,
  UplinkCloseCode.REPLACED,
]);

const NAMES = new Map<number, string>(Object.entries(UplinkCloseCode).map(([name, code]) => [code, name]));

/** Name and reconnect policy of a close code; unknown codes (1006 abnormal, ...) are `backoff`. */
export function describeCloseCode(code: number): { name: string; reconnect: UplinkReconnect } {
  return { name: NAMES.get(code) ?? `CLOSE_${code}`, reconnect: SLOW.has(code) ? 'slow' : 'backoff' };
}

/**
 * The close code matching an HTTP status that refused the upgrade, so a relay
 * handles "refused at the upgrade" and "closed after it" alike.
 */
export function closeCodeForHttpStatus(status: number): UplinkCloseCode {
  switch (status) {
    case 401:
      return UplinkCloseCode.UNAUTHENTICATED;
    case 403:
      return UplinkCloseCode.FORBIDDEN;
    case 409:
      return UplinkCloseCode.REPLACED;
    case 429:
      return UplinkCloseCode.TOO_MANY_CONNECTIONS;
    default:
      return status >= 400 && status < 500 ? UplinkCloseCode.PROTOCOL_ERROR : UplinkCloseCode.UNAVAILABLE;
  }
}
