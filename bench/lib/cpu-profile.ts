/**
 * Summaries of a V8 .cpuprofile (written by `node --cpu-prof`): self time per
 * function and per source area, so a bench can say where a process's CPU
 * went without opening a profiler UI.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function shortUrl(url: string): string {
  if (url === '') return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) return path.slice(nm + 'node_modules/'.length);
  return path.startsWith(ROOT) ? path.slice(ROOT.length) : path;
}

/** Where a function's code lives, coarsely: our folders, a package, node internals, V8 specials. */
function area(url: string, functionName: string): string {
  const u = shortUrl(url);
  if (u === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (u.startsWith('node:')) return 'node: internals';
  const parts = u.split('/');
  if (u.startsWith('@')) return `${parts[0] ?? ''}/${parts[1] ?? ''}`;
  if (url.includes('node_modules/')) return parts[0] ?? u;
  return parts.length > 1 ? `${parts[0] ?? ''}/${parts.length > 2 ? `${parts[1] ?? ''}/` : ''}` : u;
}

/** Self time by function (top `limit`) and by area, from one .cpuprofile file. */
export function summarizeProfile(
  file: string,
  limit = 15,
): { total: number; functions: SelfTime[]; areas: SelfTime[]; inclusive: SelfTime[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const fn = new Map<string, number>();
  const ar = new Map<string, number>();
  const inc = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i] as number);
    const us = profile.timeDeltas[i] ?? 0;
    if (node === undefined || us <= 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    total += us;
    const key = frameName(node);
    fn.set(key, (fn.get(key) ?? 0) + us);
    const a = area(url, functionName);
    ar.set(a, (ar.get(a) ?? 0) + us);
    // Inclusive time of our own code (relay/, protocol/, ...): each function once per sample.
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id);
      if (n === undefined || n.callFrame.url.includes('node_modules') || !n.callFrame.url.startsWith('file:'))
        continue;
      const k = frameName(n);
      if (seen.has(k)) continue;
      seen.add(k);
      inc.set(k, (inc.get(k) ?? 0) + us);
    }
    void lineNumber;
  }
  const rank = (m: Map<string, number>, n: number): SelfTime[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, share: total === 0 ? 0 : us / total }));
  return {
    total: total / 1000,
    functions: rank(fn, limit),
    areas: rank(ar, 12),
    inclusive: rank(inc, limit),
  };
}

/** `name file:line`; the line is left out when V8 reports none (tsx-compiled modules report line 1 for all). */
function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const u = shortUrl(url);
  const line = lineNumber > 0 ? `:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'}${u === '' ? '' : ` ${u}${line}`}`;
}

/** The .cpuprofile files in `dir`. */
export function profilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f));
}

/**
 * Print a summary of the busiest profile in `dir`: the process's main thread
 * (tsx's loader thread writes a small profile of its own, skipped).
 */
export function printProfiles(dir: string, label: string): void {
  const summaries = profilesIn(dir).map((file) => ({ file, s: summarizeProfile(file) }));
  summaries.sort((a, b) => b.s.total - a.s.total);
  const main = summaries[0];
  if (main === undefined) {
    console.log(`\nno CPU profile of ${label} in ${dir}`);
    return;
  }
  const { file, s } = main;
  // One file per thread (the main thread and each worker): the busiest is shown in full.
  console.log(
    `\nCPU profile of ${label}, its busiest thread (${file}): ${(s.total / 1000).toFixed(1)} s of samples, idle excluded`,
  );
  for (const other of summaries.slice(1))
    console.log(`  another thread (${other.file}): ${(other.s.total / 1000).toFixed(1)} s of samples`);
  console.log('  self time by area:');
  for (const a of s.areas) console.log(`    ${(a.share * 100).toFixed(1).padStart(5)} %  ${a.name}`);
  console.log('  top functions by self time:');
  for (const f of s.functions) console.log(`    ${(f.share * 100).toFixed(1).padStart(5)} %  ${f.name}`);
  console.log('  our functions by total time (callees included):');
  for (const f of s.inclusive) console.log(`    ${(f.share * 100).toFixed(1).padStart(5)} %  ${f.name}`);
}
