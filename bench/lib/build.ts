/**
 * The relay as production runs it: JavaScript, not TypeScript compiled on
 * the fly. Under tsx the relay process also holds the TypeScript sources,
 * their transforms and source maps, about 25-30 MiB of RSS a production relay
 * (`npm run build`, `node dist/relay/cli.js`) does not have, which the memory
 * figures must not count. So the benches transpile the relay's folders once
 * per run (TypeScript's transpileModule, file by file, as `tsc` emits them;
 * about 3 s) into a temp dir next to a link to node_modules, and run
 * bench/lib/relay-main.js from there. `--relay-source` runs it under tsx
 * instead, as before.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Folders the relay process loads (bench/lib/child.ts imports test/helpers/watched-process.ts). */
const FOLDERS = ['protocol', 'rocks', 'worker', 'relay', 'bench/lib', 'test/helpers'];

/** Transpile the relay's folders into `outDir`; returns the path of bench/lib/relay-main.js there. */
export function buildRelay(outDir: string): string {
  buildFolders(outDir, FOLDERS);
  return path.join(outDir, 'bench', 'lib', 'relay-main.js');
}

/** Transpile `folders` of the repo into `outDir`, beside a link to node_modules, as `tsc` would emit them. */
export function buildFolders(outDir: string, folders: readonly string[]): void {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    verbatimModuleSyntax: true,
  };
  for (const folder of folders) transpileFolder(folder, outDir, options);
  fs.writeFileSync(path.join(outDir, 'package.json'), JSON.stringify({ type: 'module' }));
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(outDir, 'node_modules'), 'dir');
}

function transpileFolder(folder: string, outDir: string, options: ts.CompilerOptions): void {
  for (const e of fs.readdirSync(path.join(REPO_ROOT, folder), { withFileTypes: true })) {
    const rel = path.join(folder, e.name);
    if (e.isDirectory()) {
      transpileFolder(rel, outDir, options);
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
      const source = fs.readFileSync(path.join(REPO_ROOT, rel), 'utf8');
      const { outputText } = ts.transpileModule(source, { compilerOptions: options, fileName: rel });
      const out = path.join(outDir, rel.replace(/\.ts$/, '.js'));
      fs.mkdirSync(path.dirname(out), { recursive: true });
      fs.writeFileSync(out, outputText);
    }
  }
}
