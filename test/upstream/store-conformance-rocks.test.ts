/** The SampleStore conformance suites (store-conformance.ts, store-forward-conformance.ts) against RocksSampleStore on the test's thread. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { RocksSampleStore } from '../../upstream/index.js';
import { MIN } from '../helpers/store-fixture.js';
import { storeConformance, type StoreHarnessFactory } from './store-conformance.js';
import { storeForwardConformance } from './store-forward-conformance.js';

const factory: StoreHarnessFactory<RocksSampleStore> = async () => {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'owl-store-'));
  const location = path.join(root, 'store');
  return {
    open: (options = {}) => RocksSampleStore.open({ location, bucketMs: MIN, ...options }),
    flush: (store) => store.flush(),
    cleanup: () => fs.promises.rm(root, { recursive: true, force: true }),
  };
};

storeConformance(test, 'RocksSampleStore', factory);
storeForwardConformance(test, 'RocksSampleStore', factory);
