/**
 * The live delay of an agent's samples, read from the real upstream's store: a LoadAgent sends a
 * batch every `everyMs`, and `GET /api/v1/stats`'s sample count is polled every 50 ms. Live data
 * (no backlog) is stored in order, so batch i is stored once the count reaches what was sent up
 * to it; its delay is that poll's time minus its send time (within the 50 ms poll).
 */
import type { LoadAgent } from './load-agent.js';
import { upstreamStats } from './owl-cli.js';
import type { ApiTarget } from './upstream-api.js';

const POLL_MS = 50;

export interface DelayFigures {
  batches: number;
  p50: number;
  p99: number;
  max: number;
}

export class LiveDelayProbe {
  private readonly sent: { at: number; upTo: number }[] = [];
  private readonly stored: { at: number; samples: number }[] = [];
  private base = 0;
  private sender: NodeJS.Timeout | undefined;
  private polling = false;
  private poller: Promise<void> | undefined;

  constructor(
    private readonly agent: LoadAgent,
    private readonly api: ApiTarget,
    private readonly samplesPerBatch: number,
  ) {}

  /** Start sending a batch every `everyMs` (at most `maxBatches` in all) and polling the store. */
  async start(everyMs: number, maxBatches = 100_000): Promise<void> {
    this.base = (await upstreamStats(this.api)).samples - this.agent.limit * this.samplesPerBatch;
    this.polling = true;
    this.poller = this.poll();
    this.sender = setInterval(() => {
      if (this.agent.limit >= maxBatches) return;
      this.agent.sendUpTo(this.agent.limit + 1);
      this.sent.push({ at: Date.now(), upTo: this.agent.limit * this.samplesPerBatch });
    }, everyMs);
  }

  /** Stop sending; wait until everything sent is acknowledged and stored (within `ms`). */
  async stop(ms = 60_000): Promise<void> {
    clearInterval(this.sender);
    await this.agent.allAcked(ms);
    const deadline = Date.now() + ms;
    while ((this.stored.at(-1)?.samples ?? 0) < this.agent.limit * this.samplesPerBatch) {
      if (Date.now() > deadline) throw new Error('the samples sent were not all stored in time');
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    this.polling = false;
    await this.poller;
  }

  /** Stop sending and polling at once (a test's teardown; nothing is waited for). */
  abort(): void {
    clearInterval(this.sender);
    this.polling = false;
  }

  /** Samples stored since the probe started, as last polled. */
  get storedSamples(): number {
    return this.stored.at(-1)?.samples ?? 0;
  }

  /** The delays of the batches sent in [from, to), in ms. */
  figures(from = 0, to = Number.POSITIVE_INFINITY): DelayFigures {
    const delays = this.sent
      .filter((s) => s.at >= from && s.at < to)
      .map((s) => {
        const when = this.stored.find((x) => x.samples >= s.upTo);
        return when === undefined ? Number.POSITIVE_INFINITY : Math.max(0, when.at - s.at);
      })
      .sort((a, b) => a - b);
    const at = (p: number): number =>
      delays[Math.min(delays.length - 1, Math.floor(p * delays.length))] ?? NaN;
    return { batches: delays.length, p50: at(0.5), p99: at(0.99), max: delays.at(-1) ?? NaN };
  }

  private async poll(): Promise<void> {
    while (this.polling) {
      this.stored.push({ at: Date.now(), samples: (await upstreamStats(this.api)).samples - this.base });
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}
