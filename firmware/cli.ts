#!/usr/bin/env node
/**
 * `owl-firmware keygen | sign | verify | inspect` (and `slots …`, firmware/slots/): the operator's
 * bundle tool (docs/firmware.md).
 * Results are JSON on stdout; a failure is one line on stderr (`owl-firmware: <why> [<code>]`)
 * and exit code 2, as the other CLIs; the stack trace only with --debug.
 */
import { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OWL_VERSION, OwlError } from '../protocol/index.js';
import { signBundle } from './bundle-write.js';
import { readManifest, verifyBundle } from './bundle-read.js';
import { generateKeys, loadPrivateKey, loadPublicKeys } from './keys.js';
import { ARCHES, PROGRAMS, type Arch, type Manifest, type Program } from './manifest.js';
import { slotCommands } from './slots/index.js';

const program = new Command('owl-firmware')
  .description('OWL firmware bundles: keys, signing, verification')
  .version(OWL_VERSION)
  .option('--debug', 'print the stack trace of a failure (before the command)')
  // Program options only before the command: `sign --version V` is the bundle's version.
  .enablePositionalOptions()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** Runs a command: its result as JSON on stdout, or one line on stderr and exit 2. */
function run<A extends unknown[]>(action: (...args: A) => Promise<unknown>): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      process.stdout.write(`${JSON.stringify(await action(...args), null, 2)}\n`);
    } catch (err) {
      const code = err instanceof OwlError ? ` [${err.code}]` : '';
      process.stderr.write(`owl-firmware: ${oneLine((err as Error).message ?? String(err))}${code}\n`);
      if (program.opts<{ debug?: boolean }>().debug === true)
        process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(2);
    }
  };
}

program
  .command('keygen')
  .description('make an Ed25519 signing key pair (private key mode 0600; never overwrites)')
  .requiredOption('--out <dir>', 'directory for firmware-signing.key and firmware-signing.pub')
  .action(run(async (flags: { out: string }) => generateKeys(flags.out)));

program
  .command('sign')
  .description('sign an installed package tree into a bundle')
  .argument('<tree>', 'the package tree, e.g. a staged /opt/owl/<program>')
  .requiredOption('--key <file>', 'private key (PEM)')
  .requiredOption('--program <program>', PROGRAMS.join(' | '))
  .requiredOption('--version <version>', 'semantic version of the tree')
  .requiredOption('--arch <arch>', ARCHES.join(' | '))
  .option('--min-version <version>', 'lowest running version that may install it', '0.0.0')
  .option('--level <n>', 'zstd level 1-19', (v) => Number(v), 19)
  .requiredOption('--out <file>', 'the bundle to write')
  .action(
    run(
      async (
        tree: string,
        f: {
          key: string;
          program: string;
          version: string;
          arch: string;
          minVersion: string;
          level: number;
          out: string;
        },
      ) => {
        const { manifest, bytes } = await signBundle({
          tree,
          out: f.out,
          key: loadPrivateKey(f.key),
          program: f.program,
          version: f.version,
          arch: f.arch,
          minVersion: f.minVersion,
          level: f.level,
        });
        return { file: f.out, bytes, ...summary(manifest) };
      },
    ),
  );

program
  .command('verify')
  .description('verify a bundle fully (signature, policy, every file) by unpacking it')
  .argument('<file>', 'the bundle')
  .requiredOption('--pubkey <file>', 'pinned public key (PEM); repeat for several', collect)
  .option('--program <program>', `refuse a bundle for another program (${PROGRAMS.join(' | ')})`)
  .option('--arch <arch>', `refuse a bundle for another architecture (${ARCHES.join(' | ')})`)
  .option('--running <version>', 'refuse a bundle that may not upgrade this version')
  .option('--allow-downgrade', 'accept a version not newer than --running')
  .option('--stage <dir>', 'unpack into this new directory and keep it (default: a temporary one, removed)')
  .action(
    run(
      async (
        file: string,
        f: {
          pubkey: string[];
          program?: string;
          arch?: string;
          running?: string;
          allowDowngrade?: boolean;
          stage?: string;
        },
      ) => {
        const keys = loadPublicKeys(f.pubkey);
        const tmp = f.stage === undefined ? await mkdtemp(join(tmpdir(), 'owl-firmware-verify-')) : undefined;
        try {
          const manifest = await verifyBundle(file, {
            keys,
            staging: f.stage ?? join(tmp!, 'tree'),
            ...(f.program === undefined ? {} : { program: f.program as Program }),
            ...(f.arch === undefined ? {} : { arch: f.arch as Arch }),
            ...(f.running === undefined ? {} : { running: f.running }),
            allowDowngrade: f.allowDowngrade === true,
            sync: f.stage !== undefined,
          });
          return {
            verified: true,
            ...summary(manifest),
            ...(f.stage === undefined ? {} : { staged: f.stage }),
          };
        } finally {
          if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
        }
      },
    ),
  );

program
  .command('inspect')
  .description("show a bundle's manifest WITHOUT checking its signature")
  .argument('<file>', 'the bundle')
  .option('--files', 'list every entry')
  .action(
    run(async (file: string, f: { files?: boolean }) => {
      const { manifest } = await readManifest(file);
      return {
        verified: false,
        note: 'not verified: the signature and the files were not checked (use verify)',
        ...summary(manifest),
        ...(f.files === true ? { files: manifest.files } : {}),
      };
    }),
  );

// `owl-firmware slots …`: the A/B slot steps by hand (firmware/slots/, docs/firmware-slots.md).
slotCommands(program);

function summary(m: Manifest): Record<string, unknown> {
  let bytes = 0;
  for (const e of m.files) if (e.type === 'file') bytes += e.size;
  return {
    program: m.program,
    version: m.version,
    arch: m.arch,
    minVersion: m.minVersion,
    createdAt: m.createdAt,
    keyId: m.keyId,
    entries: m.files.length,
    treeBytes: bytes,
    payloadBytes: m.payload.size,
  };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

await program.parseAsync(process.argv);
