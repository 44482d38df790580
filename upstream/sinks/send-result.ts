/** What a sink client's `send(points)` resolves to. It never rejects. */
import type { SinkError } from './errors.js';
import type { PostResult } from './http-post.js';

export type SendResult =
  | {
      ok: true;
      /** Samples the engine accepted (0 when every point was dropped: nothing was sent). */
      samples: number;
      /** Points left out before sending, by reason: they can never be written as they are. */
      dropped: Readonly<Record<string, number>>;
    }
  | {
      ok: false;
      /** Resend the same points later (network, timeout, 5xx, 429); else the engine refused them (other 4xx). */
      retryable: boolean;
      error: SinkError;
      status?: number;
      /** The first line of the engine's answer. */
      bodyLine?: string;
      samples: number;
      dropped: Readonly<Record<string, number>>;
    };

export function toSendResult(
  post: PostResult,
  samples: number,
  dropped: Readonly<Record<string, number>>,
): SendResult {
  if (post.ok) return { ok: true, samples, dropped };
  const { error } = post;
  return {
    ok: false,
    retryable: error.retriable,
    error,
    ...(error.status !== undefined ? { status: error.status } : {}),
    ...(error.bodyLine !== undefined ? { bodyLine: error.bodyLine } : {}),
    samples,
    dropped,
  };
}
