/**
 * The health commit: a version on trial (after a switch and restart) is kept once the agent has
 * shown it works: connected to its relay AND one batch acknowledged. Called on every ACK until it
 * has acted once (a commit that found the slots locked is tried again at the next ACK); outside a
 * trial it does nothing. A commit refused (the deadline passed) is left to the supervisor, which
 * rolls back.
 */
import { SlotErrorCode, SlotSet } from '../../firmware/slots/index.js';

export type CommitResult = { committed: true; version: string } | { committed: false; reason?: string };

export class HealthCommit {
  private done: boolean;

  constructor(
    private readonly root: string | undefined,
    onTrial: boolean,
  ) {
    this.done = root === undefined || !onTrial;
  }

  get pending(): boolean {
    return !this.done;
  }

  /** A batch was acknowledged on a live session: commit the trial (once). */
  acked(): CommitResult | undefined {
    if (this.done) return undefined;
    this.done = true;
    const slots = new SlotSet({ root: this.root! });
    try {
      const st = slots.state();
      if (st.state !== 'trial') return { committed: false, reason: `state ${st.state}` };
      const version = st.pending?.toVersion ?? '';
      return slots.commit() ? { committed: true, version } : { committed: false };
    } catch (err) {
      const e = err as Error & { code?: string };
      // The slots are locked for a moment (an operator's command): the next ACK tries again.
      if (e.code === SlotErrorCode.BUSY) this.done = false;
      return { committed: false, reason: e.code ? `${e.code}: ${e.message}` : e.message };
    }
  }
}
