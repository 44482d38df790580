/**
 * The packaged relay's cold start: from spawning its launcher (or, for an arm64 package on an
 * x86 machine, its node under qemu-aarch64-static) to its /readyz answering 200 on the metrics
 * listener, on a fresh state dir each run (the spool created, RocksDB opened), the upstream
 * unreachable (a relay is ready while it spools). Also each .deb's size and installed size.
 *
 *   node --import=tsx bench/packaging-start.ts <dir of .deb files> [--runs=N]
 *
 * Prints one line per package and per architecture: median and max of the runs; for amd64 the
 * baseline, the repository's own build (`npm run build` first) started the same way, run by run.
 */
import { execFileSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { tempDir } from '../test/helpers/relay-harness.js';
import { closedPort } from '../test/helpers/upstream-check.js';
import {
  allDebs,
  controlField,
  debOf,
  extract,
  launcher,
  PackagedProcess,
  programTree,
  portOf,
  REPO_ROOT,
  type Arch,
} from '../test/packaging/packages.js';

const runs = Number(process.argv.find((a) => a.startsWith('--runs='))?.slice(7) ?? 5);
const dir = process.argv[2];
if (dir === undefined || dir.startsWith('--'))
  throw new Error('usage: bench/packaging-start.ts <dir of .deb files> [--runs=N]');

function readyz(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/readyz', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
  });
}

/** ms from spawn to /readyz 200; `root` undefined: the repository's own build (dist/, `npm run build`). */
async function coldStart(
  root: string | undefined,
  arch: Arch,
  state: string,
  upstream: string,
): Promise<number> {
  const tree = programTree(root ?? '', 'relay');
  const config = join(state, '..', `relay-${arch}.json`);
  writeFileSync(config, JSON.stringify({ relayId: 'bench', token: 'bench-token', upstreams: [upstream] }));
  const args = [
    'run',
    '--config',
    config,
    '--state-dir',
    state,
    '--listen',
    '127.0.0.1:0',
    '--metrics',
    '127.0.0.1:0',
  ];
  const t0 = performance.now();
  const repoCli = join(REPO_ROOT, 'dist', 'relay', 'cli.js');
  const proc =
    root === undefined
      ? PackagedProcess.spawn('relay', process.execPath, [repoCli, ...args], REPO_ROOT)
      : arch === 'amd64'
        ? PackagedProcess.spawn('relay', launcher(root, 'relay'), args, root)
        : PackagedProcess.spawn(
            'relay',
            'qemu-aarch64-static',
            // no execve under qemu without binfmt_misc: the memory settings given up front
            [
              join(tree, 'node/bin/node'),
              '--max-semi-space-size=2',
              join(tree, 'lib/dist/relay/cli.js'),
              ...args,
            ],
            root,
            { MALLOC_ARENA_MAX: '2' },
          );
  try {
    const started = await proc.waitLog((l) => l.msg === 'relay started', '"relay started"', 120_000);
    const port = portOf(started['metrics'], 'metrics');
    while ((await readyz(port)) !== 200) await new Promise((r) => setTimeout(r, 5));
    return performance.now() - t0;
  } finally {
    await proc.stop();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

for (const deb of allDebs(dir)) {
  const mb = statSync(deb).size / 1e6;
  const installed = Number(controlField(deb, 'Installed-Size')) / 1024;
  console.log(`${deb.split('/').pop()}: ${mb.toFixed(1)} MB, installed ${installed.toFixed(0)} MiB`);
}
const upstream = `ws://127.0.0.1:${await closedPort()}/owl/v1/uplink`;
for (const arch of ['amd64', 'arm64'] as const) {
  const deb = debOf('relay', arch, dir);
  if (deb === undefined) continue;
  const tmp = tempDir('owl-bench-start-');
  try {
    const root = join(tmp.path, 'root');
    extract(deb, root);
    const times: number[] = [];
    // Baseline, amd64: the repository's own build on this process's Node, alternated run by run.
    const repo: number[] = [];
    for (let i = 0; i < runs; i++) {
      times.push(await coldStart(root, arch, join(tmp.path, `state-${i}`), upstream));
      if (arch === 'amd64')
        repo.push(await coldStart(undefined, arch, join(tmp.path, `repo-${i}`), upstream));
    }
    const how =
      arch === 'amd64'
        ? 'native'
        : `qemu-aarch64 (${execFileSync('qemu-aarch64-static', ['--version'], { encoding: 'utf8' }).split('\n')[0]})`;
    console.log(
      `relay ${arch} cold start to /readyz 200, ${how}: median ${median(times).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms (${runs} runs)`,
    );
    if (repo.length > 0)
      console.log(
        `  baseline, the repository's dist/ on node ${process.version}: median ${median(repo).toFixed(0)} ms ` +
          `(package x${(median(times) / median(repo)).toFixed(2)})`,
      );
  } finally {
    tmp.remove();
  }
}
