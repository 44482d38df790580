/**
 * The log records held for forwarding (forward-log.ts), in seq order: seq,
 * commit time, whether its points are already folded into blocks, and
 * running sums of bytes and points, so the lag of any cursor is a binary
 * search and two subtractions. Column arrays with a moving head, compacted
 * once the consumed part is the larger: a few numbers per group commit.
 */
export class RecordIndex {
  private seqs: number[] = [];
  private atMs: number[] = [];
  private folded: boolean[] = [];
  /** Bytes / points of every record pushed since open, through index i. */
  private cumBytes: number[] = [];
  private cumPoints: number[] = [];
  private head = 0;
  private baseBytes = 0;
  private basePoints = 0;
  private totalBytes = 0;
  private totalPoints = 0;

  get size(): number {
    return this.seqs.length - this.head;
  }

  /** Bytes of every record held. */
  get bytes(): number {
    return this.totalBytes - this.baseBytes;
  }

  push(seq: number, bytes: number, points: number, atMs: number, folded: boolean): void {
    this.totalBytes += bytes;
    this.totalPoints += points;
    this.seqs.push(seq);
    this.atMs.push(atMs);
    this.folded.push(folded);
    this.cumBytes.push(this.totalBytes);
    this.cumPoints.push(this.totalPoints);
  }

  /** Index of the first held record with a seq above `seq` (size-relative end when none). */
  private after(seq: number): number {
    let lo = this.head;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.seqs[mid] as number) <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private cumBefore(i: number, cum: number[], base: number): number {
    return i > this.head ? (cum[i - 1] as number) : base;
  }

  /** Records, bytes and points held above `seq`, and the commit time of the oldest of them. */
  lagAfter(seq: number): { records: number; bytes: number; points: number; oldestAtMs: number | undefined } {
    const i = this.after(seq);
    return {
      records: this.seqs.length - i,
      bytes: this.totalBytes - this.cumBefore(i, this.cumBytes, this.baseBytes),
      points: this.totalPoints - this.cumBefore(i, this.cumPoints, this.basePoints),
      oldestAtMs: this.atMs[i],
    };
  }

  /** Records and points held in (fromSeq, toSeq]. */
  between(fromSeq: number, toSeq: number): { records: number; points: number } {
    const a = this.lagAfter(fromSeq);
    const b = this.lagAfter(toSeq);
    return { records: a.records - b.records, points: a.points - b.points };
  }

  /** The seq of the newest record that must go (oldest first) so that `room` more bytes fit in `maxBytes`. */
  dropTarget(maxBytes: number, room: number): number | undefined {
    let target: number | undefined;
    for (let i = this.head; i < this.seqs.length; i++) {
      if (this.totalBytes - this.cumBefore(i, this.cumBytes, this.baseBytes) + room <= maxBytes) break;
      target = this.seqs[i];
    }
    return target;
  }

  /** Seqs of the folded records held up to `seq`: deleting them loses nothing once no sink needs them. */
  foldedThrough(seq: number): number[] {
    const out: number[] = [];
    const end = this.after(seq);
    for (let i = this.head; i < end; i++) if (this.folded[i] === true) out.push(this.seqs[i] as number);
    return out;
  }

  /** Mark record `seq` folded (a checkpoint put its points into blocks). */
  markFolded(seq: number): void {
    const i = this.after(seq) - 1;
    if (i >= this.head && this.seqs[i] === seq) this.folded[i] = true;
  }

  /** Forget the records up to `seq`. */
  popThrough(seq: number): void {
    const end = this.after(seq);
    if (end === this.head) return;
    this.baseBytes = this.cumBytes[end - 1] as number;
    this.basePoints = this.cumPoints[end - 1] as number;
    this.head = end;
    if (this.head > 1024 && this.head * 2 > this.seqs.length) this.compact();
  }

  private compact(): void {
    const h = this.head;
    this.seqs = this.seqs.slice(h);
    this.atMs = this.atMs.slice(h);
    this.folded = this.folded.slice(h);
    this.cumBytes = this.cumBytes.slice(h);
    this.cumPoints = this.cumPoints.slice(h);
    this.head = 0;
  }
}
