/**
 * "Something changed": helpers that wait with a deadline sleep on a signal
 * that their event handlers wake, so a wait ends as soon as its condition can
 * have become true, never by polling a clock.
 */
export class WakeSignal {
  private waiters: (() => void)[] = [];

  /** Resolve after `ms`, or earlier when `wake()` is called. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Wake every sleeper. */
  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
