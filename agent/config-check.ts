/**
 * A small schema checker for the agent's JSON config: types, ranges, enums,
 * required keys, and no unknown keys, each failure one line naming the file
 * and the key (`agent.json: buffer.maxBytez: unknown key (did you mean
 * maxBytes?)`). Not Ajv: Ajv costs 11 MiB of RSS on load (measured on Node
 * 24), a fifth of what the agent may use on a host, to check one small file
 * once at start.
 */
import { closest } from '../protocol/wire/index.js';

export type Rule =
  | { type: 'string'; minLength?: number; enum?: readonly string[] }
  | { type: 'integer' | 'number'; min?: number; max?: number }
  | { type: 'boolean' }
  | { type: 'array'; items: Rule; minItems?: number }
  | { type: 'object'; props: Record<string, Rule>; required?: readonly string[] }
  | { type: 'record'; values: Rule }
  | { type: 'oneOf'; rules: readonly Rule[]; describe: string };

export { ConfigError } from './errors.js';

function describe(rule: Rule): string {
  switch (rule.type) {
    case 'string':
      return rule.enum ? `one of ${rule.enum.map((e) => JSON.stringify(e)).join(', ')}` : 'a string';
    case 'integer':
    case 'number': {
      const what = rule.type === 'integer' ? 'an integer' : 'a number';
      if (rule.min !== undefined && rule.max !== undefined) return `${what} from ${rule.min} to ${rule.max}`;
      if (rule.min !== undefined) return `${what} >= ${rule.min}`;
      return rule.max !== undefined ? `${what} <= ${rule.max}` : what;
    }
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'an array';
    case 'object':
    case 'record':
      return 'an object';
    case 'oneOf':
      return rule.describe;
  }
}

/** The error message for `value` at `path`, or undefined when it passes. */
export function check(value: unknown, rule: Rule, path: string): string | undefined {
  const fail = (): string =>
    `${path || 'the config'}: must be ${describe(rule)}, not ${JSON.stringify(value)}`;
  switch (rule.type) {
    case 'string':
      if (typeof value !== 'string' || value.length < (rule.minLength ?? 0)) return fail();
      return rule.enum && !rule.enum.includes(value) ? fail() : undefined;
    case 'integer':
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return fail();
      if (rule.type === 'integer' && !Number.isInteger(value)) return fail();
      return (rule.min !== undefined && value < rule.min) || (rule.max !== undefined && value > rule.max)
        ? fail()
        : undefined;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : fail();
    case 'array':
      if (!Array.isArray(value) || value.length < (rule.minItems ?? 0)) return fail();
      for (const [i, item] of value.entries()) {
        const err = check(item, rule.items, `${path}[${i}]`);
        if (err) return err;
      }
      return undefined;
    case 'object':
      return checkObject(value, rule, path) ?? undefined;
    case 'record':
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail();
      for (const [k, v] of Object.entries(value)) {
        const err = check(v, rule.values, path ? `${path}.${k}` : k);
        if (err) return err;
      }
      return undefined;
    case 'oneOf':
      return rule.rules.some((r) => check(value, r, path) === undefined) ? undefined : fail();
  }
}

function checkObject(
  value: unknown,
  rule: Extract<Rule, { type: 'object' }>,
  path: string,
): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `${path || 'the config'}: must be an object`;
  }
  const at = (key: string): string => (path ? `${path}.${key}` : key);
  for (const [key, v] of Object.entries(value)) {
    const sub = rule.props[key];
    if (!sub) {
      const near = closest(key, Object.keys(rule.props));
      return `${at(key)}: unknown key${near ? ` (did you mean ${near}?)` : ''}`;
    }
    const err = check(v, sub, at(key));
    if (err) return err;
  }
  for (const key of rule.required ?? []) if (!(key in value)) return `${at(key)}: required`;
  return undefined;
}
