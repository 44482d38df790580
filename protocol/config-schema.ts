/**
 * Config files of the relay and the upstream: JSON parsed with the line and column of a syntax
 * error, and checked against a JSON schema (Ajv) with one-line messages naming each bad key in
 * the agent's style (agent/config-check.ts): `upstream.json: retentionDayz: unknown key (did you
 * mean retentionDays?)`, `relayWindow: must be an integer from 1 to 65535, not 0`.
 * Messages only: each program wraps them in its own coded error.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { closest } from './closest-key.js';

/** A subset of JSON schema: what the config schemas use and what the messages describe. */
export interface ConfigSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, ConfigSchema>;
  additionalProperties?: boolean | ConfigSchema;
  required?: readonly string[];
  items?: ConfigSchema;
  minItems?: number;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  pattern?: string;
  enum?: readonly (string | number)[];
}

/** Checks a value: undefined when it passes, else every problem on one line (`a: …; b.c: …`). */
export type ConfigCheck = (value: unknown) => string | undefined;

export function compileConfigSchema(schema: ConfigSchema): ConfigCheck {
  // verbose: each error carries the failing value and the schema it failed, for the message.
  const validate = new Ajv({ allErrors: true, verbose: true }).compile(schema);
  return (value) => {
    if (validate(value)) return undefined;
    const lines = (validate.errors ?? []).map(describeError);
    return [...new Set(lines)].join('; ');
  };
}

/** JSON text parsed, or the reason it is not JSON with the line and column where it broke. */
export function parseConfigJson(text: string): { value: unknown } | { problem: string } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    // V8 quotes the text around the error, newlines and all: kept on one line.
    const message = (err as Error).message.replace(/\r?\n/g, '\\n');
    if (/line \d+ column \d+/.test(message)) return { problem: `not JSON: ${message}` };
    // "Unexpected end of JSON input" says no place: it is the end of the text.
    const lines = text.split('\n');
    const where = `line ${lines.length} column ${(lines.at(-1) ?? '').length + 1}`;
    return { problem: `not JSON: ${message} (${where})` };
  }
}

function describeError(e: ErrorObject): string {
  const path = dotted(e.instancePath);
  const at = (key: string): string => (path === '' ? key : `${path}.${key}`);
  if (e.keyword === 'additionalProperties') {
    const key = String((e.params as { additionalProperty: string }).additionalProperty);
    const known = Object.keys((e.parentSchema as ConfigSchema | undefined)?.properties ?? {});
    const near = closest(key, known);
    return `${at(key)}: unknown key${near === undefined ? '' : ` (did you mean ${near}?)`}`;
  }
  if (e.keyword === 'required') {
    return `${at(String((e.params as { missingProperty: string }).missingProperty))}: required`;
  }
  const schema = (e.parentSchema ?? {}) as ConfigSchema;
  return `${path === '' ? 'the config' : path}: must be ${describe(schema)}, not ${JSON.stringify(e.data)}`;
}

/** `/listen/0/port` as `listen[0].port`. */
function dotted(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out === '' ? part : `.${part}`;
  }
  return out;
}

/** What a value must be, in words. */
function describe(s: ConfigSchema): string {
  if (s.enum !== undefined) return `one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  switch (s.type) {
    case 'integer':
    case 'number': {
      const what = s.type === 'integer' ? 'an integer' : 'a number';
      if (s.minimum !== undefined && s.maximum !== undefined)
        return `${what} from ${s.minimum} to ${s.maximum}`;
      if (s.minimum !== undefined) return `${what} >= ${s.minimum}`;
      return s.maximum !== undefined ? `${what} <= ${s.maximum}` : what;
    }
    case 'string':
      if (s.pattern !== undefined) return `a string matching ${s.pattern}`;
      return s.minLength !== undefined && s.minLength > 0 ? 'a non-empty string' : 'a string';
    case 'boolean':
      return 'true or false';
    case 'array':
      return s.minItems !== undefined && s.minItems > 0 ? `an array of at least ${s.minItems}` : 'an array';
    case 'object':
      return 'an object';
    default:
      return 'valid';
  }
}
