import { DEFAULT_MAX_FRAME_BYTES } from './frame.js';

/** Input limits. Everything a peer sends is bounded by one of these. */
export interface ProtocolLimits {
  /** Largest N (type byte + body) accepted by the frame decoder. */
  maxFrameBytes: number;
  /** Longest string accepted in a field OWL reads (UTF-16 code units). */
  maxStringLength: number;
  /** Deepest nesting of objects and arrays in a body, unknown fields included. */
  maxDepth: number;
  /** Most samples in one SERIESBATCH. */
  maxSamples: number;
  /** Most elements in any other list OWL reads (devices, ports, disks, services, ...). */
  maxItems: number;
}

export const DEFAULT_LIMITS: Readonly<ProtocolLimits> = Object.freeze({
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxStringLength: 4096,
  maxDepth: 16,
  maxSamples: 10_000,
  maxItems: 100_000,
});
