/** What the sample-store tests share: a bucket of a minute, a start time, temp dirs, points, coded rejections. */
import type { ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { StorePoint } from '../../upstream/index.js';

export const MIN = 60_000;
export const T0 = Date.UTC(2026, 0, 1);

/** A fresh temp dir, removed when the test ends. */
export async function tempDir(t: ExecutionContext, prefix = 'owl-store-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function pt(
  metric: string,
  tags: Record<string, string>,
  timestampMs: number,
  value: number,
): StorePoint {
  return { metric, tags, timestampMs, value };
}

export interface Coded {
  code?: string;
  retriable?: boolean;
  message?: string;
}

/** Assert that `p` rejects with `code`; returns the error. */
export async function rejectsWith(t: ExecutionContext, p: Promise<unknown>, code: string): Promise<Coded> {
  const err = await t.throwsAsync(p);
  t.is((err as Coded | undefined)?.code, code, String(err));
  return err as Coded;
}
