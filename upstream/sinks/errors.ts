/** Sink error codes, in the protocol's `OWL_ERR_*` form. `retriable` tells the runner what to do. */
import { OwlError } from '../../protocol/index.js';

export const SinkErrorCode = {
  /** Bad sink settings (URL, CA file): fix the config; nothing was sent. */
  CONFIG: 'OWL_ERR_SINK_CONFIG',
  /** Connection refused, reset, DNS, TLS handshake...: retry later. */
  UNREACHABLE: 'OWL_ERR_SINK_UNREACHABLE',
  /** No complete answer within the timeout: retry later (the engine may have stored it: resends are idempotent). */
  TIMEOUT: 'OWL_ERR_SINK_TIMEOUT',
  /** 5xx or 429: the engine is busy or broken; retry later. */
  UNAVAILABLE: 'OWL_ERR_SINK_UNAVAILABLE',
  /** Other 4xx (or an unexpected status): the engine refused this request; resending it will not help. */
  REFUSED: 'OWL_ERR_SINK_REFUSED',
} as const;
export type SinkErrorCode = (typeof SinkErrorCode)[keyof typeof SinkErrorCode];

export class SinkError extends OwlError {
  constructor(
    code: SinkErrorCode,
    message: string,
    /** The HTTP status, when the engine answered. */
    readonly status?: number,
    /** The first line of the engine's answer (at most 300 characters), when it answered. */
    readonly bodyLine?: string,
    options: { cause?: unknown } = {},
  ) {
    super(code, message, {
      retriable:
        code === SinkErrorCode.UNREACHABLE ||
        code === SinkErrorCode.TIMEOUT ||
        code === SinkErrorCode.UNAVAILABLE,
      ...options,
    });
  }
}
