/**
 * A tiny service for host.test.ts, run by HostPort: each call answers with
 * its argument and the number of the message it came in, so a test sees which
 * calls travelled together. Some calls end the thread, as a crash would.
 */
import { HostPort } from '../../worker/index.js';

export interface EchoInit {
  /** Fail the open with this code. */
  failOpen?: string;
}

export interface EchoCall {
  id: number;
  op: 'echo' | 'fail' | 'hang' | 'exit' | 'throw' | 'close';
  arg?: unknown;
}

const port = new HostPort<EchoInit>('echo-worker');
let messages = 0;

function run(c: EchoCall): Promise<unknown> {
  switch (c.op) {
    case 'echo':
    case 'close':
      return Promise.resolve({ message: messages, arg: c.arg });
    case 'fail':
      return Promise.reject(
        Object.assign(new Error(String(c.arg)), { code: 'ECHO_REFUSED', retriable: true }),
      );
    case 'hang':
      return new Promise<never>(() => {});
    case 'exit':
      process.exit(7);
    // falls through: exit does not return
    case 'throw':
      setImmediate(() => {
        throw new Error('echo worker crashed');
      });
      return new Promise<never>(() => {});
  }
}

await port.serve(
  () => {
    const { failOpen } = port.init;
    if (failOpen === undefined) return Promise.resolve('echo');
    return Promise.reject(Object.assign(new Error('refused to open'), { code: failOpen }));
  },
  (name) => ({
    opened: { name },
    service: {
      decode: (data) => {
        messages++;
        return data as EchoCall[];
      },
      run,
      answers: (settled) => ({
        message: {
          t: 'answers',
          answers: settled.map((s) =>
            'error' in s ? { id: s.call.id, error: s.error } : { id: s.call.id, value: s.value },
          ),
        },
        transfer: [],
      }),
    },
  }),
);
