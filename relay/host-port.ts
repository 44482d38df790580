import { InvalidArgumentError } from 'commander';

/** `127.0.0.1:7070` or `[::1]:7070` → host and port (a CLI argument parser for commander). */
export function parseHostPort(value: string): { host: string; port: number } {
  const at = value.lastIndexOf(':');
  const port = Number(value.slice(at + 1));
  if (at < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidArgumentError('expected HOST:PORT');
  return { host: value.slice(0, at).replace(/^\[|\]$/g, ''), port };
}
