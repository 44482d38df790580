/**
 * worker/: WorkerHost and HostPort with a tiny real worker (echo-worker.ts):
 * the calls of one turn travel in one message and their answers in one,
 * errors keep their class and code across, a dead worker fails every pending
 * and later call with the failure error, close and a failed open are no
 * failure.
 */
import test from 'ava';
import type { WireError } from '../../protocol/index.js';
import { errorRebuilder, WorkerHost, type Outgoing } from '../../worker/index.js';
import type { EchoCall, EchoInit } from './echo-worker.js';

const EchoCode = {
  REFUSED: 'ECHO_REFUSED',
  BAD_OPEN: 'ECHO_BAD_OPEN',
  DEAD: 'ECHO_DEAD',
  CLOSED: 'ECHO_CLOSED',
} as const;
type EchoCode = (typeof EchoCode)[keyof typeof EchoCode];

class EchoError extends Error {
  readonly retriable: boolean;
  constructor(
    readonly code: EchoCode,
    message: string,
    options: { retriable?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.retriable = options.retriable ?? false;
  }
}

const rebuild = errorRebuilder(EchoCode, (code, message, options) => new EchoError(code, message, options));

type Answer = { id: number; value: unknown } | { id: number; error: WireError };
type Event = { t: 'answers'; answers: Answer[] };

/** A host for echo-worker.ts that records what crossed. */
class Echo {
  readonly host: WorkerHost<EchoCall['op'], { name: string }, Event>;
  readonly failures: Error[] = [];
  /** The number of calls in each answers message received. */
  readonly answerMessages: number[] = [];
  opened: string | undefined;
  private calls: EchoCall[] = [];

  constructor(init: EchoInit = {}) {
    this.host = new WorkerHost({
      moduleUrl: import.meta.url,
      module: 'echo-worker',
      workerData: init,
      label: 'echo worker',
      failure: (message, cause) => new EchoError(EchoCode.DEAD, message, { retriable: true, cause }),
      closed: () => new EchoError(EchoCode.CLOSED, 'echo is closed'),
      rebuildError: errorRebuilder(
        EchoCode,
        (code, message, options) => new EchoError(code, message, options),
      ),
      takeCalls: () => this.takeCalls(),
      opened: (m) => (this.opened = m.name),
      message: (m) => this.answers(m),
      failed: (failure) => this.failures.push(failure),
    });
  }

  call<T>(op: EchoCall['op'], arg?: unknown): Promise<T> {
    return this.host.call<T>(op, (id) => this.calls.push({ id, op, arg }));
  }

  close(): Promise<void> {
    return this.host.close('close', (id) => this.calls.push({ id, op: 'close' }));
  }

  private takeCalls(): Outgoing | undefined {
    const calls = this.calls;
    this.calls = [];
    return calls.length === 0 ? undefined : { message: calls, transfer: [] };
  }

  private answers(m: Event): void {
    this.answerMessages.push(m.answers.length);
    for (const a of m.answers) {
      const p = this.host.take(a.id);
      if (!p) continue;
      if ('error' in a) p.reject(rebuild(a.error));
      else p.resolve(a.value);
    }
  }

  private rebuild = errorRebuilder(
    EchoCode,
    (code, message, options) => new EchoError(code, message, options),
  );
}

async function open(t: { teardown(fn: () => unknown): void }, init: EchoInit = {}): Promise<Echo> {
  const echo = new Echo(init);
  t.teardown(() => echo.close().catch(() => undefined));
  await echo.host.opened;
  return echo;
}

test('the calls of one turn go in one message, their answers in one; errors keep class and code', async (t) => {
  const echo = await open(t);
  t.is(echo.opened, 'echo', 'the handshake carried what the worker opened');
  const first = await Promise.all([echo.call('echo', 'a'), echo.call('echo', 'b'), echo.call('echo', 'c')]);
  t.deepEqual(first, [
    { message: 1, arg: 'a' },
    { message: 1, arg: 'b' },
    { message: 1, arg: 'c' },
  ]);
  t.deepEqual(echo.answerMessages, [3]);
  t.deepEqual(await echo.call('echo', 'd'), { message: 2, arg: 'd' }, 'a later turn: a message of its own');
  const err = await t.throwsAsync(echo.call('fail', 'no'), { instanceOf: EchoError, message: 'no' });
  t.is((err as EchoError).code, EchoCode.REFUSED);
  t.true((err as EchoError).retriable);
  t.deepEqual(echo.failures, []);
});

for (const op of ['exit', 'throw'] as const) {
  test(`a worker that dies (${op}) fails pending and later calls with the failure error, once`, async (t) => {
    const echo = await open(t);
    const pending = echo.call('hang');
    const dying = echo.call(op);
    const results = await Promise.allSettled([pending, dying]);
    const failure = echo.failures[0];
    t.true(failure instanceof EchoError);
    t.is((failure as EchoError).code, EchoCode.DEAD);
    t.true((failure as EchoError).retriable);
    t.regex(failure!.message, op === 'exit' ? /^echo worker failed: .*exited with code 7/ : /crashed/);
    for (const r of results) t.deepEqual(r, { status: 'rejected', reason: failure });
    await t.throwsAsync(echo.call('echo'), { is: failure });
    await t.notThrowsAsync(echo.close(), 'nothing left to close');
    await t.throwsAsync(echo.call('echo'), { instanceOf: EchoError, message: 'echo is closed' });
    t.is(echo.failures.length, 1);
  });
}

test('close waits for pending calls, sends the close call, stops the worker: no failure', async (t) => {
  const echo = await open(t);
  const before = echo.call<{ arg: unknown }>('echo', 'before');
  const closed = echo.close();
  await t.throwsAsync(echo.call('echo'), { instanceOf: EchoError, message: 'echo is closed' });
  t.deepEqual((await before).arg, 'before');
  await closed;
  t.is(echo.close(), closed, 'idempotent');
  t.deepEqual(echo.failures, [], 'terminate on close is no failure');
});

test('a killed worker is a failure: pending calls reject with it', async (t) => {
  const echo = await open(t);
  const pending = echo.call('hang');
  await echo.host.kill();
  await t.throwsAsync(pending, { instanceOf: EchoError, message: /echo worker failed/ });
  t.is(echo.failures.length, 1);
});

test('an open that fails in the worker rejects open with its error, rebuilt; the worker ends as no failure', async (t) => {
  const echo = new Echo({ failOpen: EchoCode.BAD_OPEN });
  const err = await t.throwsAsync(echo.host.opened, { instanceOf: EchoError, message: 'refused to open' });
  t.is((err as EchoError).code, EchoCode.BAD_OPEN);
  await t.throwsAsync(echo.call('echo'), { is: err }, 'later calls get the same error');
  t.deepEqual(echo.failures, []);
});
