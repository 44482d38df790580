/**
 * Firmware verify + unpack throughput: `verifyBundle` (header, signature, manifest, policy, the
 * payload streamed through zstd into a staging dir, every file hashed) against the baseline of a
 * plain sha256 of the same bundle file, read the same way, in the same process.
 *
 *   npx tsx bench/firmware-verify.ts [--rounds=N] [--tree=DIR] [--sync]
 *
 * Default tree: ~40 MB of 100 KiB files, 3/4 random (incompressible, like the node binary's
 * share of a real bundle) and 1/4 JS-like text, signed at zstd level 3: a ~30 MB bundle.
 * `--tree=DIR` signs a real tree instead (e.g. an unpacked packaging tar.gz). `--sync` measures
 * the durable mode a gateway uses (every file and directory synced). Rounds alternate a verify and
 * a baseline pass so both see the same machine; the median of each is reported, in MB/s of bundle
 * bytes. A second reference, `fs.cp` of the tree itself, shows what writing the files alone costs
 * on this disk. Staging dirs are removed between rounds, outside the timed part.
 */
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, createReadStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeys, loadPrivateKey, loadPublicKeys, signBundle, verifyBundle } from '../firmware/index.js';

const arg = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const rounds = Math.min(Number(arg('rounds') ?? 5), 50);
const sync = process.argv.includes('--sync');

function syntheticTree(root: string): void {
  const line = 'export function handler(req, res) { return res.json({ ok: true, at: Date.now() }); }\n';
  for (let d = 0; d < 13; d++) {
    mkdirSync(join(root, `pkg${d}`), { recursive: true });
    for (let f = 0; f < 30; f++) {
      const body =
        f % 4 === 3 ? Buffer.from(line.repeat(Math.ceil(102400 / line.length))) : randomBytes(102400);
      writeFileSync(join(root, `pkg${d}`, `file${f}.bin`), body);
    }
  }
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const work = mkdtempSync(join(tmpdir(), 'owl-bench-fw-'));
try {
  const keys = generateKeys(join(work, 'keys'));
  const tree = arg('tree') ?? join(work, 'tree');
  if (arg('tree') === undefined) syntheticTree(tree);
  const bundle = join(work, 'bench.owlfw');
  const t0 = performance.now();
  await signBundle({
    tree,
    out: bundle,
    key: loadPrivateKey(keys.privateKeyFile),
    program: 'owl-relay',
    version: '2.0.0',
    arch: 'amd64',
    level: 3,
  });
  const signMs = performance.now() - t0;
  const bytes = statSync(bundle).size;
  const pinned = loadPublicKeys([keys.publicKeyFile]);
  const verifyMs: number[] = [];
  const shaMs: number[] = [];
  const cpMs: number[] = [];
  await sha256File(bundle); // warm the page cache and the JIT for both
  for (let r = 0; r < rounds; r++) {
    const staging = join(work, `staging-${r}`);
    let t = performance.now();
    await verifyBundle(bundle, {
      keys: pinned,
      staging,
      program: 'owl-relay',
      arch: 'amd64',
      running: '1.0.0',
      sync,
    });
    verifyMs.push(performance.now() - t);
    rmSync(staging, { recursive: true, force: true });
    t = performance.now();
    await sha256File(bundle);
    shaMs.push(performance.now() - t);
    t = performance.now();
    cpSync(tree, staging, { recursive: true, verbatimSymlinks: true });
    cpMs.push(performance.now() - t);
    rmSync(staging, { recursive: true, force: true });
  }
  const mb = bytes / 1e6;
  const v = median(verifyMs);
  const s = median(shaMs);
  const result = {
    bundleMB: Number(mb.toFixed(1)),
    signMs: Math.round(signMs),
    sync,
    rounds,
    verifyMs: Math.round(v),
    verifyMBPerSec: Number((mb / (v / 1000)).toFixed(1)),
    sha256Ms: Math.round(s),
    sha256MBPerSec: Number((mb / (s / 1000)).toFixed(1)),
    ratio: Number((v / s).toFixed(2)),
    cpTreeMs: Math.round(median(cpMs)),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
