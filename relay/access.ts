/**
 * Who may talk to the relay. v3 agents carry no credentials, so they are
 * admitted by source address (a CIDR allowlist); v4 agents prove themselves
 * with the zone token in HELLO. Tokens are compared in constant time.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { timingSafeEqual, createHash } from 'node:crypto';
import { RelayError, RelayErrorCode } from './errors.js';

export class AccessPolicy {
  private readonly v3Allowed = new BlockList();
  private readonly tokenDigest: Buffer | undefined;

  /**
   * @param v3Cidrs CIDRs (`10.1.0.0/16`, `::1/128`) from which HELLO-less v3 agents are accepted.
   * @param zoneToken token a v4 agent must present in HELLO; undefined accepts any HELLO.
   */
  constructor(v3Cidrs: readonly string[], zoneToken: string | undefined) {
    for (const cidr of v3Cidrs) {
      const [addr, bits] = cidr.split('/');
      const family =
        addr !== undefined && isIPv4(addr) ? 'ipv4' : addr !== undefined && isIPv6(addr) ? 'ipv6' : '';
      const prefix = bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits);
      if (
        family === '' ||
        addr === undefined ||
        !Number.isInteger(prefix) ||
        prefix < 0 ||
        prefix > (family === 'ipv4' ? 32 : 128)
      ) {
        throw new RelayError(RelayErrorCode.CONFIG_INVALID, `not a CIDR: ${cidr}`);
      }
      this.v3Allowed.addSubnet(addr, prefix, family);
    }
    this.tokenDigest = zoneToken === undefined ? undefined : digest(zoneToken);
  }

  /** True when a peer at `address` may speak v3 without HELLO. */
  allowsV3(address: string): boolean {
    const plain = unmapIPv4(address);
    const family = isIPv4(plain) ? 'ipv4' : 'ipv6';
    return this.v3Allowed.check(plain, family);
  }

  /** True when `token` (from HELLO) is acceptable for this zone. */
  acceptsToken(token: string | undefined): boolean {
    if (this.tokenDigest === undefined) return true;
    if (token === undefined) return false;
    return timingSafeEqual(digest(token), this.tokenDigest);
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, so IPv4 rules apply to dual-stack sockets. */
export function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}
