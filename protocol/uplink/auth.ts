/**
 * Relay authentication, carried by the WebSocket upgrade request:
 *
 *   Authorization: Bearer <relayId>.<token>
 *
 * relayId is 1–64 of [A-Za-z0-9_-] (no dot, so the first dot splits);
 * token is 1–1024 characters of RFC 6750's b64token alphabet
 * ([A-Za-z0-9-._~+/] then optional '=' padding) and may contain dots.
 * The scheme is case-insensitive (RFC 7235). Checking the token is the
 * upstream's job: compare digests in constant time, never the raw strings.
 */
import { UplinkError, UplinkErrorCode } from './errors.js';

/** A relay's identity and secret, as parsed from the Authorization header. */
export interface UplinkCredentials {
  relayId: string;
  token: string;
}

const RELAY_ID = /^[A-Za-z0-9_-]{1,64}$/;
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_TOKEN = 1024;
const MAX_HEADER = 16 + 64 + 1 + MAX_TOKEN;

function check(relayId: string, token: string): void {
  if (!RELAY_ID.test(relayId)) {
    throw new UplinkError(UplinkErrorCode.BAD_AUTH, 'relay id must be 1-64 of [A-Za-z0-9_-]');
  }
  if (token.length > MAX_TOKEN || !TOKEN.test(token)) {
    throw new UplinkError(UplinkErrorCode.BAD_AUTH, `token must be 1-${MAX_TOKEN} b64token characters`);
  }
}

/** The Authorization header value for `relayId` and `token`; throws OWL_ERR_UPLINK_BAD_AUTH on bad characters. */
export function formatAuthHeader(relayId: string, token: string): string {
  check(relayId, token);
  return `Bearer ${relayId}.${token}`;
}

/** Parse an Authorization header value; throws OWL_ERR_UPLINK_BAD_AUTH when it is missing or malformed. */
export function parseAuthHeader(value: string | undefined): UplinkCredentials {
  if (typeof value !== 'string' || value.length === 0) {
    throw new UplinkError(UplinkErrorCode.BAD_AUTH, 'missing Authorization header');
  }
  if (value.length > MAX_HEADER) {
    throw new UplinkError(UplinkErrorCode.BAD_AUTH, 'Authorization header too long');
  }
  const match = /^[ \t]*bearer[ \t]+([^ \t]+)[ \t]*$/i.exec(value);
  if (match === null) {
    throw new UplinkError(UplinkErrorCode.BAD_AUTH, 'Authorization is not a Bearer credential');
  }
  const credential = match[1] as string;
  const dot = credential.indexOf('.');
  if (dot < 0) throw new UplinkError(UplinkErrorCode.BAD_AUTH, 'Bearer credential is not <relayId>.<token>');
  const relayId = credential.slice(0, dot);
  const token = credential.slice(dot + 1);
  check(relayId, token);
  return { relayId, token };
}
