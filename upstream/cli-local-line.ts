/**
 * The live line of `owl-upstream local`: samples stored, spool depth, agents online. On a terminal
 * one line rewritten in place, log lines (on stderr) printed above it; into a pipe or a file one
 * line per change, at most every 10 s, so a log of a long run stays short.
 */

export interface LocalFigures {
  /** Points in the upstream's store (StoreStats.points). */
  stored: number;
  spoolRecords: number;
  spoolBytes: number;
  /** Agent connections open at the relay. */
  agentsOnline: number;
}

export function formatLiveLine(f: LocalFigures): string {
  return (
    `samples stored ${f.stored} | spool ${f.spoolRecords} records, ${formatBytes(f.spoolBytes)}` +
    ` | agents online ${f.agentsOnline}`
  );
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

export interface LineOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

export class LiveLine {
  private last: string | undefined;
  private lastAtMs = -Infinity;

  constructor(
    private readonly out: LineOutput,
    private readonly err: LineOutput,
    private readonly now: () => number,
    private readonly minGapMs = 10_000,
  ) {}

  /** Write `text` (whole log lines) to `err`; on a terminal above the live line, which is drawn again. */
  interject(text: string): void {
    const redraw = this.out.isTTY === true && this.last !== undefined;
    if (redraw) this.out.write('\r\x1b[K');
    this.err.write(text);
    if (redraw) this.out.write(this.last as string);
  }

  show(text: string): void {
    if (this.out.isTTY === true) {
      // \x1b[K clears what a longer previous line left to the right.
      this.out.write(`\r\x1b[K${text}`);
      this.last = text;
      return;
    }
    if (text === this.last || this.now() - this.lastAtMs < this.minGapMs) return;
    this.out.write(`${text}\n`);
    this.last = text;
    this.lastAtMs = this.now();
  }

  /** End the rewritten line, so what follows starts on its own. */
  end(): void {
    if (this.out.isTTY === true && this.last !== undefined) this.out.write('\n');
  }
}
