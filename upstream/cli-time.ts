/**
 * Times the operator types for `query --from/--to`: an ISO 8601 time
 * (`2026-01-05T10:00:00Z`, `2026-01-05`), epoch milliseconds, `now`, or a
 * time relative to now (`-1h`, `-30m`, `-2d`, `-45s`, `-500ms`). Pure: the
 * caller gives the clock.
 */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `text` as epoch ms at clock time `now`; throws a message naming `flag` when it is none of the forms. */
export function parseTimeFlag(flag: string, text: string, now: number): number {
  const t = text.trim();
  if (t === 'now') return now;
  const relative = /^-(\d+)(ms|s|m|h|d)$/.exec(t);
  if (relative !== null) return now - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS];
  if (/^\d+$/.test(t)) {
    const ms = Number(t);
    if (Number.isSafeInteger(ms)) return ms;
  }
  // A date at least (Date.parse also takes loose forms like "1": those are not times).
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const ms = Date.parse(t);
    if (Number.isFinite(ms)) return ms;
  }
  throw new Error(
    `${flag} ${text}: expected an ISO time (2026-01-05T10:00:00Z), epoch ms, now, or a time relative to now (-1h, -30m, -2d)`,
  );
}

/** `k=v` tag filters (repeatable flag values) as query parameters `tag.k=v`. */
export function tagParams(pairs: readonly string[]): [string, string][] {
  return pairs.map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--tag ${pair}: expected key=value`);
    return [`tag.${pair.slice(0, at)}`, pair.slice(at + 1)];
  });
}
