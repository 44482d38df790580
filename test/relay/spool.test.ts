import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { MemorySpool, openRocksSpool, WorkerSpool } from '../../relay/index.js';
import { spoolConformance } from './spool-conformance.js';

spoolConformance(test, 'RocksSpool', async () => {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'owl-spool-'));
  const dir = path.join(root, 'spool');
  return {
    durable: true,
    open: (options = {}) => openRocksSpool({ dir, ...options }),
    cleanup: () => fs.promises.rm(root, { recursive: true, force: true }),
  };
});

// The same RocksSpool in a worker thread: the clock (fake ones too) is read on
// this side and passed with every call.
spoolConformance(test, 'WorkerSpool', async () => {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'owl-spool-'));
  const dir = path.join(root, 'spool');
  return {
    durable: true,
    open: (options = {}) => WorkerSpool.open({ dir, ...options }),
    cleanup: () => fs.promises.rm(root, { recursive: true, force: true }),
  };
});

spoolConformance(test, 'MemorySpool', async () => ({
  durable: false,
  open: async (options = {}) => new MemorySpool(options),
  cleanup: async () => undefined,
}));
