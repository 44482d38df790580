/**
 * OWL series → Prometheus and OpenTSDB names. Pure functions.
 *
 * Prometheus rule (metric names and label names alike), one input character at a time:
 *   - `[A-Za-z0-9]` is kept;
 *   - `.` with a letter or digit on both sides becomes `_` (so `cpu.user` → `cpu_user`);
 *   - `_` becomes `__` (so `a_b` → `a__b` and can never meet `a.b` → `a_b`);
 *   - any other character, and a `.` not between letters/digits, becomes `___` plus two hex
 *     digits per UTF-8 byte (`-` → `___2d`, `é` → `___c3___a9`).
 * The code is uniquely decodable, hence injective: a run of underscores followed by a letter or
 * digit has length 1 (a dot; it always sits between letters/digits, never after an escape),
 * an even length (that many `_` / 2) or an odd length ≥ 3 (underscores then one `___HH` escape,
 * which only a hex pair can follow). `decodeName` is the inverse; the tests check both.
 * Metric names get the configured prefix (`owl_` by default, may be empty); without a prefix a
 * name starting with a digit gets one leading `_`, which no other input produces (a lone `_`
 * never starts an encoded name). Label names take no prefix and no guard: a tag whose encoded
 * name would start with `_` or a digit (or is empty) is refused, because Prometheus reserves
 * `__*` and a guard could collide; so is a tag that would name `__name__`.
 * Label values go as they are (protobuf strings carry any UTF-8).
 *
 * OpenTSDB keeps v3 names: metric, tag keys and tag values keep `[A-Za-z0-9-_./]`; any other
 * character becomes `_` (OpenTSDB has no escape; only names outside that set can collide, and
 * v3 names stay inside it).
 */

const ALNUM = /^[A-Za-z0-9]$/;
const HEX = '0123456789abcdef';
const utf8 = new TextEncoder();

function isAlnum(c: string | undefined): boolean {
  return c !== undefined && c.length === 1 && ALNUM.test(c);
}

function escapeChar(c: string): string {
  let out = '';
  for (const b of utf8.encode(c)) out += '___' + HEX[b >> 4] + HEX[b & 15];
  return out;
}

/** Letters/digits joined by single `.` or `_`: nearly every real name, encoded by one replace. */
const PLAIN = /^[A-Za-z0-9]+(?:[._][A-Za-z0-9]+)*$/;

/** The injective escape described above, without prefix or guard. */
export function encodeName(name: string): string {
  if (PLAIN.test(name)) return name.replace(/[._]/g, (c) => (c === '.' ? '_' : '__'));
  const chars = Array.from(name);
  let out = '';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (isAlnum(c)) out += c;
    else if (c === '_') out += '__';
    else if (c === '.' && isAlnum(chars[i - 1]) && isAlnum(chars[i + 1])) out += '_';
    else out += escapeChar(c);
  }
  return out;
}

/** Inverse of `encodeName` (for tests and operators reading names back); throws on a non-image. */
export function decodeName(encoded: string): string {
  const bytes: number[] = [];
  let i = 0;
  while (i < encoded.length) {
    const c = encoded[i]!;
    if (c !== '_') {
      bytes.push(c.charCodeAt(0));
      i++;
      continue;
    }
    let run = 0;
    while (encoded[i + run] === '_') run++;
    if (run === 1) bytes.push(0x2e);
    else for (let k = 0; k < Math.floor(run / 2) - (run % 2 === 1 ? 1 : 0); k++) bytes.push(0x5f);
    i += run;
    if (run % 2 === 1 && run >= 3) {
      const hex = encoded.slice(i, i + 2);
      if (!/^[0-9a-f]{2}$/.test(hex)) throw new Error(`not an encoded name: ${encoded}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    }
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
}

/** Prometheus metric name of an OWL metric (`cpu.user`, v3 `<service>.<metric>`). */
export function promMetricName(metric: string, prefix: string): string {
  const encoded = encodeName(metric);
  if (prefix === '' && /^[0-9]/.test(encoded)) return '_' + encoded;
  return prefix + encoded;
}

/** Prometheus label name of a tag name, or undefined when the tag cannot be a label (see above). */
export function promLabelName(tag: string): string | undefined {
  const encoded = encodeName(tag);
  if (!/^[A-Za-z]/.test(encoded)) return undefined;
  return encoded;
}

/** Prometheus' own rules, for checking what we produce. */
export const PROM_METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
export const PROM_LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const TSDB_INVALID = /[^A-Za-z0-9\-_./]/gu;

/** OpenTSDB metric name, tag key or tag value: characters outside `[A-Za-z0-9-_./]` → `_`. */
export function opentsdbName(name: string): string {
  return name.replace(TSDB_INVALID, '_');
}
