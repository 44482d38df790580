/**
 * Relay identities: id + token, the token stored only as a SHA-256 digest
 * (meta key `relay/<id>`). A token is shown once, when the relay is added.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { putMeta, type SampleStore } from './store/index.js';

export interface RelayRecord {
  id: string;
  tokenSha256: string;
  createdAtMs: number;
  revokedAtMs?: number;
}

export type RelayAuth = 'ok' | 'unknown' | 'revoked' | 'bad-token';

const ID = /^[A-Za-z0-9_-]{1,64}$/;

export class RelayDirectory {
  private readonly relays = new Map<string, RelayRecord>();

  private constructor(private readonly store: SampleStore) {}

  static async open(store: SampleStore): Promise<RelayDirectory> {
    const dir = new RelayDirectory(store);
    for (const [, value] of await store.listMeta('relay/', 1_000_000)) {
      const r = JSON.parse(value.toString()) as RelayRecord;
      dir.relays.set(r.id, r);
    }
    return dir;
  }

  /** Add a relay (or re-key an existing one); returns its new token, which is stored only hashed. */
  async add(id: string, now: number): Promise<string> {
    if (!ID.test(id)) throw new RangeError('relay id must be 1-64 of [A-Za-z0-9_-]');
    // A relay's id is its zone; `direct` is the zone of agents connected to the upstream itself.
    if (id === 'direct') throw new RangeError('relay id "direct" is reserved');
    const token = randomBytes(24).toString('base64url');
    const record: RelayRecord = { id, tokenSha256: digest(token), createdAtMs: now };
    await this.store.write([], { meta: [putMeta(`relay/${id}`, JSON.stringify(record))] });
    this.relays.set(id, record);
    return token;
  }

  async revoke(id: string, now: number): Promise<boolean> {
    const r = this.relays.get(id);
    if (r === undefined) return false;
    const next = { ...r, revokedAtMs: now };
    await this.store.write([], { meta: [putMeta(`relay/${id}`, JSON.stringify(next))] });
    this.relays.set(id, next);
    return true;
  }

  check(id: string, token: string): RelayAuth {
    const r = this.relays.get(id);
    if (r === undefined) return 'unknown';
    if (r.revokedAtMs !== undefined) return 'revoked';
    const a = Buffer.from(r.tokenSha256, 'hex');
    return timingSafeEqual(a, Buffer.from(digest(token), 'hex')) ? 'ok' : 'bad-token';
  }

  list(): RelayRecord[] {
    return [...this.relays.values()];
  }

  get(id: string): RelayRecord | undefined {
    return this.relays.get(id);
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
