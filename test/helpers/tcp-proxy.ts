/**
 * A TCP forwarder on 127.0.0.1 between a relay and its upstream, so a test
 * can keep the relay's upstream URL fixed while the upstream restarts on
 * another port, hold the door shut while it reads a restarted upstream's
 * figures, and cut the link silently.
 *
 * Modes, for connections accepted from now on:
 * - `forward`: connect to the target port and copy bytes both ways; an end
 *   on one side ends the other, a close or reset closes it (a killed
 *   upstream looks killed to the relay).
 * - `refuse`: close at once, as a port nobody listens on would (the relay
 *   sees its connect fail and backs off).
 * - `silent`: a partition. Connections already open stop carrying bytes in
 *   either direction (both sockets are paused: what each peer writes waits
 *   in the kernel, as behind a dead link), and a close or reset on one side
 *   is not passed to the other. New connections are accepted and held
 *   without a byte. Nothing is ever closed by the proxy itself.
 *
 * `setReplyDelay(ms)` holds every chunk from the target that long before it
 * reaches the client (a far relay: its HELLO reply comes late).
 * `setLinkRate(bytesPerSecond)` carries at most that many bytes a second each
 * way (a slow link: a chunk waits for the ones before it to have crossed).
 *
 * `heal()` ends a partition: held connections are closed (as connect
 * attempts that timed out), pairs whose side closed meanwhile are closed on
 * both sides, and the others carry on, with what was waiting.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

type Mode = 'forward' | 'refuse' | 'silent';

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  frozen: boolean;
  /** A side ended or failed while frozen: close both at heal. */
  brokenWhileFrozen: boolean;
}

export class TcpProxy {
  private mode: Mode = 'forward';
  private readonly pairs = new Set<Pair>();
  /** Connections accepted in `silent` mode, never connected on. */
  private readonly held = new Set<Socket>();
  accepted = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private target: number | undefined,
  ) {}

  static async start(target?: number): Promise<TcpProxy> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const proxy = new TcpProxy(server, port, target);
    server.on('connection', (socket) => proxy.onConnection(socket));
    return proxy;
  }

  /** Where new connections are forwarded. */
  setTarget(port: number): void {
    this.target = port;
  }

  /** New connections are forwarded to the target. */
  forward(): void {
    this.mode = 'forward';
  }

  /** New connections are closed at once. */
  refuse(): void {
    this.mode = 'refuse';
  }

  /** Stop carrying bytes, silently, on every open connection and on new ones. */
  cutSilently(): void {
    this.mode = 'silent';
    for (const p of this.pairs) {
      p.frozen = true;
      p.client.pause();
      p.upstream?.pause();
    }
  }

  /** End a partition (see the file comment) and forward again. */
  heal(): void {
    this.mode = 'forward';
    for (const s of this.held) s.destroy();
    this.held.clear();
    for (const p of this.pairs) {
      if (!p.frozen) continue;
      p.frozen = false;
      if (p.brokenWhileFrozen) {
        this.drop(p);
        continue;
      }
      p.client.resume();
      p.upstream?.resume();
    }
  }

  /** Pairs currently open. */
  get open(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    for (const s of this.held) s.destroy();
    for (const p of this.pairs) this.drop(p);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Delay bytes from the target to clients by `ms` (connections accepted from now on). */
  setReplyDelay(ms: number): void {
    this.replyDelayMs = ms;
  }

  private replyDelayMs = 0;

  /** Carry at most `bytesPerSecond` each way (connections accepted from now on; 0: no limit). */
  setLinkRate(bytesPerSecond: number): void {
    this.linkRate = bytesPerSecond;
  }

  private linkRate = 0;

  private onConnection(client: Socket): void {
    this.accepted++;
    client.on('error', () => undefined);
    if (this.mode === 'refuse' || this.target === undefined) {
      client.destroy();
      return;
    }
    if (this.mode === 'silent') {
      client.pause();
      this.held.add(client);
      client.on('close', () => this.held.delete(client));
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: this.target });
    const pair: Pair = { client, upstream, frozen: false, brokenWhileFrozen: false };
    this.pairs.add(pair);
    upstream.on('error', () => undefined);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const delay = this.replyDelayMs;
    const rate = this.linkRate;
    const copy = (from: Socket, to: Socket): void => {
      const later = from === upstream && delay > 0;
      if (rate > 0 && !later) return slowLink(pair, from, to, rate, () => this.drop(pair));
      from.on('data', (chunk: Buffer) => {
        if (later) {
          setTimeout(() => to.write(chunk), delay);
          return;
        }
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => {
            if (!pair.frozen) from.resume();
          });
        }
      });
      // An orderly end is passed on after the bytes before it; an abrupt close (kill, reset) at once.
      from.on('end', () => {
        if (pair.frozen) pair.brokenWhileFrozen = true;
        else if (later) setTimeout(() => to.end(), delay);
        else to.end();
      });
      from.on('close', () => {
        if (pair.frozen) pair.brokenWhileFrozen = true;
        else if (!to.writableEnded) this.drop(pair);
        else this.pairs.delete(pair);
      });
    };
    copy(client, upstream);
    copy(upstream, client);
  }

  private drop(p: Pair): void {
    this.pairs.delete(p);
    p.client.destroy();
    p.upstream?.destroy();
  }
}

/** Bytes queued on a slow link before its sender is paused. */
const SLOW_LINK_QUEUE = 256 * 1024;

/**
 * Copy `from` → `to` at `rate` bytes a second: chunks leave in order, each once the ones before
 * it have had their time on the link; the sender is paused while much waits. An end is passed
 * after the bytes before it.
 */
function slowLink(pair: Pair, from: Socket, to: Socket, rate: number, drop: () => void): void {
  const queue: (Buffer | null)[] = [];
  let queued = 0;
  let freeAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const pump = (): void => {
    timer = undefined;
    for (;;) {
      const head = queue[0];
      if (head === undefined) return;
      if (head === null) {
        queue.shift();
        to.end();
        return;
      }
      const wait = freeAt - Date.now();
      if (wait > 0) {
        timer = setTimeout(pump, wait);
        return;
      }
      queue.shift();
      queued -= head.length;
      freeAt = Math.max(freeAt, Date.now()) + (head.length / rate) * 1000;
      to.write(head);
      if (queued <= SLOW_LINK_QUEUE && !pair.frozen && from.isPaused()) from.resume();
    }
  };
  from.on('data', (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.length;
    if (queued > SLOW_LINK_QUEUE) from.pause();
    if (timer === undefined) pump();
  });
  let ended = false;
  from.on('end', () => {
    ended = true;
    queue.push(null);
    if (timer === undefined) pump();
  });
  // An abrupt close (kill, reset) is passed on at once, as on a fast link.
  from.on('close', () => {
    if (pair.frozen) pair.brokenWhileFrozen = true;
    else if (!ended) drop();
  });
  to.on('close', () => clearTimeout(timer));
}
