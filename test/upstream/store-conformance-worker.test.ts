/** The SampleStore conformance suites (store-conformance.ts, store-forward-conformance.ts) against WorkerSampleStore: the same store in a worker thread. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { WorkerSampleStore } from '../../upstream/index.js';
import { MIN } from '../helpers/store-fixture.js';
import { storeConformance, type StoreHarnessFactory } from './store-conformance.js';
import { storeForwardConformance } from './store-forward-conformance.js';

const factory: StoreHarnessFactory<WorkerSampleStore> = async () => {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'owl-wstore-'));
  const location = path.join(root, 'store');
  return {
    open: (options = {}) => WorkerSampleStore.open({ location, bucketMs: MIN, ...options }),
    flush: (store) => store.flush(),
    cleanup: () => fs.promises.rm(root, { recursive: true, force: true }),
  };
};

storeConformance(test, 'WorkerSampleStore', factory);
storeForwardConformance(test, 'WorkerSampleStore', factory);
