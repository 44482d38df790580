/**
 * The paced fetcher on a fake clock: exactly t*(1-share)/share between a chunk's arrival and the
 * next request, never two requests in flight, a request lost with its link asked again after the
 * reconnect from the .part size, a stale answer ignored. Real files (BundleCache on a temp dir).
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BundleCache, PacedFetcher, type FetchOutcome } from '../../relay/firmware/index.js';
import type { UplinkFirmwareChunkReq } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { scratch } from './firmware-fixture.js';

test('waits t*(1-share)/share after each chunk, one request in flight, resumes after a reconnect', async (t) => {
  const cache = new BundleCache(scratch(t));
  const bytes = randomBytes(10 * 1000);
  const bundle = createHash('sha256').update(bytes).digest('hex');
  const timers = new FakeTimers();
  const sent: Array<UplinkFirmwareChunkReq & { at: number }> = [];
  const fetcher = new PacedFetcher({
    cache,
    timers,
    share: 0.25,
    chunkBytes: 1000,
    send: (req) => {
      sent.push({ ...req, at: timers.now() });
      return true;
    },
  });
  fetcher.setConnected(true);
  let outcome: FetchOutcome | undefined;
  void fetcher
    .fetch({ bundle, size: bytes.length, version: '2.0.0', program: 'owl-agent' })
    .then((o) => (outcome = o));
  await eventually(() => sent.length === 1, 5000, 'the first request');
  const answer = (req: UplinkFirmwareChunkReq): void =>
    fetcher.chunk({
      id: req.id,
      offset: req.offset,
      data: bytes.subarray(req.offset, req.offset + req.length),
    });

  // The chunk takes 100 ms: the next request waits 300 ms more (share 0.25), not a moment less.
  timers.advance(100);
  answer(sent[0] as UplinkFirmwareChunkReq);
  await eventually(() => timers.pending === 1, 5000, 'the pause scheduled');
  timers.advance(299);
  t.is(sent.length, 1, 'no request before the pause ends');
  timers.advance(1);
  t.is(sent.length, 2);
  t.is(sent[1]?.offset, 1000);
  t.is((sent[1]?.at as number) - (sent[0]?.at as number), 400);

  // The link drops with request 2 in flight; its late answer is ignored; after the reconnect the
  // same range is asked again.
  fetcher.setConnected(false);
  answer(sent[1] as UplinkFirmwareChunkReq);
  t.is(fetcher.progress?.bytes, 1000);
  fetcher.setConnected(true);
  t.is(sent.length, 3);
  t.is(sent[2]?.offset, 1000);
  t.not(sent[2]?.id, sent[1]?.id);

  // The rest at once (t = 0: no pause), one at a time.
  for (let i = 2; ; i++) {
    const req = sent[i] as UplinkFirmwareChunkReq;
    answer(req);
    if (req.offset + req.length >= bytes.length) break;
    await eventually(() => sent.length === i + 2 || timers.pending > 0, 5000, `request ${i + 1}`);
    timers.advance(0);
    t.is(sent.length, i + 2, 'one request in flight at most');
  }
  await eventually(() => outcome !== undefined, 5000, 'the fetch complete');
  t.deepEqual(outcome, { kind: 'complete' });
  t.deepEqual(readFileSync(cache.path(bundle)), bytes);
  t.is(fetcher.requestedBytes, bytes.length + 1000, 'only the lost chunk asked twice');
});
