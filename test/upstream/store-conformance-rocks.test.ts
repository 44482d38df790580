/** The SampleStore conformance suite (store-conformance.ts) against RocksSampleStore on the test's thread. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { RocksSampleStore } from '../../upstream/index.js';
import { MIN } from '../helpers/store-fixture.js';
import { storeConformance } from './store-conformance.js';

storeConformance(test, 'RocksSampleStore', async () => {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'owl-store-'));
  const location = path.join(root, 'store');
  return {
    open: (options = {}) => RocksSampleStore.open({ location, bucketMs: MIN, ...options }),
    flush: (store) => store.flush(),
    cleanup: () => fs.promises.rm(root, { recursive: true, force: true }),
  };
});
