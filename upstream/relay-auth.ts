/**
 * Who may open an uplink (docs/uplink.md section 1): the Authorization
 * header's relay id and token are always checked; when the listener asks for
 * client certificates (mTLS), the certificate's subject CN or a SAN DNS name
 * must also be that relay id, so relay A's certificate cannot carry relay
 * B's token. Refusals are HTTP statuses, cheaper than a WebSocket and a close.
 */
import type { IncomingMessage } from 'node:http';
import type { X509Certificate } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import { parseAuthHeader, UPLINK_PATH } from '../protocol/index.js';
import type { RelayDirectory } from './relays.js';

type UpgradeVerdict =
  { ok: true; relayId: string } | { ok: false; status: number; text: string; why: string; relay?: string };

/** Check an upgrade request's path, credentials and client certificate. */
export function checkUpgrade(
  req: IncomingMessage,
  relays: RelayDirectory,
  requireClientCert: boolean,
): UpgradeVerdict {
  const refuse = (status: number, text: string, why: string, relay?: string): UpgradeVerdict =>
    relay === undefined ? { ok: false, status, text, why } : { ok: false, status, text, why, relay };
  if ((req.url ?? '').split('?')[0] !== UPLINK_PATH) return refuse(404, 'Not Found', 'wrong path');
  let creds;
  try {
    creds = parseAuthHeader(req.headers.authorization);
  } catch {
    return refuse(401, 'Unauthorized', 'no or malformed credentials');
  }
  const cert = clientCertificate(req.socket);
  if (cert === 'unauthorized' || (cert === 'none' && requireClientCert)) {
    // The TLS handshake already refuses these when mTLS is on; this is the second lock.
    return refuse(401, 'Unauthorized', 'no trusted client certificate', creds.relayId);
  }
  if (typeof cert === 'object' && cert.checkHost(creds.relayId, CERT_NAME_CHECK) !== creds.relayId) {
    return refuse(403, 'Forbidden', 'client certificate is not for this relay', creds.relayId);
  }
  const verdict = relays.check(creds.relayId, creds.token);
  if (verdict === 'revoked') return refuse(403, 'Forbidden', 'revoked relay', creds.relayId);
  if (verdict !== 'ok') return refuse(401, 'Unauthorized', verdict, creds.relayId);
  return { ok: true, relayId: creds.relayId };
}

/** checkHost options: the relay id is one exact name, never a wildcard, and the CN counts even beside SANs. */
const CERT_NAME_CHECK = { subject: 'always', wildcards: false, partialWildcards: false } as const;

/**
 * The client certificate on a TLS upgrade: 'none' (plain TCP, or none asked
 * for or sent), 'unauthorized' (sent but not signed by the configured CA), or
 * the certificate itself.
 */
function clientCertificate(socket: unknown): X509Certificate | 'none' | 'unauthorized' {
  if (!(socket instanceof TLSSocket)) return 'none';
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) return 'none';
  return socket.authorized ? cert : 'unauthorized';
}
