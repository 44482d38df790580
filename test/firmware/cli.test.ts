/**
 * `owl-firmware` as an operator runs it, real child processes: keygen → sign → verify → inspect,
 * JSON on stdout; each failure one line on stderr with its code and exit code 2, no stack trace.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sampleTree, scratch } from './fixture.js';

const CLI = fileURLToPath(new URL('../../firmware/cli.ts', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function owlFirmware(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { env, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function failedWith(t: ExecutionContext, run: Run, code: string, line: RegExp, what: string): void {
  t.is(run.code, 2, `${what}: exit code (${run.stderr})`);
  t.is(run.stdout, '', what);
  t.is(run.stderr.split('\n').length, 2, `${what}: one line: ${JSON.stringify(run.stderr)}`);
  t.true(run.stderr.startsWith('owl-firmware: '), what);
  t.true(run.stderr.trimEnd().endsWith(`[${code}]`), `${what}: ${run.stderr}`);
  t.regex(run.stderr, line, what);
  t.notRegex(run.stderr, /\n\s+at /, `${what}: no stack trace`);
}

test('keygen, sign, verify, inspect through the real CLI; refusals are one line and exit 2', async (t) => {
  const dir = scratch(t, 'owl-fw-cli-');
  const tree = sampleTree(join(dir, 'tree'));
  const keys = join(dir, 'keys');
  const bundle = join(dir, 'relay-2.0.0-amd64.owlfw');

  const keygen = await owlFirmware(['keygen', '--out', keys]);
  t.is(keygen.code, 0, keygen.stderr);
  const key = JSON.parse(keygen.stdout) as { keyId: string; privateKeyFile: string; publicKeyFile: string };
  t.regex(key.keyId, /^[0-9a-f]{16}$/);
  t.is(statSync(key.privateKeyFile).mode & 0o777, 0o600);

  const sign = await owlFirmware([
    'sign',
    '--key',
    key.privateKeyFile,
    '--program',
    'owl-relay',
    '--version',
    '2.0.0',
    '--arch',
    'amd64',
    '--min-version',
    '1.0.0',
    '--level',
    '3',
    '--out',
    bundle,
    tree,
  ]);
  t.is(sign.code, 0, sign.stderr);
  t.like(JSON.parse(sign.stdout), { file: bundle, program: 'owl-relay', version: '2.0.0', keyId: key.keyId });

  // A temp dir of its own, to see that verify leaves nothing behind in it.
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  const env = { ...process.env, TMPDIR: tmp };
  const stage = join(dir, 'staged');
  const [verify, staged, inspect, againKeygen, wrongArch, downgrade, badVersion, otherKey] =
    await Promise.all([
      owlFirmware(
        [
          'verify',
          '--pubkey',
          key.publicKeyFile,
          '--program',
          'owl-relay',
          '--arch',
          'amd64',
          '--running',
          '1.4.0',
          bundle,
        ],
        env,
      ),
      owlFirmware(['verify', '--pubkey', key.publicKeyFile, '--stage', stage, bundle]),
      owlFirmware(['inspect', bundle]),
      owlFirmware(['keygen', '--out', keys]),
      owlFirmware(['verify', '--pubkey', key.publicKeyFile, '--arch', 'arm64', bundle], env),
      owlFirmware(['verify', '--pubkey', key.publicKeyFile, '--running', '2.1.0', bundle], env),
      owlFirmware([
        'sign',
        '--key',
        key.privateKeyFile,
        '--program',
        'owl-relay',
        '--version',
        'latest',
        '--arch',
        'amd64',
        '--out',
        join(dir, 'x'),
        tree,
      ]),
      owlFirmware(['keygen', '--out', join(dir, 'other')]).then((o) =>
        owlFirmware(
          ['verify', '--pubkey', (JSON.parse(o.stdout) as { publicKeyFile: string }).publicKeyFile, bundle],
          env,
        ),
      ),
    ]);
  t.is(verify.code, 0, verify.stderr);
  t.like(JSON.parse(verify.stdout), {
    verified: true,
    program: 'owl-relay',
    version: '2.0.0',
    arch: 'amd64',
    minVersion: '1.0.0',
  });
  t.is(staged.code, 0, staged.stderr);
  t.true(existsSync(join(stage, 'bin/owl-relay')), '--stage keeps the tree');
  t.is(inspect.code, 0, inspect.stderr);
  t.like(JSON.parse(inspect.stdout), { verified: false, program: 'owl-relay', keyId: key.keyId });
  t.regex(inspect.stdout, /not verified/);
  failedWith(
    t,
    againKeygen,
    'OWL_ERR_FIRMWARE_KEY_EXISTS',
    /firmware-signing\.key exists already; it is never overwritten/,
    'keygen twice',
  );
  failedWith(
    t,
    wrongArch,
    'OWL_ERR_FIRMWARE_WRONG_ARCH',
    /the bundle is for amd64, this host is arm64/,
    'arch',
  );
  failedWith(
    t,
    downgrade,
    'OWL_ERR_FIRMWARE_DOWNGRADE',
    /2\.0\.0 is not newer than the running 2\.1\.0/,
    'downgrade',
  );
  failedWith(
    t,
    badVersion,
    'OWL_ERR_FIRMWARE_BAD_ARGUMENT',
    /version "latest" is not a semantic version/,
    'sign version',
  );
  failedWith(
    t,
    otherKey,
    'OWL_ERR_FIRMWARE_UNKNOWN_KEY',
    new RegExp(`signed with key ${key.keyId}, which is not pinned`),
    'other key',
  );
  const left = readdirSync(tmp).filter((name) => name.startsWith('owl-firmware-'));
  t.deepEqual(left, [], 'verify removed its temporary staging dirs');

  const usage = await owlFirmware(['verify', bundle]);
  t.is(usage.code, 2, 'a missing --pubkey is a usage error');
});
