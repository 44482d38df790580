/** Plugins: running the local plugin directory's executables on schedule and reading their output. */
export { ArgsError, joinArgs, quoteArg, splitArgs } from './args.js';
export { parsePluginOutput, snippet, type PluginSample } from './output.js';
export {
  PluginHost,
  DEFAULT_TIMEOUT_MS,
  type PluginHostOptions,
  type RunOutcome,
  type ServiceStatus,
} from './plugin-host.js';
export { PluginPathError, resolvePluginPath } from './plugin-path.js';
export { runPlugin, type PluginRunResult } from './run-plugin.js';
export { Scheduler, type JobInfo, type JobSpec } from './scheduler.js';
