/**
 * Small helpers shared by the collectors: splitting /proc lines into fields
 * without a regex (they run on every line, every round) and reading files
 * that may be missing or root-only.
 */
import { readFile } from 'node:fs/promises';

/** The space- or tab-separated fields of one line; runs of blanks and trailing blanks yield no empty fields. */
export function words(line: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    const blank = c === 32 || c === 9 || c === 13;
    if (blank) {
      if (start >= 0) out.push(line.slice(start, i));
      start = -1;
    } else if (start < 0) {
      start = i;
    }
  }
  if (start >= 0) out.push(line.slice(start));
  return out;
}

/** A decimal field as a number, or undefined when missing or not a number (old kernels have fewer columns). */
export function num(field: string | undefined): number | undefined {
  if (field === undefined || field === '') return undefined;
  const n = Number(field);
  return Number.isFinite(n) ? n : undefined;
}

/** The file's text trimmed, or undefined when it is missing, unreadable or blank (root-only sysfs files, absent DMI). */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

/** `part / whole` as a percentage, 0 when `whole` is 0 (no swap, an empty fs). */
export function pct(part: number, whole: number): number {
  return whole > 0 ? (part / whole) * 100 : 0;
}
