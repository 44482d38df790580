/** Host port checks against real listeners that open and close during the test. */
import test from 'ava';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Limiter, PortWatch } from '../../relay/zone/index.js';
import { closedPort } from '../helpers/upstream-check.js';

async function listen(port = 0): Promise<Server> {
  const s = createServer((c) => c.destroy());
  s.listen(port, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

test('every check is a sample; a status change is reported once, when it happens', async (t) => {
  const server = await listen();
  const port = (server.address() as AddressInfo).port;
  const down = await closedPort();
  const watch = new PortWatch({ timeoutMs: 1000, concurrency: 4 });
  const ports = [
    { id: 1, ip: '127.0.0.1', port, proc_name: 'web', status: 0 },
    { id: 2, ip: '127.0.0.1', port: down, status: 0 },
  ];
  const first = await watch.round(ports);
  t.deepEqual(
    first.samples.filter((s) => s.metric === 'port.up').map((s) => [s.tags?.['port'], s.value]),
    [
      [String(port), 1],
      [String(down), 0],
    ],
  );
  t.true((first.samples.find((s) => s.metric === 'port.connectMs')?.value ?? -1) >= 0);
  t.deepEqual(
    first.changed,
    [{ id: 2, ip: '127.0.0.1', port: down, status: 1 }],
    'only the port that differs from the inventory',
  );
  t.deepEqual((await watch.round(ports)).changed, [], 'no change, nothing reported');

  server.close();
  await once(server, 'close');
  const closed = await watch.round(ports);
  t.deepEqual(
    closed.changed.map((p) => [p.port, p.status]),
    [[port, 1]],
  );
  t.deepEqual((await watch.round(ports)).changed, [], 'reported once');

  const again = await listen(port);
  t.teardown(() => again.close());
  const reopened = await watch.round(ports);
  t.deepEqual(
    reopened.changed.map((p) => [p.port, p.status]),
    [[port, 0]],
  );
});

test('a refused port is down at once, not after the timeout', async (t) => {
  const watch = new PortWatch({ timeoutMs: 5000, concurrency: 1 });
  const started = Date.now();
  const r = await watch.round([{ ip: '127.0.0.1', port: await closedPort(), status: 0 }]);
  t.is(r.samples[0]?.value, 0);
  t.true(Date.now() - started < 2000);
  t.is(r.samples.length, 1, 'no connect time for a port that is down');
});

test('the limiter runs at most max tasks at once, in arrival order', async (t) => {
  const limiter = new Limiter(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const gates: Array<() => void> = [];
  const tasks = [0, 1, 2, 3, 4].map((i) =>
    limiter.run(async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await new Promise<void>((resolve) => gates.push(resolve));
      running--;
    }),
  );
  while (order.length < 5) {
    await new Promise((r) => setImmediate(r));
    gates.shift()?.();
  }
  gates.forEach((g) => g());
  await Promise.all(tasks);
  t.is(peak, 2);
  t.deepEqual(order, [0, 1, 2, 3, 4]);
  t.deepEqual(limiter.load, { running: 0, waiting: 0 });
});
