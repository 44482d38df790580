/**
 * The chunk fetcher on real files, its relay played by the test: answers that are not what was
 * asked are asked again, a newer offer replaces a download (its request and its .part), and a
 * file whose sha256 is not the bundle id is deleted and refused as CORRUPT.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  ChunkFetcher,
  CORRUPT_CODE,
  type FwChunkReq,
  type OfferedBundle,
} from '../../agent/firmware/index.js';
import { SYSTEM_TIMERS } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import { tempDir } from '../helpers/relay-harness.js';

function bundleOf(bytes: Buffer, version = '1.1.0'): OfferedBundle {
  return { id: createHash('sha256').update(bytes).digest('hex'), version, size: bytes.length };
}

function rig(t: ExecutionContext) {
  const tmp = tempDir('owl-agent-fetch-');
  t.teardown(tmp.remove);
  const requests: FwChunkReq[] = [];
  const done: string[] = [];
  const failed: string[] = [];
  const fetcher = new ChunkFetcher({
    dir: join(tmp.path, 'firmware'),
    chunkBytes: 1000,
    timers: SYSTEM_TIMERS,
    send: (r) => (requests.push(r), true),
    done: (_b, file) => done.push(file),
    failed: (_b, code) => failed.push(code),
  });
  t.teardown(() => fetcher.cancel());
  return { dir: join(tmp.path, 'firmware'), requests, done, failed, fetcher };
}

/** Answer the last request from `bytes`, optionally altered. */
function answer(
  f: ChunkFetcher,
  r: FwChunkReq,
  bytes: Buffer,
  change: Partial<{ offset: number; id: number }> = {},
) {
  const data = bytes.subarray(r.offset, r.offset + r.length).toString('base64');
  f.onChunk({ id: r.id, bundle: r.bundle, offset: r.offset, data, ...change });
}

test('chunks not as asked are asked again; the file is byte-exact', async (t) => {
  const { requests, done, fetcher } = rig(t);
  const bytes = randomBytes(3500);
  await fetcher.start(bundleOf(bytes));
  fetcher.resume();
  t.is(requests.length, 1);
  answer(fetcher, requests[0]!, bytes, { id: 99 }); // a stray id: ignored, still in flight
  t.is(requests.length, 1);
  answer(fetcher, requests[0]!, bytes, { offset: 1 }); // not the offset asked: asked again
  t.is(requests.length, 2);
  t.is(requests[1]!.offset, 0);
  for (let i = 1; done.length === 0; i++) {
    await eventually(() => requests.length > i || done.length > 0, 5000, `request ${i}`);
    if (done.length === 0) answer(fetcher, requests[i]!, bytes);
  }
  t.deepEqual(
    requests.map((r) => [r.offset, r.length]),
    [
      [0, 1000],
      [0, 1000],
      [1000, 1000],
      [2000, 1000],
      [3000, 500],
    ],
  );
  t.deepEqual(readFileSync(done[0]!), bytes);
});

test('a newer offer replaces the download: its request in flight and its .part', async (t) => {
  const { dir, requests, fetcher } = rig(t);
  const a = randomBytes(3000);
  const b = randomBytes(2000);
  await fetcher.start(bundleOf(a));
  fetcher.resume();
  answer(fetcher, requests[0]!, a);
  await eventually(() => requests.length === 2, 5000, 'second request');
  await fetcher.start(bundleOf(b, '1.2.0'));
  t.is(requests.length, 3);
  t.like(requests[2], { bundle: bundleOf(b).id, offset: 0 });
  t.deepEqual(readdirSync(dir), [`${bundleOf(b).id}.part`]);
  answer(fetcher, requests[1]!, a); // the old bundle's late chunk: ignored
  t.is(fetcher.download?.bytes, 0);
});

test('a file whose sha256 is not the id is deleted and refused as CORRUPT', async (t) => {
  const { dir, requests, failed, done, fetcher } = rig(t);
  const bytes = randomBytes(1500);
  const claimed = { ...bundleOf(randomBytes(1500)) };
  await fetcher.start(claimed);
  fetcher.resume();
  answer(fetcher, requests[0]!, bytes);
  await eventually(() => requests.length === 2, 5000, 'second request');
  answer(fetcher, requests[1]!, bytes);
  await eventually(() => failed.length === 1, 5000, 'failed');
  t.deepEqual(failed, [CORRUPT_CODE]);
  t.deepEqual(done, []);
  t.false(existsSync(join(dir, `${claimed.id}.part`)));
  t.false(existsSync(join(dir, `${claimed.id}.owlfw`)));
});
