/**
 * Where a service's `plugin` is on disk: strictly inside the local plugin
 * directory. The agent never writes plugins (config can only name what an
 * administrator installed), so a name that is absolute, has a `..` segment,
 * or resolves (through symlinks) outside the directory is refused.
 */
import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';

export class PluginPathError extends Error {
  override name = 'PluginPathError';
}

/** The real path of `plugin` inside `pluginDir`, checked to be an executable regular file there. */
export async function resolvePluginPath(pluginDir: string, plugin: string): Promise<string> {
  if (plugin === '' || plugin.includes('\u0000')) throw new PluginPathError('invalid plugin name');
  if (isAbsolute(plugin))
    throw new PluginPathError(`plugin must be a path inside the plugin directory: ${plugin}`);
  if (plugin.split('/').includes('..'))
    throw new PluginPathError(`plugin path may not contain '..': ${plugin}`);
  const dir = await realpath(pluginDir);
  const prefix = dir.endsWith(sep) ? dir : dir + sep;
  let real: string;
  try {
    real = await realpath(join(dir, plugin));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PluginPathError(
      code === 'ENOENT' ? `plugin not found: ${plugin}` : `plugin ${plugin}: ${code}`,
    );
  }
  // The realpath check catches symlinks (of the file or of a folder on the way) that leave the directory.
  if (!real.startsWith(prefix))
    throw new PluginPathError(`plugin resolves outside the plugin directory: ${plugin}`);
  if (!(await stat(real)).isFile()) throw new PluginPathError(`plugin is not a regular file: ${plugin}`);
  try {
    await access(real, constants.X_OK);
  } catch {
    throw new PluginPathError(`plugin is not executable: ${plugin}`);
  }
  return real;
}
