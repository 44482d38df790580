/**
 * Each relay's store writes across its connections, for the operator
 * (GET /api/v1/relays `store`): a relay whose batches keep failing to store
 * shows which range and why, though its connection comes and goes.
 */

/** A relay's store writes since this process started. */
export interface RelayHealth {
  /** Store writes of its batches that failed, and the last failure: which seqs, and why. */
  storeFailures: number;
  lastError: { code: string; message: string; firstSeq: number; lastSeq: number; atMs: number } | undefined;
  /** When a write of its batches last became durable. */
  lastStoredAtMs: number | undefined;
}

export class RelayHealthBook {
  private readonly relays = new Map<string, RelayHealth>();

  /** A copy of what is known of relay `id`, or undefined if it stored nothing and failed nothing. */
  get(id: string): RelayHealth | undefined {
    const h = this.relays.get(id);
    return h === undefined ? undefined : { ...h };
  }

  stored(id: string, atMs: number): void {
    this.of(id).lastStoredAtMs = atMs;
  }

  failed(id: string, error: NonNullable<RelayHealth['lastError']>): void {
    const h = this.of(id);
    h.storeFailures++;
    h.lastError = error;
  }

  private of(id: string): RelayHealth {
    let h = this.relays.get(id);
    if (h === undefined) {
      h = { storeFailures: 0, lastError: undefined, lastStoredAtMs: undefined };
      this.relays.set(id, h);
    }
    return h;
  }
}
