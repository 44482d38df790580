/** Starting a worker module from source (under tsx) or from the build. */
import { Worker, type ResourceLimits } from 'node:worker_threads';

/**
 * Start the worker module `name` (no extension) that sits next to the module
 * at `moduleUrl` (the caller's import.meta.url). Run from source (under tsx)
 * that module is a .ts file, and Node 20 does not apply loaders given with
 * --import to worker threads, so the worker first registers tsx itself.
 * `resourceLimits` sizes the worker's V8 heap (absent: V8's defaults).
 */
export function startModuleWorker(
  moduleUrl: string,
  name: string,
  workerData: unknown,
  resourceLimits?: ResourceLimits,
): Worker {
  const limits = resourceLimits === undefined ? {} : { resourceLimits };
  if (!moduleUrl.endsWith('.ts')) {
    return new Worker(new URL(`./${name}.js`, moduleUrl), { workerData, ...limits });
  }
  const entry = JSON.stringify(new URL(`./${name}.ts`, moduleUrl).href);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const code = `import(${tsx}).then((api) => { api.register(); return import(${entry}); });`;
  return new Worker(code, { eval: true, workerData, ...limits });
}
