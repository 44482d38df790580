/**
 * Firmware delivery constants and the rollout rule, shared by the upstream, the relay and the
 * agent (docs/firmware-delivery.md). A bundle is named by the sha256 of its file everywhere, so a
 * resumed download, the relay's cache and the agent's fetch all check the same bytes.
 */
import { createHash } from 'node:crypto';

/** Largest chunk a relay may ask the upstream for (FIRMWARE_CHUNK_REQ). */
export const FIRMWARE_MAX_CHUNK_BYTES = 1024 * 1024;

/** The relay's default chunk: small enough that an ack queued behind it waits little on a slow link. */
export const FIRMWARE_DEFAULT_CHUNK_BYTES = 256 * 1024;

/** Largest chunk an agent may ask its relay for (FWCHUNKREQ): as base64 it stays far below the 1 MiB frame cap. */
export const AGENT_FIRMWARE_MAX_CHUNK_BYTES = 192 * 1024;

/** The HELLO feature a relay lists when it serves bundles to its agents (packets 19–22). */
export const FIRMWARE_FEATURE = 'firmware';

/** Why a chunk request (FIRMWARE_CHUNK_REQ upstream, FWCHUNKREQ at a relay) was not served. */
export const FirmwareChunkError = {
  /** The bundle is not (or no longer) offered to the asker, or not held by the relay. */
  UNKNOWN_BUNDLE: 'OWL_ERR_FIRMWARE_UNKNOWN_BUNDLE',
  /** The offset is past the end of the bundle. */
  BAD_RANGE: 'OWL_ERR_FIRMWARE_BAD_RANGE',
} as const;

const BUNDLE_ID = /^[0-9a-f]{64}$/;

/** A bundle id: the sha256 of the bundle file as 64 lowercase hex digits. */
export function isBundleId(s: unknown): s is string {
  return typeof s === 'string' && BUNDLE_ID.test(s);
}

/**
 * Whether the unit `unitId` (a relay id, an agent's uuid) takes `bundle` at `percent` (1–100).
 * Stable per (bundle, unit), so raising the percentage only adds units, and different bundles
 * pick different subsets, so the same few units are not always the first to try a release.
 */
export function inRollout(bundle: string, unitId: string, percent: number): boolean {
  if (percent >= 100) return true;
  if (percent <= 0) return false;
  const digest = createHash('sha256').update(`${bundle}/${unitId}`).digest();
  return digest.readUInt32BE(0) % 100 < percent;
}
