/**
 * What a plugin printed, as samples. Two shapes are understood:
 *
 * - v3: one flat JSON object `{"<metric>": number, ...}`. A value that is
 *   not a finite number (string, boolean, null, object) makes that key a bad
 *   item: counted, the other keys kept.
 * - v4: a JSON array of `{metric, value, tags?, data_type?, timestamp? (s) |
 *   timestamp_ms?}`; an entry that does not fit is a bad item.
 *
 * Empty output is zero samples and a 'no output' note; anything else (not
 * JSON, or JSON of another shape) is an error with a printable snippet.
 * Bounded: at most `maxKeys` samples; the rest are counted as bad items.
 * Limits on names and tags are the protocol's (docs/protocol.md, SERIESBATCH).
 */
import type { DataType } from '../../protocol/wire/index.js';

export const DEFAULT_MAX_KEYS = 10_000;
const MAX_STRING = 4096;
const MAX_TAGS = 64;
const SNIPPET_CHARS = 120;
const DATA_TYPES: ReadonlySet<string> = new Set(['GAUGE', 'COUNTER', 'DERIVE']);

export interface PluginSample {
  metric: string;
  value: number;
  tags?: Record<string, string>;
  data_type?: DataType;
  /** When the plugin says the value was read; otherwise the run's time is used. */
  timestamp_ms?: number;
}

export interface PluginOutput {
  samples: PluginSample[];
  /** Keys or entries left out: not a number, malformed, or past `maxKeys`. */
  badItems: number;
  /** 'no output' when stdout was empty or blank. */
  note?: string;
  /** Set when the output as a whole was not understood; `samples` is then empty. */
  error?: string;
  /** The start of the output, control characters escaped, when `error` is set. */
  snippet?: string;
}

export function parsePluginOutput(stdout: string, maxKeys = DEFAULT_MAX_KEYS): PluginOutput {
  if (stdout.trim() === '') return { samples: [], badItems: 0, note: 'no output' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    return { samples: [], badItems: 0, error: 'output is not JSON', snippet: snippet(stdout) };
  }
  if (Array.isArray(parsed)) return fromArray(parsed, maxKeys);
  if (parsed !== null && typeof parsed === 'object')
    return fromFlatObject(parsed as Record<string, unknown>, maxKeys);
  return {
    samples: [],
    badItems: 0,
    error: 'output is not a JSON object or array',
    snippet: snippet(stdout),
  };
}

function fromFlatObject(obj: Record<string, unknown>, maxKeys: number): PluginOutput {
  const samples: PluginSample[] = [];
  let badItems = 0;
  for (const metric in obj) {
    const value = obj[metric];
    // Numbers only: "46" or true are not readings (v3 would have sent them as 0 or failed).
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      !validName(metric) ||
      samples.length >= maxKeys
    ) {
      badItems++;
      continue;
    }
    samples.push({ metric, value });
  }
  return { samples, badItems };
}

function fromArray(entries: unknown[], maxKeys: number): PluginOutput {
  const samples: PluginSample[] = [];
  let badItems = 0;
  for (const entry of entries) {
    const sample = samples.length < maxKeys ? richSample(entry) : undefined;
    if (sample === undefined) badItems++;
    else samples.push(sample);
  }
  return { samples, badItems };
}

/** One v4 array entry as a sample, or undefined when it does not fit. */
function richSample(entry: unknown): PluginSample | undefined {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return undefined;
  const e = entry as Record<string, unknown>;
  if (typeof e.metric !== 'string' || !validName(e.metric)) return undefined;
  if (typeof e.value !== 'number' || !Number.isFinite(e.value)) return undefined;
  const sample: PluginSample = { metric: e.metric, value: e.value };
  if (e.tags !== undefined) {
    const tags = validTags(e.tags);
    if (tags === undefined) return undefined;
    sample.tags = tags;
  }
  if (e.data_type !== undefined) {
    if (typeof e.data_type !== 'string' || !DATA_TYPES.has(e.data_type)) return undefined;
    sample.data_type = e.data_type as DataType;
  }
  const ts = timestampMs(e);
  if (ts === null) return undefined;
  if (ts !== undefined) sample.timestamp_ms = ts;
  return sample;
}

/** The entry's time in ms: undefined when it has none, null when it is invalid or has both fields. */
function timestampMs(e: Record<string, unknown>): number | undefined | null {
  const { timestamp, timestamp_ms } = e;
  if (timestamp !== undefined && timestamp_ms !== undefined) return null;
  const ms = timestamp === undefined ? timestamp_ms : typeof timestamp === 'number' ? timestamp * 1000 : NaN;
  if (ms === undefined) return undefined;
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? Math.round(ms) : null;
}

function validName(s: string): boolean {
  return s.length > 0 && s.length <= MAX_STRING;
}

function validTags(value: unknown): Record<string, string> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_TAGS) return undefined;
  for (const [k, v] of entries) {
    if (typeof v !== 'string' || !validName(k) || v.length > MAX_STRING) return undefined;
  }
  return value as Record<string, string>;
}

/** The first ~120 characters of `text` on one printable line: control characters escaped as \n, \u0000… */
export function snippet(text: string, max = SNIPPET_CHARS): string {
  const head = text.length > max ? text.slice(0, max) : text;
  // eslint-disable-next-line no-control-regex
  const escaped = head.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  return text.length > max ? `${escaped}…` : escaped;
}
